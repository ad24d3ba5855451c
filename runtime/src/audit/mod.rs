//! The append-only, hash-chained audit log.
//!
//! Every governance event (deploy, approval, grant, kill, policy denial,
//! quota breach, ...) is one JSON line in `audit.jsonl` in the data
//! directory. Each entry carries a sequence number, the SHA-256 of the entry
//! before it (`prev`) and its own hash over `prev` and its content, so
//! editing, deleting or reordering any entry breaks the chain at that entry.
//! A small `audit.head` file records the last sequence number, hash and file
//! length, so deleting entries at the *end* is caught too.
//!
//! Durability: an append returns only after the line is written and synced;
//! appends from several processes are serialized with an exclusive file
//! lock. If a crash lands between the append and the head update, the next
//! append notices the head is stale and rebuilds it from the file; if it
//! lands inside an append, the torn last line is set aside and the cut
//! audited before the next entry (see [`torn`]).

mod entry;
mod torn;
mod verify;

pub use entry::{AuditEntry, AuditEvent, AuditKind};
pub use verify::{Problem, VerifyReport};

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Hash that comes before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Head {
    seq: u64,
    hash: String,
    len: u64,
}

pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        AuditLog { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn head_path(&self) -> PathBuf {
        self.path.with_extension("head")
    }

    /// Appends `event`, returning the entry as written.
    pub fn append(&self, event: AuditEvent) -> std::io::Result<AuditEntry> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)?;
        file.lock()?;
        let result = self.append_locked(&mut file, event);
        let _ = file.unlock();
        result
    }

    /// Repairs a torn last line (recording the cut), then appends `event`.
    fn append_locked(&self, file: &mut File, event: AuditEvent) -> std::io::Result<AuditEntry> {
        let acknowledged = self.read_head().map(|h| h.len);
        if let Some(torn::Repair::Cut { bytes, kept_in }) =
            torn::repair_tail(&self.path, file, acknowledged)?
        {
            self.append_entry(
                file,
                AuditEvent {
                    kind: crate::audit::AuditKind::AuditRepaired,
                    app: None,
                    actor: "warden".into(),
                    details: serde_json::json!({
                        "cut_bytes": bytes,
                        "kept_in": kept_in,
                        "why": "an incomplete last line (a write cut short) was set aside",
                    }),
                },
            )?;
        }
        self.append_entry(file, event)
    }

    fn append_entry(&self, file: &mut File, event: AuditEvent) -> std::io::Result<AuditEntry> {
        let len = file.metadata()?.len();
        let (seq, prev) = match self.read_head() {
            Some(head) if head.len == len => (head.seq, head.hash),
            _ => last_entry(file)?
                .map(|e| (e.seq, e.hash))
                .unwrap_or((0, GENESIS.into())),
        };
        let entry = AuditEntry::seal(seq + 1, prev, event);
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_data()?;
        self.write_head(&Head {
            seq: entry.seq,
            hash: entry.hash.clone(),
            len: len + line.len() as u64,
        })?;
        Ok(entry)
    }

    fn read_head(&self) -> Option<Head> {
        let text = std::fs::read_to_string(self.head_path()).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_head(&self, head: &Head) -> std::io::Result<()> {
        let json = serde_json::to_vec(head).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomically(&self.head_path(), &json)
    }

    fn text(&self) -> std::io::Result<String> {
        match std::fs::read_to_string(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            other => other,
        }
    }

    /// All entries, in file order. Lines that do not parse are skipped;
    /// use [`AuditLog::verify`] to find them.
    pub fn entries(&self) -> std::io::Result<Vec<AuditEntry>> {
        Ok(parse_entries(&self.text()?))
    }

    /// Checks the whole chain and the head; reports the first problem.
    pub fn verify(&self) -> std::io::Result<VerifyReport> {
        Ok(self.check(&self.text()?))
    }

    /// Entries and the verification of the same read of the file.
    pub fn read(&self) -> std::io::Result<(Vec<AuditEntry>, VerifyReport)> {
        let text = self.text()?;
        Ok((parse_entries(&text), self.check(&text)))
    }

    fn check(&self, text: &str) -> VerifyReport {
        let head = self.read_head().map(|h| (h.seq, h.hash));
        verify::verify(text, head)
    }
}

fn parse_entries(text: &str) -> Vec<AuditEntry> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Reads the last complete entry by scanning backwards from the end.
fn last_entry(file: &mut File) -> std::io::Result<Option<AuditEntry>> {
    let len = file.metadata()?.len();
    let mut window = 4096u64;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        let text = String::from_utf8_lossy(&buf);
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if start > 0 && !lines.is_empty() {
            lines.remove(0); // may be a partial line
        }
        // The last line that is an entry: a broken line left for verify
        // to report does not restart the chain.
        if let Some(entry) = lines
            .iter()
            .rev()
            .find_map(|l| serde_json::from_str::<AuditEntry>(l).ok())
        {
            return Ok(Some(entry));
        }
        if start == 0 {
            return Ok(None);
        }
        window *= 4;
    }
}

#[cfg(test)]
mod tests;
