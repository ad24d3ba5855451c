//! The app's own files, as every step of a build sees them: its folder
//! without build output, dependencies or hidden folders, and without
//! following symlinked folders (a loop cannot recurse).

use std::path::{Path, PathBuf};

/// Folders of an app that are not its source.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || matches!(name, "target" | "node_modules" | "__pycache__")
}

/// Every file under `dir`, relative to it, in sorted order.
pub fn app_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if skipped(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => walk(root, &path, found),
            Ok(_) => found.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf()),
            Err(_) => {}
        }
    }
}
