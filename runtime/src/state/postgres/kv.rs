//! Classified storage in PostgreSQL: the [`KvStore`] every node shares.
//!
//! The same rules as the embedded store: a value past its expiry is never
//! returned (checked on read, before any purge); per-app byte and key
//! totals live in `storage_usage`, changed in each write's transaction;
//! a write that checks its caps first locks its app's totals row
//! (`SELECT … FOR UPDATE`), so two writes at once — on one node or on
//! several — cannot both pass a check that only one of them fits. Every
//! writer takes the totals row before the value rows (set, delete, purge,
//! delete_app alike), so no two writers can wait for each other. Bytes
//! count as the key's and the value's octets, as the embedded store
//! counts them. A write returns once its transaction committed.

use super::{PgError, Postgres};
use std::sync::Arc;
use warden_host_apis::storage::store::{
    AppUsage, KvStore, StorageError, WriteCaps, Written, charge,
};

/// Takes an app's totals row first, as every writer does (see the module
/// doc).
const LOCK_TOTALS: &str = "SELECT 1 FROM storage_usage WHERE app = $1 FOR UPDATE";

/// Key of the advisory lock a purge pass holds ("wardnprg").
const PURGE_LOCK: i64 = 0x7761_7264_6e70_7267;

/// The shared store. Cloning shares the pool.
#[derive(Clone)]
pub struct PgKv {
    pg: Arc<Postgres>,
}

impl PgKv {
    pub fn new(pg: Arc<Postgres>) -> PgKv {
        PgKv { pg }
    }
}

fn backend(e: PgError) -> StorageError {
    StorageError::Backend(e.to_string())
}

/// An `i64` column as the `u64` it counts (never negative in practice).
fn count(n: i64) -> u64 {
    n.max(0) as u64
}

/// A time in ms since the epoch as the `bigint` it is stored as.
fn at(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl KvStore for PgKv {
    async fn get(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        now: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let (app, bucket, key) = (app.to_owned(), bucket.to_owned(), key.to_owned());
        self.pg
            .call(move |client| async move {
                let stmt = client
                    .prepare_cached(
                        "SELECT value FROM storage_values WHERE app = $1 AND bucket = $2 AND key = $3 AND expires_at > $4",
                    )
                    .await?;
                let row = client
                    .query_opt(&stmt, &[&app, &bucket, &key, &at(now)])
                    .await?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
            .await
            .map_err(backend)
    }

    async fn set(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        value: &[u8],
        expires_at: u64,
        caps: WriteCaps,
    ) -> Result<Written, StorageError> {
        let (app, bucket, key) = (app.to_owned(), bucket.to_owned(), key.to_owned());
        let value = value.to_vec();
        self.pg
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                // The app's totals row, made if missing and locked in one
                // statement: writes of one app queue here.
                let usage = tx
                    .query_one(
                        "INSERT INTO storage_usage (app) VALUES ($1)
                         ON CONFLICT (app) DO UPDATE SET app = excluded.app
                         RETURNING bytes, keys",
                        &[&app],
                    )
                    .await?;
                let usage = AppUsage {
                    bytes: count(usage.get(0)),
                    keys: count(usage.get(1)),
                };
                let old: Option<i32> = tx
                    .query_opt(
                        "SELECT octet_length(value) FROM storage_values WHERE app = $1 AND bucket = $2 AND key = $3",
                        &[&app, &bucket, &key],
                    )
                    .await?
                    .map(|r| r.get(0));
                let old = old.map(|len| len.max(0) as usize);
                let plan = match caps.plan(usage, &key, old, value.len()) {
                    Ok(plan) => plan,
                    Err(refused) => return Ok(refused),
                };
                tx.execute(
                    "INSERT INTO storage_values (app, bucket, key, value, expires_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (app, bucket, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                    &[&app, &bucket, &key, &value, &at(expires_at)],
                )
                .await?;
                tx.execute(
                    "UPDATE storage_usage SET bytes = bytes + $2, keys = keys + $3 WHERE app = $1",
                    &[&app, &plan.bytes_delta, &plan.keys_delta],
                )
                .await?;
                tx.commit().await?;
                Ok(Written::Stored(plan.replaced))
            })
            .await
            .map_err(backend)
    }

    async fn delete(&self, app: &str, bucket: &str, key: &str) -> Result<bool, StorageError> {
        let (app, bucket, key) = (app.to_owned(), bucket.to_owned(), key.to_owned());
        self.pg
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                tx.execute(LOCK_TOTALS, &[&app]).await?;
                let old: Option<i32> = tx
                    .query_opt(
                        "DELETE FROM storage_values WHERE app = $1 AND bucket = $2 AND key = $3 RETURNING octet_length(value)",
                        &[&app, &bucket, &key],
                    )
                    .await?
                    .map(|r| r.get(0));
                if let Some(len) = old {
                    tx.execute(
                        "UPDATE storage_usage SET bytes = bytes - $2, keys = keys - 1 WHERE app = $1",
                        &[&app, &charge(&key, len.max(0) as usize)],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(old.is_some())
            })
            .await
            .map_err(backend)
    }

    async fn list(
        &self,
        app: &str,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        now: u64,
    ) -> Result<Vec<String>, StorageError> {
        let (app, bucket, prefix) = (app.to_owned(), bucket.to_owned(), prefix.to_owned());
        let after = after.unwrap_or("").to_owned();
        self.pg
            .call(move |client| async move {
                // `starts_with` compares octets; `key > after` orders by
                // the column's collation, as ORDER BY does, so pages join.
                let rows = client
                    .query(
                        "SELECT key FROM storage_values WHERE app = $1 AND bucket = $2 AND key > $3 COLLATE \"C\"
                         AND starts_with(key, $4) AND expires_at > $5 ORDER BY key COLLATE \"C\" LIMIT $6",
                        &[&app, &bucket, &after, &prefix, &at(now), &i64::from(limit)],
                    )
                    .await?;
                Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
            })
            .await
            .map_err(backend)
    }

    async fn usage(&self, app: &str) -> Result<AppUsage, StorageError> {
        let app = app.to_owned();
        self.pg
            .call(move |client| async move {
                let row = client
                    .query_opt(
                        "SELECT bytes, keys FROM storage_usage WHERE app = $1",
                        &[&app],
                    )
                    .await?;
                Ok(row
                    .map(|r| AppUsage {
                        bytes: count(r.get(0)),
                        keys: count(r.get(1)),
                    })
                    .unwrap_or_default())
            })
            .await
            .map_err(backend)
    }

    async fn purge_expired(&self, now: u64, limit: u32) -> Result<u64, StorageError> {
        self.pg
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                // One node purges at a time: a node finding another at it
                // leaves this pass to that one.
                let ours: bool = tx
                    .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PURGE_LOCK])
                    .await?
                    .get(0);
                if !ours {
                    return Ok(0);
                }
                // The totals rows of the apps with something expired first
                // (in name order), then their expired values; rows another
                // purge holds are skipped, not waited for.
                let apps: Vec<String> = tx
                    .query(
                        "SELECT app FROM storage_usage WHERE app IN (
                           SELECT app FROM storage_values WHERE expires_at <= $1
                           ORDER BY expires_at LIMIT $2)
                         ORDER BY app FOR UPDATE",
                        &[&at(now), &i64::from(limit)],
                    )
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let purged = tx
                    .query(
                        "DELETE FROM storage_values WHERE ctid IN (
                           SELECT ctid FROM storage_values WHERE expires_at <= $1 AND app = ANY($3)
                           ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                         RETURNING app, octet_length(key) + octet_length(value)",
                        &[&at(now), &i64::from(limit), &apps],
                    )
                    .await?;
                let mut per_app: std::collections::BTreeMap<String, (i64, i64)> =
                    std::collections::BTreeMap::new();
                for row in &purged {
                    let entry = per_app.entry(row.get(0)).or_default();
                    entry.0 += i64::from(row.get::<_, i32>(1));
                    entry.1 += 1;
                }
                // In name order, so two purges lock totals rows alike.
                for (app, (bytes, keys)) in per_app {
                    tx.execute(
                        "UPDATE storage_usage SET bytes = bytes - $2, keys = keys - $3 WHERE app = $1",
                        &[&app, &bytes, &keys],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(purged.len() as u64)
            })
            .await
            .map_err(backend)
    }

    async fn delete_app(&self, app: &str) -> Result<u64, StorageError> {
        let app = app.to_owned();
        self.pg
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                tx.execute(LOCK_TOTALS, &[&app]).await?;
                let n = tx
                    .execute("DELETE FROM storage_values WHERE app = $1", &[&app])
                    .await?;
                tx.execute("DELETE FROM storage_usage WHERE app = $1", &[&app])
                    .await?;
                tx.execute("DELETE FROM storage_data_keys WHERE app = $1", &[&app])
                    .await?;
                tx.commit().await?;
                Ok(n)
            })
            .await
            .map_err(backend)
    }

    async fn data_key(&self, app: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let app = app.to_owned();
        self.pg
            .call(move |client| async move {
                let row = client
                    .query_opt(
                        "SELECT wrapped FROM storage_data_keys WHERE app = $1",
                        &[&app],
                    )
                    .await?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
            .await
            .map_err(backend)
    }

    async fn put_data_key(&self, app: &str, wrapped: &[u8]) -> Result<(), StorageError> {
        let (app, wrapped) = (app.to_owned(), wrapped.to_vec());
        self.pg
            .call(move |client| async move {
                client
                    .execute(
                        "INSERT INTO storage_data_keys (app, wrapped) VALUES ($1, $2) ON CONFLICT (app) DO NOTHING",
                        &[&app, &wrapped],
                    )
                    .await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }
}
