//! Writing a snapshot into the shared database: one transaction that
//! first finds every shared table empty, then loads each table with
//! `COPY … FROM STDIN BINARY` (one stream per table, no round trip per
//! row), sets the audit head and the id sequences, and commits — or, on
//! any error, leaves the database as it was.

use super::{CopyError, Snapshot, Table};
use crate::state::postgres::PgError;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::ToSql;

/// The two halves of the scheduler lease's advisory lock key, as
/// `pg_locks` shows a bigint key: its high 32 bits in `classid`, its low
/// 32 in `objid` (PostgreSQL's documentation of `pg_locks`).
const SCHEDULER_LOCK_HIGH: u32 = (crate::scheduler_lease::SCHEDULER_LOCK >> 32) as u32;
const SCHEDULER_LOCK_LOW: u32 = crate::scheduler_lease::SCHEDULER_LOCK as u32;

/// Every table that holds shared state (the schema's own version table
/// and the master key's check are not state of a node).
const SHARED: [&str; 21] = [
    "deployments",
    "transitions",
    "components",
    "quotas",
    "templates",
    "attestations",
    "tokens",
    "secrets",
    "kill_state",
    "storage_values",
    "storage_usage",
    "storage_data_keys",
    "usage_counters",
    "usage_batches",
    "quota_leases",
    "slo_tallies",
    "dlp_salt",
    "audit_log",
    "audit_forward",
    "app_reviews",
    "people",
];

/// Writes `snapshot` in one transaction, refusing a database that holds
/// state already.
pub(super) async fn write(
    mut client: tokio_postgres::Client,
    snapshot: Snapshot,
    key_probe: String,
) -> Result<(), CopyError> {
    let tx = client.transaction().await.map_err(PgError::from)?;
    // A big table may take longer to load than one statement is allowed.
    tx.batch_execute("SET LOCAL statement_timeout = 0")
        .await
        .map_err(PgError::from)?;
    // The head's row lock holds off every node's audit appends, so the
    // emptiness checked here is the emptiness written into.
    let head: i64 = tx
        .query_one("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", &[])
        .await
        .map_err(PgError::from)?
        .get(0);
    let mut held = Vec::new();
    if head > 0 {
        held.push(format!("{head} audit entries"));
    }
    for table in SHARED {
        let any: bool = tx
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await
            .map_err(PgError::from)?
            .get(0);
        if any {
            held.push(format!("rows in `{table}`"));
        }
    }
    // A node that has started on the database but holds no state yet
    // holds the cluster's scheduler lease (or waits for it).
    let serving: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND classid = $1 AND objid = $2)",
            &[&SCHEDULER_LOCK_HIGH, &SCHEDULER_LOCK_LOW],
        )
        .await
        .map_err(PgError::from)?
        .get(0);
    if serving {
        held.push("a node connected to it".into());
    }
    if !held.is_empty() {
        return Err(CopyError::TargetNotEmpty(held.join(", ")));
    }
    // The key every node must be given is this data directory's.
    tx.execute(
        "INSERT INTO master_key_check (id, probe) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        &[&key_probe],
    )
    .await
    .map_err(PgError::from)?;
    let recorded: String = tx
        .query_one("SELECT probe FROM master_key_check WHERE id = 1", &[])
        .await
        .map_err(PgError::from)?
        .get(0);
    if recorded != key_probe {
        return Err(CopyError::Target(PgError::OtherMasterKey));
    }
    for table in &snapshot.tables {
        if table.name == "transitions" {
            // Inserting the deploys made the database write a first
            // transition of each; the source's history replaces them.
            tx.execute("DELETE FROM transitions", &[])
                .await
                .map_err(PgError::from)?;
        }
        load(&tx, table).await?;
    }
    let (seq, hash) = &snapshot.audit_head;
    tx.execute(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        &[seq, hash],
    )
    .await
    .map_err(PgError::from)?;
    // New deploys and transitions number on from the copied ones.
    for (table, column) in [("deployments", "id"), ("transitions", "seq")] {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE(max({column}), 0) + 1, false) FROM {table}"
            ),
            &[],
        )
        .await
        .map_err(PgError::from)?;
    }
    tx.commit().await.map_err(PgError::from)?;
    Ok(())
}

/// Streams `table`'s rows into it.
async fn load(tx: &tokio_postgres::Transaction<'_>, table: &Table) -> Result<(), CopyError> {
    if table.rows.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
    let types: Vec<_> = table.columns.iter().map(|(_, t)| t.clone()).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {} ({}) FROM STDIN BINARY",
            table.name,
            names.join(", ")
        ))
        .await
        .map_err(PgError::from)?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for row in &table.rows {
        let cells: Vec<&(dyn ToSql + Sync)> = row
            .iter()
            .map(|c| c.as_ref() as &(dyn ToSql + Sync))
            .collect();
        writer
            .as_mut()
            .write(&cells)
            .await
            .map_err(|e| copy_failed(table, e))?;
    }
    writer
        .as_mut()
        .finish()
        .await
        .map_err(|e| copy_failed(table, e))?;
    Ok(())
}

fn copy_failed(table: &Table, e: tokio_postgres::Error) -> CopyError {
    CopyError::Target(PgError::Server(format!(
        "copying `{}`: {}",
        table.name,
        PgError::from(e)
    )))
}
