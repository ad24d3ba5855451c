//! Kill state in PostgreSQL: a kill or unkill on any node reaches every
//! node at once.
//!
//! A change runs in one transaction that holds an advisory lock, so kills
//! and unkills of every node are serialized as the file lock serializes
//! them on one machine (the audit entry is written inside it, so record
//! and state change in the same order), and announces itself with
//! `NOTIFY warden_kills`, delivered when it commits. Each node listens on a
//! connection of its own ([`super::notices::listen`]) and reloads the whole table on every
//! notice, on every reconnect, and — as a safety net for a notice lost with
//! a connection — every second.

use super::{PgError, Postgres};
use crate::kills::{KillRecord, KillState};
use crate::wait::Wait as _;

/// The channel changes are announced on.
pub const CHANNEL: &str = "warden_kills";

/// Key of the advisory lock kill changes hold (any constant; "wardnkil").
const KILL_LOCK: i64 = 0x7761_7264_6e6b_696c;

fn io(e: PgError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn io_pg(e: tokio_postgres::Error) -> std::io::Error {
    io(PgError::from(e))
}

fn state_of(rows: &[tokio_postgres::Row]) -> KillState {
    rows.iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                KillRecord {
                    reason: r.get(1),
                    actor: r.get(2),
                    at: r.get(3),
                },
            )
        })
        .collect()
}

const SELECT: &str = "SELECT app, reason, actor, at FROM kill_state";

/// The kill state of every node.
///
/// # Errors
/// The server cannot be reached.
pub fn read(pg: &Postgres) -> std::io::Result<KillState> {
    pg.call(|client| async move { Ok(state_of(&client.query(SELECT, &[]).await?)) })
        .wait()
        .map_err(io)
}

/// Changes the kill state with `change` — which may append its audit entry
/// — in one transaction under the kill lock, and announces the change.
/// Waits on the calling thread, as the file lock does.
///
/// # Errors
/// The server cannot be reached, or `change` failed (nothing changes).
pub fn update<T>(
    pg: &Postgres,
    change: impl FnOnce(&mut KillState) -> std::io::Result<T>,
) -> std::io::Result<T> {
    // A connection of the pool, held here for the whole change.
    let mut client = pg
        .call(|client| async move { Ok(client) })
        .wait()
        .map_err(io)?;
    let tx = client.transaction().wait().map_err(io_pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KILL_LOCK])
        .wait()
        .map_err(io_pg)?;
    let before = state_of(&tx.query(SELECT, &[]).wait().map_err(io_pg)?);
    let mut after = before.clone();
    // On an error the transaction is dropped: rolled back, nothing changed.
    let out = change(&mut after)?;
    for app in before.keys().filter(|app| !after.contains_key(*app)) {
        tx.execute("DELETE FROM kill_state WHERE app = $1", &[app])
            .wait()
            .map_err(io_pg)?;
    }
    for (app, k) in after.iter().filter(|(app, k)| before.get(*app) != Some(*k)) {
        tx.execute(
            "INSERT INTO kill_state (app, reason, actor, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, at = excluded.at",
            &[app, &k.reason, &k.actor, &k.at],
        )
        .wait()
        .map_err(io_pg)?;
    }
    tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
        .wait()
        .map_err(io_pg)?;
    tx.commit().wait().map_err(io_pg)?;
    Ok(out)
}
