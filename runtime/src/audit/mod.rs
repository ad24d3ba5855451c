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

pub mod checkpoint;
mod entry;
pub mod export;
mod export_html;
pub mod export_verify;
pub(crate) mod file_positions;
pub(crate) mod file_tail;
pub mod forward;
pub mod keys;
mod torn;
mod turn;
pub(crate) mod verify;

pub use entry::{AuditEntry, AuditEvent, AuditKind};
pub use verify::{Problem, VerifyReport};

use crate::wait::Wait as _;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Hash that comes before the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Head {
    seq: u64,
    hash: String,
    len: u64,
}

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log file could not be opened, locked, written, synced or read.
    #[error("audit log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A networked backend failed.
    #[error("audit backend: {0}")]
    Backend(String),
    /// The blocking task that ran the call did not finish.
    #[error("audit log: the call did not complete: {0}")]
    Interrupted(String),
}

/// Where audit entries are kept: the seam a shared database plugs into.
/// Every call is async; the file log does its I/O off the caller's thread.
/// Its futures must make progress without the caller's runtime (see
/// `warden_runtime::wait`): sync code may wait on them from a worker.
#[async_trait::async_trait]
pub trait AuditBackend: Send + Sync {
    /// Appends `event` durably (written and synced before it returns),
    /// chained to the entry before it; returns the entry as written.
    async fn append(&self, event: AuditEvent) -> Result<AuditEntry, AuditError>;
    /// Every entry, and the verification of the same read.
    async fn read(&self) -> Result<(Vec<AuditEntry>, VerifyReport), AuditError>;
    /// A number that changes whenever an entry is appended (the file's
    /// length, for the file log), so a reader can tell it has seen all.
    async fn revision(&self) -> Result<u64, AuditError>;
    /// Where the log is, for messages (a path, a database URL).
    fn location(&self) -> String;
    /// Up to `limit` entries with seq above `after`, in order: what a
    /// forwarder sends next (`crate::audit::forward`).
    async fn entries_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError>;
    /// The seq of the last entry (0: the log is empty).
    async fn last_seq(&self) -> Result<u64, AuditError>;
    /// The last entry the sink `sink` delivered (`None`: none yet). Kept
    /// with the log, so every node of a cluster sees the same position.
    async fn forwarded(&self, sink: &str) -> Result<Option<forward::Position>, AuditError>;
    /// Records that `sink` delivered every entry up to `at`; a position
    /// never moves back.
    async fn set_forwarded(&self, sink: &str, at: &forward::Position) -> Result<(), AuditError>;

    /// Every entry, in order. Lines that do not parse are skipped; use
    /// [`AuditBackend::verify`] to find them.
    async fn entries(&self) -> Result<Vec<AuditEntry>, AuditError> {
        Ok(self.read().await?.0)
    }

    /// Checks the whole chain and the head; reports the first problem.
    async fn verify(&self) -> Result<VerifyReport, AuditError> {
        Ok(self.read().await?.1)
    }
}

impl dyn AuditBackend + '_ {
    /// [`AuditBackend::append`], waited for: for code that is not async
    /// (a CLI command, a kill under its file lock). The I/O still runs off
    /// the thread when there is a runtime.
    pub fn append_blocking(&self, event: AuditEvent) -> Result<AuditEntry, AuditError> {
        self.append(event).wait()
    }

    /// [`AuditBackend::read`], waited for.
    pub fn read_blocking(&self) -> Result<(Vec<AuditEntry>, VerifyReport), AuditError> {
        self.read().wait()
    }
}

/// The audit log of the data directory `data_dir` (`audit.jsonl`).
pub fn open(data_dir: &Path) -> std::sync::Arc<dyn AuditBackend> {
    std::sync::Arc::new(AuditLog::new(data_dir.join("audit.jsonl")))
}

/// The audit log `platform` keeps: in PostgreSQL under `[state] backend =
/// "postgres"`, on `pg` when the caller has its pool already; else the
/// data directory's file.
///
/// # Errors
/// The PostgreSQL settings are unusable.
pub fn open_for(
    platform: &crate::config::PlatformConfig,
    data_dir: &Path,
    pg: Option<&std::sync::Arc<crate::state::postgres::Postgres>>,
) -> anyhow::Result<std::sync::Arc<dyn AuditBackend>> {
    use crate::state::postgres::audit::PgAudit;
    if platform.state.backend != crate::config::state::Backend::Postgres {
        return Ok(open(data_dir));
    }
    let pg = match pg {
        Some(pg) => pg.clone(),
        None => match crate::state::postgres::shared(platform)? {
            Some(pg) => pg,
            None => return Ok(open(data_dir)),
        },
    };
    let location = format!("{} (audit_log)", pg.location());
    Ok(std::sync::Arc::new(PgAudit::new(pg, location)))
}

/// The embedded audit log: `audit.jsonl` and its `audit.head`.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    path: PathBuf,
    /// Where recent [`AuditBackend::entries_after`] calls ended.
    tail: file_tail::Hints,
}

#[async_trait::async_trait]
impl AuditBackend for AuditLog {
    async fn append(&self, event: AuditEvent) -> Result<AuditEntry, AuditError> {
        let log = self.clone();
        self.off_thread(move || log.append_now(event)).await
    }

    async fn read(&self) -> Result<(Vec<AuditEntry>, VerifyReport), AuditError> {
        let log = self.clone();
        self.off_thread(move || log.read_now()).await
    }

    async fn revision(&self) -> Result<u64, AuditError> {
        let path = self.path.clone();
        self.off_thread(move || match std::fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        })
        .await
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn entries_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let (path, tail) = (self.path.clone(), self.tail.clone());
        self.off_thread(move || file_tail::entries_after(&path, &tail, after, limit))
            .await
    }

    async fn last_seq(&self) -> Result<u64, AuditError> {
        let log = self.clone();
        self.off_thread(move || {
            let mut file = match File::open(&log.path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(e),
            };
            let len = file.metadata()?.len();
            match log.read_head() {
                Some(head) if head.len == len => Ok(head.seq),
                _ => Ok(last_entry(&mut file)?.map_or(0, |e| e.seq)),
            }
        })
        .await
    }

    async fn forwarded(&self, sink: &str) -> Result<Option<forward::Position>, AuditError> {
        let (path, sink) = (self.path.clone(), sink.to_string());
        self.off_thread(move || file_positions::get(&path, &sink))
            .await
    }

    async fn set_forwarded(&self, sink: &str, at: &forward::Position) -> Result<(), AuditError> {
        let (path, sink, at) = (self.path.clone(), sink.to_string(), at.clone());
        self.off_thread(move || file_positions::set(&path, &sink, &at))
            .await
    }
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        AuditLog {
            path,
            tail: file_tail::Hints::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs file work off the caller's thread, naming the file in errors.
    async fn off_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, AuditError> {
        warden_host_apis::sqlite::off_thread(work)
            .await
            .map_err(AuditError::Interrupted)?
            .map_err(|source| AuditError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn head_path(&self) -> PathBuf {
        self.path.with_extension("head")
    }

    /// Appends `event`, returning the entry as written (blocking).
    fn append_now(&self, event: AuditEvent) -> std::io::Result<AuditEntry> {
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

    /// Entries and the verification of the same read of the file
    /// (blocking).
    fn read_now(&self) -> std::io::Result<(Vec<AuditEntry>, VerifyReport)> {
        let text = self.text()?;
        Ok((parse_entries(&text), self.check(&text)))
    }

    fn check(&self, text: &str) -> VerifyReport {
        let head = self.read_head().map(|h| (h.seq, h.hash));
        verify::verify(text, head)
    }
}

pub(crate) fn parse_entries(text: &str) -> Vec<AuditEntry> {
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
