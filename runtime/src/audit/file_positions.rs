//! Where each audit sink stands, for the file log: `audit.forward.json`
//! beside `audit.jsonl`, `{"<sink>": {"seq": 41, "hash": "…"}}` — the last
//! entry the sink's receiver took, and its hash, so a forwarder that
//! starts again can tell the log still holds that entry as it was sent
//! (see `crate::audit::forward`).

use super::forward::Position;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The positions file beside the log at `log`.
pub(crate) fn path(log: &Path) -> PathBuf {
    log.with_extension("forward.json")
}

/// Serializes the read-modify-write of the file among the sinks of one
/// process (only the host holding the lease forwards).
static WRITING: Mutex<()> = Mutex::new(());

/// Every sink's position beside the log at `log`.
///
/// # Errors
/// The file cannot be read, or is not a map of positions.
pub(crate) fn all(log: &Path) -> std::io::Result<BTreeMap<String, Position>> {
    let file = path(log);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a map of sink positions: {e}", file.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// Where sink `name` stands (`None`: it has delivered nothing yet).
pub(crate) fn get(log: &Path, name: &str) -> std::io::Result<Option<Position>> {
    Ok(all(log)?.remove(name))
}

/// Records that sink `name` delivered up to `at` (never moves back).
pub(crate) fn set(log: &Path, name: &str, at: &Position) -> std::io::Result<()> {
    let _one = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    let mut positions = all(log)?;
    if positions.get(name).is_some_and(|p| p.seq >= at.seq) {
        return Ok(());
    }
    positions.insert(name.to_string(), at.clone());
    let json = serde_json::to_vec_pretty(&positions).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomically(&path(log), &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_persist_per_sink_and_never_move_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let log = dir.path().join("audit.jsonl");
        let at = |seq: u64| Position {
            seq,
            hash: format!("h{seq}"),
            at: None,
        };
        let seq_of = |name| {
            get(&log, name)
                .unwrap_or_else(|e| unreachable!("{e}"))
                .map(|p| p.seq)
        };
        assert_eq!(seq_of("siem"), None);
        for (name, seq) in [("siem", 7), ("hook", 2), ("siem", 5)] {
            set(&log, name, &at(seq)).unwrap_or_else(|e| unreachable!("{e}"));
        }
        assert_eq!(
            (seq_of("siem"), seq_of("hook"), seq_of("other")),
            (Some(7), Some(2), None)
        );
        assert_eq!(
            get(&log, "siem").ok().flatten().map(|p| p.hash),
            Some("h7".into())
        );
        std::fs::write(path(&log), "not json").unwrap_or_else(|e| unreachable!("{e}"));
        let err = get(&log, "siem").err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("audit.forward.json")),
            "{err:?}"
        );
    }
}
