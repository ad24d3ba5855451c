//! A torn last line: what a crash (or a full disk) in the middle of an
//! append leaves at the end of `audit.jsonl`. An append returns only after
//! its whole line is synced, so a line without its newline was never
//! acknowledged. Before the next append, such a fragment is set aside in
//! `audit.torn` and cut from the log — or, when it is a complete entry that
//! only lacks its newline and chains to the entry before it, completed —
//! so the new entry starts on its own line, takes the next sequence number
//! and chains to the last complete entry. The cut is itself audited.

use super::entry::AuditEntry;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// What was done to a torn last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Repair {
    /// A whole entry lacked only its newline; it was kept.
    Completed,
    /// Acknowledged bytes were cut from the log (tampering, not a crash):
    /// the broken line was closed and left for `verify` to report.
    Kept,
    /// `bytes` of an incomplete line were cut and kept in `kept_in`.
    Cut { bytes: u64, kept_in: String },
}

/// The offset just past the last newline before `end` (0 if none).
fn line_start(file: &mut File, end: u64) -> std::io::Result<u64> {
    let mut at = end;
    let mut buf = vec![0u8; 4096];
    while at > 0 {
        let from = at.saturating_sub(buf.len() as u64);
        let n = (at - from) as usize;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(from + i as u64 + 1);
        }
        at = from;
    }
    Ok(0)
}

fn read_range(file: &mut File, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; (to - from) as usize];
    file.seek(SeekFrom::Start(from))?;
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Repairs the end of the log open in `file` (locked by the caller), if
/// its last line is torn. `acknowledged` is the length the head file
/// records: bytes below it were acknowledged, so a "torn" line there is a
/// cut, not a crash — it is only closed with a newline and stays in the
/// log, where `verify` keeps reporting it.
pub(super) fn repair_tail(
    log: &Path,
    file: &mut File,
    acknowledged: Option<u64>,
) -> std::io::Result<Option<Repair>> {
    let len = file.metadata()?.len();
    if len == 0 || read_range(file, len - 1, len)? == b"\n" {
        return Ok(None);
    }
    let start = line_start(file, len)?;
    if acknowledged.is_some_and(|acked| acked > start) {
        file.write_all(b"\n")?;
        file.sync_data()?;
        return Ok(Some(Repair::Kept));
    }
    let fragment = read_range(file, start, len)?;
    if let Ok(entry) = serde_json::from_slice::<AuditEntry>(&fragment)
        && entry.hash == entry.compute_hash()
    {
        let previous = if start == 0 {
            None
        } else {
            let before = line_start(file, start - 1)?;
            let line = read_range(file, before, start - 1)?;
            serde_json::from_slice::<AuditEntry>(&line).ok()
        };
        let chains = match &previous {
            Some(p) => entry.seq == p.seq + 1 && entry.prev == p.hash,
            None => entry.seq == 1 && entry.prev == super::GENESIS,
        };
        if chains {
            file.write_all(b"\n")?;
            file.sync_data()?;
            return Ok(Some(Repair::Completed));
        }
    }
    let kept = log.with_extension("torn");
    let mut aside = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&kept)?;
    aside.write_all(&fragment)?;
    aside.write_all(b"\n")?;
    aside.sync_data()?;
    file.set_len(start)?;
    file.sync_data()?;
    Ok(Some(Repair::Cut {
        bytes: len - start,
        kept_in: kept
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }))
}
