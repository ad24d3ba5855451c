//! Reading the file log from a position on: what `crate::audit::forward`
//! asks of the embedded log, again and again, for the entries after the
//! last one a sink delivered.
//!
//! Scanning `audit.jsonl` from the start each time would cost O(log) per
//! batch, so the log remembers where recent reads ended ([`Hints`]: the
//! seq of the entry read last and the byte just after its line, a few of
//! them, so sinks at different places each find theirs) and the next read
//! after that seq starts there. A hint that no longer fits the file (cut
//! or rewritten) is not used, and the read starts from the beginning.

use super::AuditEntry;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Where recent reads ended: (the seq of the entry read last, the byte
/// offset just after its line), newest last.
pub(crate) type Hints = Arc<Mutex<Vec<(u64, u64)>>>;

/// Most hints kept: one per sink, and a few for lag reports.
const HINTS: usize = 16;

/// Up to `limit` entries with seq above `after`, in file order. Only
/// complete lines are read (a line being written is left for later);
/// lines that do not parse are skipped (`audit verify` reports them).
pub(crate) fn entries_after(
    path: &Path,
    hints: &Hints,
    after: u64,
    limit: usize,
) -> std::io::Result<Vec<AuditEntry>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let known = hints
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .rev()
        .find(|(seq, _)| *seq == after)
        .map(|(_, offset)| *offset);
    if let Some(offset) = known
        && offset <= len
        && let Some((entries, end)) = read(&mut file, offset, after, limit, true)?
    {
        remember(hints, &entries, after, end);
        return Ok(entries);
    }
    match read(&mut file, 0, after, limit, false)? {
        Some((entries, end)) => {
            remember(hints, &entries, after, end);
            Ok(entries)
        }
        None => Ok(Vec::new()),
    }
}

fn remember(hints: &Hints, entries: &[AuditEntry], after: u64, end: Option<u64>) {
    let Some(end) = end else { return };
    let seq = entries.last().map_or(after, |e| e.seq);
    let mut hints = hints.lock().unwrap_or_else(|p| p.into_inner());
    hints.retain(|(s, _)| *s != seq && *s != after);
    hints.push((seq, end));
    if hints.len() > HINTS {
        hints.remove(0);
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
        let hints = Hints::default();
        let read = |after, limit| {
            entries_after(log.path(), &hints, after, limit).unwrap_or_else(|e| unreachable!("{e}"))
        };
        assert_eq!(seqs(&read(0, 4)), vec![1, 2, 3, 4]);
        assert_eq!(seqs(&read(4, 4)), vec![5, 6, 7, 8]);
        // Asked again from an earlier seq (a failed send): read from the start.
        assert_eq!(seqs(&read(6, 2)), vec![7, 8]);
        assert_eq!(seqs(&read(8, 100)), vec![9, 10]);
        assert_eq!(seqs(&read(10, 100)), Vec::<u64>::new());
        // A hint past the end of a file that was cut is not trusted.
        *hints.lock().unwrap_or_else(|p| p.into_inner()) = vec![(10, 1 << 40)];
        assert_eq!(seqs(&read(10, 5)), Vec::<u64>::new());
        *hints.lock().unwrap_or_else(|p| p.into_inner()) = vec![(3, 7)];
        assert_eq!(seqs(&read(3, 2)), vec![4, 5]);
    }

    #[test]
    fn a_line_still_being_written_is_left_for_later() {
        let (_dir, log) = log_with(2);
        let mut text = std::fs::read_to_string(log.path()).unwrap_or_default();
        text.push_str("{\"seq\":3,\"ti");
        std::fs::write(log.path(), text).unwrap_or_else(|e| unreachable!("{e}"));
        let got = entries_after(log.path(), &Hints::default(), 0, 10).unwrap_or_default();
        assert_eq!(seqs(&got), vec![1, 2]);
    }
}
