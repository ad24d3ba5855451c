//! Files shared between threads, processes and crashes: replacing one so
//! that a crash leaves either the old or the new content, never half of
//! one, and read-modify-write cycles that never lose a concurrent writer's
//! change.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The content of `path`, created with `fresh()` if it does not exist yet.
/// Processes creating it at once agree on one content: a new file is
/// linked into place only if none is there yet, so no one ever reads
/// another's half-written file or replaces what another made.
///
/// # Errors
/// `path` cannot be read or created.
pub fn read_or_create(
    path: &Path,
    fresh: impl Fn() -> std::io::Result<Vec<u8>>,
) -> std::io::Result<Vec<u8>> {
    static CREATES: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    for _ in 0..50 {
        match std::fs::read(path) {
            Ok(bytes) => return Ok(bytes),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        let n = CREATES.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}-{name}", std::process::id()));
        std::fs::write(&tmp, fresh()?)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "{} could not be read or created",
        path.display()
    )))
}

/// Writes `data` to a temporary sibling of `path` (unique to this process
/// and call), syncs it, renames it over `path` and syncs the directory, so
/// that once this returns the new content survives a crash. Creates the
/// parent directory if needed.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".tmp-{}-{n}-{name}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, data)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename itself is durable only once the directory is synced.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The lock file that guards `path`.
fn lock_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.lock"))
}

/// Runs `update` — a read-modify-write of `path` — holding an exclusive
/// lock on a sibling lock file, so concurrent updates from any thread or
/// process take turns and none is lost.
pub fn update_locked<T>(
    path: &Path,
    update: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(path))?;
    lock.lock()?;
    let result = update();
    let _ = lock.unlock();
    result
}

/// Entries of `dir` (and `dir` itself) that users other than the owner may
/// read or write, with their modes: what a start-up check warns about.
pub fn not_private(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    let mut loose = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map(|e| e.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    for path in std::iter::once(dir.to_path_buf()).chain(entries) {
        if let Some(m) = mode(&path)
            && m & 0o077 != 0
        {
            loose.push((path, m));
        }
    }
    loose
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_read_modify_writes_lose_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.path().join("list.json");
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    update_locked(&path, || {
                        let mut list: Vec<u32> = std::fs::read(&path)
                            .ok()
                            .and_then(|b| serde_json::from_slice(&b).ok())
                            .unwrap_or_default();
                        list.push(i);
                        let json = serde_json::to_vec(&list).map_err(std::io::Error::other)?;
                        write_atomically(&path, &json)
                    })
                })
            })
            .collect();
        for t in threads {
            assert!(matches!(t.join(), Ok(Ok(()))));
        }
        let mut list: Vec<u32> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        list.sort();
        assert_eq!(list, (0..16).collect::<Vec<_>>());
    }
}
