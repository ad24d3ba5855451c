//! Reading the file log from a position on, and keeping the forwarding
//! positions of `[[audit.sinks]]` next to it (`audit.forward.json`): what
//! `crate::audit::forward` needs from the embedded log.
//!
//! A forwarder asks, again and again, for the entries after the last one
//! it delivered. Scanning `audit.jsonl` from the start each time would
//! cost O(log) per batch, so the log remembers where the last read ended
//! (a [`Hint`]: that entry's seq and the byte just after its line) and
//! the next read for that seq starts there. A hint that no longer fits
//! the file (the file was cut or rewritten) is dropped and the read
//! starts from the beginning.

use super::AuditEntry;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where the last read ended: (the seq of the entry read last, the byte
/// offset just after its line).
pub(crate) type Hint = Arc<Mutex<Option<(u64, u64)>>>;

/// Up to `limit` entries with seq above `after`, in file order. Only
/// complete lines are read (a line being written is left for later);
/// lines that do not parse are skipped (`audit verify` reports them).
pub(crate) fn entries_after(
    path: &Path,
    hint: &Hint,
    after: u64,
    limit: usize,
) -> std::io::Result<Vec<AuditEntry>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let known = *hint.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((seq, offset)) = known
        && seq == after
        && offset <= len
        && let Some((entries, end)) = read(&mut file, offset, after, limit, true)?
    {
        remember(hint, &entries, after, end);
        return Ok(entries);
    }
    match read(&mut file, 0, after, limit, false)? {
        Some((entries, end)) => {
            remember(hint, &entries, after, end);
            Ok(entries)
        }
        None => Ok(Vec::new()),
    }
}

fn remember(hint: &Hint, entries: &[AuditEntry], after: u64, end: Option<u64>) {
    if let Some(end) = end {
        let seq = entries.last().map_or(after, |e| e.seq);
        *hint.lock().unwrap_or_else(|p| p.into_inner()) = Some((seq, end));
    }
}

/// Reads from `offset`; `None` when `strict` and the line there is not
/// the entry after `after` (the hint does not fit). Also returns the
/// offset just after the last entry returned, or after the entry `after`
/// when none is (when it was seen).
#[allow(clippy::type_complexity)]
fn read(
    file: &mut File,
    offset: u64,
    after: u64,
    limit: usize,
    strict: bool,
) -> std::io::Result<Option<(Vec<AuditEntry>, Option<u64>)>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut position = offset;
    let mut end = strict.then_some(offset);
    let mut line = Vec::new();
    let mut first = true;
    while entries.len() < limit {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break; // the end, or a line still being written
        }
        position += n as u64;
        let parsed = serde_json::from_slice::<AuditEntry>(&line).ok();
        if strict && first && parsed.as_ref().is_none_or(|e| e.seq != after + 1) {
            return Ok(None);
        }
        first = false;
        let Some(entry) = parsed else { continue };
        if entry.seq == after {
            end = Some(position);
        }
        if entry.seq > after {
            entries.push(entry);
            end = Some(position);
        }
    }
    Ok(Some((entries, end)))
}

/// The forwarding positions file beside the log at `log`.
pub(crate) fn positions_path(log: &Path) -> PathBuf {
    log.with_extension("forward.json")
}

/// Serializes the read-modify-write of the positions file among sinks of
/// one process (only the host holding the lease forwards).
static POSITIONS: Mutex<()> = Mutex::new(());

/// Every sink's position beside the log at `log`.
pub(crate) fn positions(log: &Path) -> std::io::Result<BTreeMap<String, u64>> {
    read_positions(&positions_path(log))
}

fn read_positions(path: &Path) -> std::io::Result<BTreeMap<String, u64>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a map of sink positions: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// The last seq sink `name` delivered (0: none).
pub(crate) fn position(log: &Path, name: &str) -> std::io::Result<u64> {
    Ok(read_positions(&positions_path(log))?
        .get(name)
        .copied()
        .unwrap_or(0))
}

/// Records that sink `name` delivered up to `seq` (never moves back).
pub(crate) fn set_position(log: &Path, name: &str, seq: u64) -> std::io::Result<()> {
    let _one = POSITIONS.lock().unwrap_or_else(|p| p.into_inner());
    let path = positions_path(log);
    let mut all = read_positions(&path)?;
    let slot = all.entry(name.to_string()).or_insert(0);
    if *slot >= seq {
        return Ok(());
    }
    *slot = seq;
    let json = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomically(&path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEvent, AuditKind, AuditLog};

    fn log_with(n: u64) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let log = AuditLog::new(dir.path().join("audit.jsonl"));
        for i in 0..n {
            log.append_now(AuditEvent {
                kind: AuditKind::ConfigChanged,
                app: None,
                actor: "test".into(),
                details: serde_json::json!({ "i": i }),
            })
            .unwrap_or_else(|e| unreachable!("{e}"));
        }
        (dir, log)
    }

    fn seqs(entries: &[AuditEntry]) -> Vec<u64> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn reads_go_on_where_the_last_ended_and_survive_a_stale_hint() {
        let (_dir, log) = log_with(10);
        let hint = Hint::default();
        let read = |after, limit| {
            entries_after(log.path(), &hint, after, limit).unwrap_or_else(|e| unreachable!("{e}"))
        };
        assert_eq!(seqs(&read(0, 4)), vec![1, 2, 3, 4]);
        assert_eq!(seqs(&read(4, 4)), vec![5, 6, 7, 8]);
        // Asked again from an earlier seq (a failed send): read from the start.
        assert_eq!(seqs(&read(6, 2)), vec![7, 8]);
        assert_eq!(seqs(&read(8, 100)), vec![9, 10]);
        assert_eq!(seqs(&read(10, 100)), Vec::<u64>::new());
        // A hint past the end of a file that was cut is not trusted.
        *hint.lock().unwrap_or_else(|p| p.into_inner()) = Some((10, 1 << 40));
        assert_eq!(seqs(&read(10, 5)), Vec::<u64>::new());
        *hint.lock().unwrap_or_else(|p| p.into_inner()) = Some((3, 7));
        assert_eq!(seqs(&read(3, 2)), vec![4, 5]);
    }

    #[test]
    fn a_line_still_being_written_is_left_for_later() {
        let (_dir, log) = log_with(2);
        let mut text = std::fs::read_to_string(log.path()).unwrap_or_default();
        text.push_str("{\"seq\":3,\"ti");
        std::fs::write(log.path(), text).unwrap_or_else(|e| unreachable!("{e}"));
        let got = entries_after(log.path(), &Hint::default(), 0, 10).unwrap_or_default();
        assert_eq!(seqs(&got), vec![1, 2]);
    }

    #[test]
    fn positions_persist_per_sink_and_never_move_back() {
        let (_dir, log) = log_with(0);
        let at = |name| position(log.path(), name).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(at("siem"), 0);
        set_position(log.path(), "siem", 7).unwrap_or_else(|e| unreachable!("{e}"));
        set_position(log.path(), "hook", 2).unwrap_or_else(|e| unreachable!("{e}"));
        set_position(log.path(), "siem", 5).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((at("siem"), at("hook"), at("other")), (7, 2, 0));
        std::fs::write(positions_path(log.path()), "not json")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let err = position(log.path(), "siem").err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("audit.forward.json")),
            "{err:?}"
        );
    }
}
