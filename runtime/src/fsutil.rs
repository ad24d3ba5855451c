//! Replacing a file so that a crash leaves either the old or the new
//! content, never half of one.

use std::path::Path;

/// Writes `data` to a temporary sibling of `path`, then renames it over
/// `path`. Creates the parent directory if needed.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}
