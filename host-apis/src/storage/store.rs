//! The durable key-value store behind classified storage.
//!
//! [`KvStore`] is the seam where a shared database server can replace the
//! embedded default later; [`SqliteKv`] is the default: one SQLite file in
//! WAL mode. A write returns only after its transaction committed, so an
//! acknowledged write survives a crash of the process. Per-app byte and key
//! totals are kept in their own table, updated in the same transaction, so
//! quota checks never scan. Expiry has its own index, so a purge costs in
//! proportion to what expired, not to what is stored.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;

/// Per-app totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppUsage {
    pub bytes: u64,
    pub keys: u64,
}

/// What a write replaced, for quota accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    Nothing,
    Value { bytes: u64 },
}

pub trait KvStore: Send + Sync {
    /// The stored bytes of a live (unexpired at `now`) value.
    fn get(&self, app: &str, bucket: &str, key: &str, now: u64) -> Result<Option<Vec<u8>>, String>;
    /// Writes a value; `charge` is the size counted against quotas.
    fn set(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        value: &[u8],
        expires_at: u64,
    ) -> Result<Replaced, String>;
    fn delete(&self, app: &str, bucket: &str, key: &str) -> Result<bool, String>;
    /// Live keys starting with `prefix`, after `after`, in order.
    fn list(
        &self,
        app: &str,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        now: u64,
    ) -> Result<Vec<String>, String>;
    fn usage(&self, app: &str) -> Result<AppUsage, String>;
    /// Deletes up to `limit` values expired at `now`; returns how many.
    fn purge_expired(&self, now: u64, limit: u32) -> Result<u64, String>;
    /// Deletes every value of an app and its wrapped data key.
    fn delete_app(&self, app: &str) -> Result<u64, String>;
    fn data_key(&self, app: &str) -> Result<Option<Vec<u8>>, String>;
    fn put_data_key(&self, app: &str, wrapped: &[u8]) -> Result<(), String>;
}

/// Two connections: writes serialize on one, reads use the other, so in
/// WAL mode a long purge or a burst of writes never blocks a read.
pub struct SqliteKv {
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn err(e: rusqlite::Error) -> String {
    format!("storage: {e}")
}

impl SqliteKv {
    pub fn open(path: &Path) -> Result<SqliteKv, String> {
        let conn = crate::sqlite::open_wal(
            path,
            "NORMAL",
            "CREATE TABLE IF NOT EXISTS kv (
                app TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL,
                value BLOB NOT NULL, expires_at INTEGER NOT NULL,
                PRIMARY KEY (app, bucket, key));
             CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at);
             CREATE TABLE IF NOT EXISTS kv_usage (app TEXT PRIMARY KEY, bytes INTEGER NOT NULL, keys INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS data_keys (app TEXT PRIMARY KEY, wrapped BLOB NOT NULL);",
        )
        .map_err(err)?;
        let reader = Connection::open(path).map_err(err)?;
        reader
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        Ok(SqliteKv {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn charge(key: &str, value_len: usize) -> i64 {
    (key.len() + value_len) as i64
}

impl KvStore for SqliteKv {
    fn get(&self, app: &str, bucket: &str, key: &str, now: u64) -> Result<Option<Vec<u8>>, String> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached("SELECT value FROM kv WHERE app = ?1 AND bucket = ?2 AND key = ?3 AND expires_at > ?4")
            .map_err(err)?;
        stmt.query_row(params![app, bucket, key, now as i64], |row| row.get(0))
            .optional()
            .map_err(err)
    }

    fn set(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        value: &[u8],
        expires_at: u64,
    ) -> Result<Replaced, String> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        let old: Option<i64> = tx
            .query_row(
                "SELECT length(value) FROM kv WHERE app = ?1 AND bucket = ?2 AND key = ?3",
                params![app, bucket, key],
                |row| row.get(0),
            )
            .optional()
            .map_err(err)?;
        tx.execute(
            "INSERT INTO kv (app, bucket, key, value, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (app, bucket, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            params![app, bucket, key, value, expires_at as i64],
        )
        .map_err(err)?;
        let (bytes_delta, keys_delta) = match old {
            Some(len) => (charge(key, value.len()) - charge(key, len as usize), 0),
            None => (charge(key, value.len()), 1),
        };
        tx.execute(
            "INSERT INTO kv_usage (app, bytes, keys) VALUES (?1, ?2, ?3)
             ON CONFLICT (app) DO UPDATE SET bytes = bytes + excluded.bytes, keys = keys + excluded.keys",
            params![app, bytes_delta, keys_delta],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(match old {
            Some(len) => Replaced::Value {
                bytes: charge(key, len as usize) as u64,
            },
            None => Replaced::Nothing,
        })
    }

    fn delete(&self, app: &str, bucket: &str, key: &str) -> Result<bool, String> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        let old: Option<i64> = tx
            .query_row(
                "DELETE FROM kv WHERE app = ?1 AND bucket = ?2 AND key = ?3 RETURNING length(value)",
                params![app, bucket, key],
                |row| row.get(0),
            )
            .optional()
            .map_err(err)?;
        if let Some(len) = old {
            tx.execute(
                "UPDATE kv_usage SET bytes = bytes - ?2, keys = keys - 1 WHERE app = ?1",
                params![app, charge(key, len as usize)],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(old.is_some())
    }

    fn list(
        &self,
        app: &str,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        now: u64,
    ) -> Result<Vec<String>, String> {
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key FROM kv WHERE app = ?1 AND bucket = ?2 AND key > ?3 AND substr(key, 1, length(?4)) = ?4
                 AND expires_at > ?5 ORDER BY key LIMIT ?6",
            )
            .map_err(err)?;
        let after = after.unwrap_or("");
        let rows = stmt
            .query_map(
                params![app, bucket, after, prefix, now as i64, limit],
                |row| row.get(0),
            )
            .map_err(err)?;
        rows.collect::<Result<Vec<String>, _>>().map_err(err)
    }

    fn usage(&self, app: &str) -> Result<AppUsage, String> {
        let conn = self.conn();
        let row: Option<(i64, i64)> = conn
            .query_row(
                "SELECT bytes, keys FROM kv_usage WHERE app = ?1",
                params![app],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        Ok(row
            .map(|(b, k)| AppUsage {
                bytes: b.max(0) as u64,
                keys: k.max(0) as u64,
            })
            .unwrap_or_default())
    }

    fn purge_expired(&self, now: u64, limit: u32) -> Result<u64, String> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        let purged: Vec<(String, i64)> = {
            let mut stmt = tx
                .prepare_cached(
                    "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)
                     RETURNING app, length(key) + length(value)",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(params![now as i64, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        let mut per_app: std::collections::BTreeMap<String, (i64, i64)> =
            std::collections::BTreeMap::new();
        for (app, bytes) in &purged {
            let e = per_app.entry(app.clone()).or_default();
            e.0 += bytes;
            e.1 += 1;
        }
        for (app, (bytes, keys)) in per_app {
            tx.execute(
                "UPDATE kv_usage SET bytes = bytes - ?2, keys = keys - ?3 WHERE app = ?1",
                params![app, bytes, keys],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(purged.len() as u64)
    }

    fn delete_app(&self, app: &str) -> Result<u64, String> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        let n = tx
            .execute("DELETE FROM kv WHERE app = ?1", params![app])
            .map_err(err)?;
        tx.execute("DELETE FROM kv_usage WHERE app = ?1", params![app])
            .map_err(err)?;
        tx.execute("DELETE FROM data_keys WHERE app = ?1", params![app])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(n as u64)
    }

    fn data_key(&self, app: &str) -> Result<Option<Vec<u8>>, String> {
        let conn = self.conn();
        conn.query_row(
            "SELECT wrapped FROM data_keys WHERE app = ?1",
            params![app],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)
    }

    fn put_data_key(&self, app: &str, wrapped: &[u8]) -> Result<(), String> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO data_keys (app, wrapped) VALUES (?1, ?2)",
            params![app, wrapped],
        )
        .map_err(err)?;
        Ok(())
    }
}
