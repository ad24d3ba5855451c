//! The sealed secrets on disk: one JSON map, replaced atomically.

use super::{Sealed, SecretError};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;

pub(super) fn read(path: &Path) -> Result<BTreeMap<String, Sealed>, SecretError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(SecretError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_str(&text).map_err(|e| SecretError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Read-modify-write under an exclusive lock on a sibling lock file.
pub(super) fn update<T>(
    path: &Path,
    f: impl FnOnce(&mut BTreeMap<String, Sealed>) -> Result<T, SecretError>,
) -> Result<T, SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.with_extension("lock"))
        .map_err(io)?;
    lock.lock().map_err(io)?;
    let mut all = read(path)?;
    let result = f(&mut all)?;
    let text = serde_json::to_vec_pretty(&all).map_err(|e| SecretError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    super::crypto::write_private(&tmp, &text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    let _ = lock.unlock();
    Ok(result)
}
