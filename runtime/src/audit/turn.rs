//! Signers of checkpoints take turns. Two signers at once would both
//! follow the same checkpoint, and the second would then not link to the
//! first: `audit verify` would call a sound chain rewritten. So a signer
//! holds, while it reads the log, signs and appends:
//!
//! - in this process, a mutex (a host's timer, its shutdown, an export
//!   through its admin API);
//! - on a data directory, the lock file `audit.sign.lock` (a host and a
//!   `warden audit` command);
//! - among nodes sharing a PostgreSQL database, a session advisory lock
//!   on a connection of its own (an export through any node's admin API
//!   and the lease holder's timer). The server releases it when the
//!   connection ends, so a node that dies holding it blocks no one.

use super::AuditError;
use crate::state::postgres::Postgres;
use crate::wait::Wait as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One signer at a time in this process.
pub(super) static SIGNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Key of the nodes' advisory lock ("wardnsig").
const SIGN_LOCK: i64 = 0x7761_7264_6e73_6967;

/// What a signer holds while it signs: see the module's text.
pub struct Turn {
    file: PathBuf,
    shared: Option<Arc<Postgres>>,
}

impl Turn {
    /// Turns on `data_dir`, and among the nodes of `shared` if given.
    pub fn new(data_dir: &Path, shared: Option<Arc<Postgres>>) -> Turn {
        Turn {
            file: data_dir.join("audit.sign.lock"),
            shared,
        }
    }

    /// The turns of `runtime`'s data directory and database.
    pub fn of(runtime: &crate::runtime::Runtime) -> Turn {
        Turn::new(runtime.data_dir(), runtime.shared().cloned())
    }

    /// Runs `work` in this signer's turn (blocking until it comes).
    ///
    /// # Errors
    /// A lock cannot be taken (the lock file, or the database within its
    /// statement timeout), or what `work` returns.
    pub(super) fn take<T>(
        &self,
        work: impl FnOnce() -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        crate::fsutil::update_locked(&self.file, || {
            let _cluster = match &self.shared {
                None => None,
                Some(pg) => Some(pg.session_lock(SIGN_LOCK).wait().map_err(|e| {
                    std::io::Error::other(AuditError::Backend(format!(
                        "the nodes' signing lock cannot be taken: {e}"
                    )))
                })?),
            };
            work().map_err(std::io::Error::other)
        })
        .map_err(unwrap_audit)
    }
}

/// The audit error a lock's I/O error carries, or the I/O error itself.
fn unwrap_audit(e: std::io::Error) -> AuditError {
    let text = e.to_string();
    match e.into_inner().map(|inner| inner.downcast::<AuditError>()) {
        Some(Ok(audit)) => *audit,
        _ => AuditError::Backend(text),
    }
}
