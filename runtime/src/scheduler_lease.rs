//! One scheduler per data directory. Every host serving a data directory
//! answers requests, but only the one holding the scheduler lease fires
//! schedules: two hosts on one directory (a restart overlapping the old
//! process, or two hosts by mistake) would otherwise run every job twice.
//!
//! The lease is an exclusive `flock` on `<data_dir>/scheduler.lock`, held
//! for as long as the host serves. The kernel releases it when the process
//! ends however it ends, so no heartbeat is needed and a crashed host never
//! keeps it; a host without the lease tries again every
//! [`RETRY`] and takes over. The file says who holds it (pid, host name,
//! since when), for the operator. This covers hosts sharing one machine's
//! file system. Nodes sharing their state through PostgreSQL hold the
//! lease as a session advisory lock on a connection of its own
//! ([`try_take_shared`]): the server releases it when that connection
//! ends, however the node ended, and the node, told its connection is
//! gone, stops its schedules until it takes the lease again.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a host without the lease tries to take it.
pub const RETRY: Duration = Duration::from_secs(2);

/// The held lease; dropping it releases it.
pub struct Lease {
    _file: Option<File>,
    /// The connection whose session holds the advisory lock.
    _session: Option<tokio_postgres::Client>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self._session.is_some() {
            "Lease(shared)"
        } else {
            "Lease(file)"
        })
    }
}

/// Key of the advisory lock that is the shared lease ("wardnsch").
pub(crate) const SCHEDULER_LOCK: i64 = 0x7761_7264_6e73_6368;

/// Takes the lease of every node sharing `pg`'s database if no node holds
/// it: the lease, and a receiver that fires when its connection ends (the
/// lease is gone then). `Ok(None)` when another node holds it.
///
/// # Errors
/// The server cannot be reached.
pub async fn try_take_shared(
    pg: &crate::state::postgres::Postgres,
) -> Result<Option<(Lease, tokio::sync::oneshot::Receiver<()>)>, crate::state::postgres::PgError> {
    let (client, connection) = pg.config().connect(tokio_postgres::NoTls).await?;
    let (lost, gone) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = connection.await;
        let _ = lost.send(());
    });
    let held: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&SCHEDULER_LOCK])
        .await?
        .get(0);
    Ok(held.then(|| {
        (
            Lease {
                _file: None,
                _session: Some(client),
            },
            gone,
        )
    }))
}

/// The lease file of `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("scheduler.lock")
}

/// Takes the lease if no other host holds it: `Ok(None)` when one does.
pub fn try_take(data_dir: &Path) -> std::io::Result<Option<Lease>> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path(data_dir))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    // Who holds it, for `holder`; the lock, not the text, is the lease.
    let host = crate::presence::hostname();
    let since = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    file.set_len(0)?;
    writeln!(
        file,
        "pid {} on {} since {since}",
        std::process::id(),
        host.trim()
    )?;
    Ok(Some(Lease {
        _file: Some(file),
        _session: None,
    }))
}

/// Who holds the lease, as its file says (empty when unknown).
pub fn holder(data_dir: &Path) -> String {
    std::fs::read_to_string(path(data_dir))
        .map(|t| t.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_next_takes_over_when_it_lets_go() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let first = try_take(dir.path()).ok().flatten();
        assert!(first.is_some(), "the first host takes the lease");
        assert!(matches!(try_take(dir.path()), Ok(None)), "held");
        assert!(holder(dir.path()).contains(&format!("pid {}", std::process::id())));
        drop(first);
        assert!(
            matches!(try_take(dir.path()), Ok(Some(_))),
            "released with its holder"
        );
    }
}
