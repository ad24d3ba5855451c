//! `warden state copy`: moves a single node's embedded state (the SQLite
//! files and the files beside them in its data directory) into the
//! PostgreSQL database several nodes will share.
//!
//! What moves, unchanged: the registry (every version with its review
//! state and history, the manifests as sent, the components, quota
//! overrides, templates, attestations), approvals (they are the
//! registry's review state and history), the audit chain (each entry's
//! exact line, so its hashes still hold, and the head), classified storage
//! (rows still sealed, each app's wrapped data key, expiry times, totals),
//! usage counters and quota leases, the last two days of SLO tallies,
//! secrets (still sealed), the DLP token salt (sealed), tokens (only
//! their hashes) and kill switches. The one change is the stored manifest
//! of each version: its component is named by the path every node's copy
//! shares (`../../components/<sha256>.wasm`), and its recorded digest is
//! that text's.
//!
//! The copy refuses, writing no state, when a host still serves the data
//! directory (the copy would miss its later writes), when the source audit
//! chain does not verify or a stored file a version needs is not what was
//! recorded (a copy must not launder a cut), when the target is sealed
//! under another master key, holds state already or has a node connected:
//! everything (the master key's check included) is written in one
//! transaction, after a check that every shared table is empty. Only the
//! schema may be created before a refusal from the target. After
//! the commit the copy appends `state.copied` to the chain and verifies the
//! whole chain in the database.

mod source;
mod target;

use crate::config::PlatformConfig;
use crate::config::state::StateSettings;
use crate::state::postgres::{PgError, Postgres};
use crate::wait::Wait as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A value of one column of one row, for PostgreSQL.
pub(crate) type Cell = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

/// Rows for one shared table, in its column order.
pub(crate) struct Table {
    pub name: &'static str,
    /// `(column, type)` in the order of each row's cells.
    pub columns: &'static [(&'static str, tokio_postgres::types::Type)],
    pub rows: Vec<Vec<Cell>>,
}

/// Everything a data directory holds that nodes share.
pub(crate) struct Snapshot {
    /// In the order they are written (the registry's history after its
    /// deploys).
    pub tables: Vec<Table>,
    /// The audit chain's last sequence number and hash (0 and the
    /// genesis hash when it is empty).
    pub audit_head: (i64, String),
    /// Files left out, each with why (an upload no deploy names whose
    /// bytes are not its digest's).
    pub skipped: Vec<String>,
}

/// What the copy moved, for the operator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    /// Where from (the data directory) and where to (no credentials).
    pub from: PathBuf,
    pub to: String,
    /// Rows per shared table, in the order written.
    pub rows: Vec<(String, usize)>,
    /// Files left out, each with why.
    pub skipped: Vec<String>,
    /// Entries in the shared chain after the copy (the copied ones and
    /// `state.copied`), all verified.
    pub audit_entries: u64,
}

/// Why nothing (or, after the commit, not everything) was done.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The data directory cannot be copied as it is: a host serves it, a
    /// file is unreadable or not what was recorded, its chain is broken.
    #[error("{0}")]
    Source(String),
    /// The target holds state already; nothing was written.
    #[error(
        "the target database already holds Warden state ({0}); nothing was copied\n  fix: copy into a new, empty database (`createdb`), before any node has served from it"
    )]
    TargetNotEmpty(String),
    /// The target cannot be reached, refused the schema or failed.
    #[error("{0}")]
    Target(#[from] PgError),
    /// The copy committed, but the chain in the database does not verify.
    #[error(
        "the copy committed, but the audit chain in the database does not verify: {0}\n  fix: do not start nodes on this database; drop it, check the data directory with `warden audit verify`, and copy again"
    )]
    Unverified(String),
    /// The copy committed, but `state.copied` could not be appended or
    /// the chain could not be read back to verify it.
    #[error(
        "the copy committed, but it could not be recorded and verified: {0}\n  fix: run `warden audit verify` with a node's warden.toml once the database answers; the copied state is there"
    )]
    Unchecked(String),
}

/// Copies the embedded state of `platform`'s data directory into the
/// database `to` names (its schema created or migrated first).
///
/// # Errors
/// See [`CopyError`]: every refusal comes before anything is written.
pub fn copy(platform: &PlatformConfig, to: &StateSettings) -> Result<CopyReport, CopyError> {
    let data_dir = platform.data_dir();
    if !data_dir.is_dir() {
        return Err(CopyError::Source(format!(
            "the data directory {} does not exist\n  fix: pass the single node's warden.toml with --config, or set WARDEN_DATA_DIR",
            data_dir.display()
        )));
    }
    if let Some(host) = crate::presence::live(&data_dir).first() {
        return Err(CopyError::Source(format!(
            "a host (pid {}, listening on {}) serves {} now, and would go on writing after the copy\n  fix: stop it, then copy",
            host.pid,
            host.listen,
            data_dir.display()
        )));
    }
    let key = crate::runtime::master_key(platform, &data_dir)
        .map_err(|e| CopyError::Source(format!("{e:#}")))?;
    let snapshot = source::read(&data_dir, key.clone())?;
    let pg = Postgres::connect(to)?;
    pg.migrate().wait()?;
    let probe = crate::state::postgres::key_probe(&key)?;
    let rows = snapshot
        .tables
        .iter()
        .map(|t| (t.name.to_string(), t.rows.len()))
        .collect();
    let skipped = snapshot.skipped.clone();
    pg.call_alone(move |client| target::write(client, snapshot, probe))
        .wait()?;
    let audit_entries = record_and_verify(&pg, &data_dir)?;
    Ok(CopyReport {
        from: data_dir,
        to: pg.location().to_string(),
        rows,
        skipped,
        audit_entries,
    })
}

/// Appends `state.copied` to the shared chain and verifies all of it.
fn record_and_verify(pg: &Arc<Postgres>, data_dir: &Path) -> Result<u64, CopyError> {
    use crate::audit::{AuditBackend, AuditEvent, AuditKind};
    let audit = crate::state::postgres::audit::PgAudit::new(pg.clone(), pg.location().into());
    let audit: &dyn AuditBackend = &audit;
    audit
        .append_blocking(AuditEvent {
            kind: AuditKind::StateCopied,
            app: None,
            actor: "warden".into(),
            details: serde_json::json!({ "from": data_dir.display().to_string() }),
        })
        .map_err(|e| CopyError::Unchecked(e.to_string()))?;
    let (_, report) = audit
        .read_blocking()
        .map_err(|e| CopyError::Unchecked(e.to_string()))?;
    match report.problem {
        None => Ok(report.entries),
        Some(p) => Err(CopyError::Unverified(format!(
            "entry {}: {}",
            p.expected_seq, p.reason
        ))),
    }
}
