//! The durable key-value store behind classified storage.
//!
//! [`KvStore`] is the seam where a shared database server replaces the
//! embedded default: an async trait with typed errors ([`StorageError`]), so
//! a networked backend plugs in without touching the capability's code.
//! [`SqliteKv`] is the default: one SQLite file in WAL mode. Work that may
//! wait (for a lock, for another call of this process) runs on tokio's
//! blocking pool, where the guest that asked stays killable; a guest's get,
//! and its write, run in place when they cannot wait (the connection is
//! free and no other process holds the lock), through `block_in_place`,
//! which first hands the worker's other tasks to another thread. A write returns only after its transaction committed, so an
//! acknowledged write survives a crash of the process. Per-app byte and key
//! totals are kept in their own table, updated in the same transaction, so
//! quota checks never scan. Expiry has its own index, so a purge costs in
//! proportion to what expired, not to what is stored.

use crate::sqlite::{BUSY_PATIENCE, OpenOnFirstUse};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Why the storage backend could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The embedded SQLite store failed (disk full, corrupt file, busy).
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A networked backend failed (connection lost, server error).
    #[error("storage backend: {0}")]
    Backend(String),
    /// The blocking task that ran the call did not finish (it panicked or
    /// the runtime is shutting down).
    #[error("storage: the call did not complete: {0}")]
    Interrupted(String),
}

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

/// The app's caps a write must stay within. The backend checks them in
/// the write's own transaction, so two writes at once cannot both pass a
/// check that only one of them fits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCaps {
    /// Most key and value bytes the app may keep (`quota.storage_bytes`).
    pub max_bytes: Option<u64>,
    /// Most keys the app may keep (`storage.max_keys`).
    pub max_keys: Option<u64>,
}

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored (committed), replacing what it says.
    Stored(Replaced),
    /// Refused: the app's bytes would pass `max_bytes`; `used` is what it
    /// keeps now.
    OverBytes { used: u64 },
    /// Refused: a new key would pass `max_keys`; `keys` is how many it
    /// keeps now.
    OverKeys { keys: u64 },
}

/// What a write does to its app's totals, decided the same way by every
/// backend once it holds the app's totals and knows what the key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePlan {
    /// Added to the app's byte total (negative when the value shrinks).
    pub bytes_delta: i64,
    /// Added to the app's key count (1 for a new key, else 0).
    pub keys_delta: i64,
    pub replaced: Replaced,
}

/// The bytes a key and a value of `value_len` bytes count for.
pub fn charge(key: &str, value_len: usize) -> i64 {
    (key.len() + value_len) as i64
}

impl WriteCaps {
    /// The plan of writing `value_len` bytes under `key`, which holds a
    /// value of `old` bytes now (if any), for an app whose totals are
    /// `usage`; `Err` is the refusal when the write would pass a cap
    /// (counting what it replaces). `usage` is read only with caps set.
    pub fn plan(
        self,
        usage: AppUsage,
        key: &str,
        old: Option<usize>,
        value_len: usize,
    ) -> Result<WritePlan, Written> {
        if self != WriteCaps::default() {
            let replaced = old.map_or(0, |len| charge(key, len) as u64);
            let after = (usage.bytes + charge(key, value_len) as u64)
                .saturating_sub(replaced.min(usage.bytes));
            if self.max_bytes.is_some_and(|max| after > max) {
                return Err(Written::OverBytes { used: usage.bytes });
            }
            if old.is_none() && self.max_keys.is_some_and(|max| usage.keys >= max) {
                return Err(Written::OverKeys { keys: usage.keys });
            }
        }
        Ok(match old {
            Some(len) => WritePlan {
                bytes_delta: charge(key, value_len) - charge(key, len),
                keys_delta: 0,
                replaced: Replaced::Value {
                    bytes: charge(key, len) as u64,
                },
            },
            None => WritePlan {
                bytes_delta: charge(key, value_len),
                keys_delta: 1,
                replaced: Replaced::Nothing,
            },
        })
    }
}

/// The storage backend. Every call is async: the embedded store runs it on
/// the blocking pool (or in place when it cannot wait); a networked one
/// awaits its server.
/// Its futures must make progress without the caller's runtime (see
/// `warden_runtime::wait`): sync code may wait on them from a worker.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync {
    /// The stored bytes of a live (unexpired at `now`, ms since the epoch)
    /// value.
    async fn get(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        now: u64,
    ) -> Result<Option<Vec<u8>>, StorageError>;
    /// Writes a value that expires at `expires_at` (ms since the epoch),
    /// unless it would pass `caps` (counting what it replaces).
    async fn set(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        value: &[u8],
        expires_at: u64,
        caps: WriteCaps,
    ) -> Result<Written, StorageError>;
    /// Whether a value was there to delete.
    async fn delete(&self, app: &str, bucket: &str, key: &str) -> Result<bool, StorageError>;
    /// Live keys starting with `prefix`, after `after`, in order, at most
    /// `limit`.
    async fn list(
        &self,
        app: &str,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        now: u64,
    ) -> Result<Vec<String>, StorageError>;
    /// The app's totals (bytes of keys and values, number of keys).
    async fn usage(&self, app: &str) -> Result<AppUsage, StorageError>;
    /// Deletes up to `limit` values expired at `now`; returns how many.
    async fn purge_expired(&self, now: u64, limit: u32) -> Result<u64, StorageError>;
    /// Deletes every value of an app and its wrapped data key; returns how
    /// many values.
    async fn delete_app(&self, app: &str) -> Result<u64, StorageError>;
    /// The app's wrapped data key, if it has one.
    async fn data_key(&self, app: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Stores the app's wrapped data key unless it has one already.
    async fn put_data_key(&self, app: &str, wrapped: &[u8]) -> Result<(), StorageError>;
}

/// The embedded store. Cloning shares the database.
#[derive(Clone)]
pub struct SqliteKv {
    path: Arc<Path>,
    db: Arc<OpenOnFirstUse<SqliteDb>>,
}

impl SqliteKv {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    /// The file cannot be opened or its schema created.
    pub fn open(path: &Path) -> Result<SqliteKv, StorageError> {
        Ok(SqliteKv {
            path: path.into(),
            db: Arc::new(OpenOnFirstUse::opened(SqliteDb::open(path)?)),
        })
    }

    /// The store at `path`, opened by its first call (for a process that
    /// makes one invocation, which may never touch storage), on the
    /// blocking pool like any call that may wait. That call fails with
    /// [`StorageError::Sqlite`] naming the file if it cannot be opened.
    pub fn open_on_first_use(path: &Path) -> SqliteKv {
        SqliteKv {
            path: path.into(),
            db: Arc::new(OpenOnFirstUse::later()),
        }
    }

    /// Runs `call` on the blocking pool (inline when there is no tokio
    /// runtime: then the caller is not a guest's thread). A write that
    /// may wait for a lock goes this way, so a guest parked on one stays
    /// killable; a guest's reads, and its writes that cannot wait
    /// ([`SqliteDb::write_now`]), run in place through
    /// [`crate::sqlite::in_place`], saving the pool's round trip.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&SqliteDb) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let (db, path) = (self.db.clone(), self.path.clone());
        crate::sqlite::off_thread(move || {
            let db = db.get(|| {
                SqliteDb::open(&path).map_err(|e| match e {
                    StorageError::Sqlite(e) => {
                        StorageError::Sqlite(crate::sqlite::naming_the_file(&path, e))
                    }
                    other => other,
                })
            })?;
            call(db)
        })
        .await
        .map_err(StorageError::Interrupted)?
    }
}

#[async_trait::async_trait]
impl KvStore for SqliteKv {
    async fn get(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        now: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        // In place only once the store is open: opening may wait.
        if let Some(db) = self.db.opened_now()
            && let Some(done) = crate::sqlite::in_place(|| db.get_now(app, bucket, key, now))
        {
            return done;
        }
        let (app, bucket, key) = (app.to_owned(), bucket.to_owned(), key.to_owned());
        self.blocking(move |db| db.get(&app, &bucket, &key, now))
            .await
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
        let now =
            |conn: &mut Connection| SqliteDb::set(conn, app, bucket, key, value, expires_at, caps);
        if let Some(db) = self.db.opened_now()
            && let Some(done) = crate::sqlite::in_place(|| db.write_now(now))
        {
            return done;
        }
        let (app, bucket, key) = (app.to_owned(), bucket.to_owned(), key.to_owned());
        let value = value.to_vec();
        self.blocking(move |db| {
            SqliteDb::set(
                &mut db.conn(),
                &app,
                &bucket,
                &key,
                &value,
                expires_at,
                caps,
            )
        })
        .await
    }

    async fn delete(&self, app: &str, bucket: &str, key: &str) -> Result<bool, StorageError> {
        let now = |conn: &mut Connection| SqliteDb::delete(conn, app, bucket, key);
        if let Some(db) = self.db.opened_now()
            && let Some(done) = crate::sqlite::in_place(|| db.write_now(now))
        {
            return done;
        }
        let (app, bucket, key) = (app.to_owned(), bucket.to_owned(), key.to_owned());
        self.blocking(move |db| SqliteDb::delete(&mut db.conn(), &app, &bucket, &key))
            .await
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
        // A page may scan many keys: the pool, where the guest stays killable.
        let (app, bucket, prefix) = (app.to_owned(), bucket.to_owned(), prefix.to_owned());
        let after = after.map(str::to_owned);
        self.blocking(move |db| db.list(&app, &bucket, &prefix, after.as_deref(), limit, now))
            .await
    }

    async fn usage(&self, app: &str) -> Result<AppUsage, StorageError> {
        let app = app.to_owned();
        self.blocking(move |db| db.usage(&app)).await
    }

    async fn purge_expired(&self, now: u64, limit: u32) -> Result<u64, StorageError> {
        self.blocking(move |db| db.purge_expired(now, limit)).await
    }

    async fn delete_app(&self, app: &str) -> Result<u64, StorageError> {
        let app = app.to_owned();
        self.blocking(move |db| db.delete_app(&app)).await
    }

    async fn data_key(&self, app: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let app = app.to_owned();
        self.blocking(move |db| db.data_key(&app)).await
    }

    async fn put_data_key(&self, app: &str, wrapped: &[u8]) -> Result<(), StorageError> {
        let (app, wrapped) = (app.to_owned(), wrapped.to_vec());
        self.blocking(move |db| db.put_data_key(&app, &wrapped))
            .await
    }
}

/// Two connections: writes serialize on one, reads use the other, so in
/// WAL mode a long purge or a burst of writes never blocks a read.
struct SqliteDb {
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn err(e: rusqlite::Error) -> StorageError {
    StorageError::Sqlite(e)
}

impl SqliteDb {
    fn open(path: &Path) -> Result<SqliteDb, StorageError> {
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
        reader.busy_timeout(BUSY_PATIENCE).map_err(err)?;
        Ok(SqliteDb {
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

    /// A get on the reader connection here and now when it cannot wait: no
    /// other read of this process holds the connection (WAL readers do not
    /// wait for writers). `None` when it would have to wait.
    fn get_now(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        now: u64,
    ) -> Option<Result<Option<Vec<u8>>, StorageError>> {
        let conn = crate::sqlite::free_now(&self.reader)?;
        Some(get_on(&conn, app, bucket, key, now))
    }

    /// Runs `write` on the writer connection here and now when it cannot
    /// have to wait (see [`crate::sqlite::without_waiting`]). `None` when
    /// it would have to wait.
    fn write_now<T>(
        &self,
        write: impl FnOnce(&mut Connection) -> Result<T, StorageError>,
    ) -> Option<Result<T, StorageError>> {
        crate::sqlite::without_waiting(
            &self.conn,
            write,
            |e| matches!(e, StorageError::Sqlite(e) if crate::sqlite::busy(e)),
        )
    }
}

/// A live value, read on `conn`.
fn get_on(
    conn: &Connection,
    app: &str,
    bucket: &str,
    key: &str,
    now: u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT value FROM kv WHERE app = ?1 AND bucket = ?2 AND key = ?3 AND expires_at > ?4",
        )
        .map_err(err)?;
    stmt.query_row(params![app, bucket, key, now as i64], |row| row.get(0))
        .optional()
        .map_err(err)
}

/// The app's totals, read on `conn` (inside a write's transaction when
/// the write checks its caps).
fn usage_in(conn: &Connection, app: &str) -> Result<AppUsage, StorageError> {
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

impl SqliteDb {
    fn get(
        &self,
        app: &str,
        bucket: &str,
        key: &str,
        now: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        get_on(&self.reader(), app, bucket, key, now)
    }

    fn set(
        conn: &mut Connection,
        app: &str,
        bucket: &str,
        key: &str,
        value: &[u8],
        expires_at: u64,
        caps: WriteCaps,
    ) -> Result<Written, StorageError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let old: Option<i64> = tx
            .query_row(
                "SELECT length(value) FROM kv WHERE app = ?1 AND bucket = ?2 AND key = ?3",
                params![app, bucket, key],
                |row| row.get(0),
            )
            .optional()
            .map_err(err)?;
        let old = old.map(|len| len.max(0) as usize);
        // The totals are read only when a cap is to be checked.
        let usage = if caps == WriteCaps::default() {
            AppUsage::default()
        } else {
            usage_in(&tx, app)?
        };
        let plan = match caps.plan(usage, key, old, value.len()) {
            Ok(plan) => plan,
            Err(refused) => return Ok(refused),
        };
        tx.execute(
            "INSERT INTO kv (app, bucket, key, value, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (app, bucket, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            params![app, bucket, key, value, expires_at as i64],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO kv_usage (app, bytes, keys) VALUES (?1, ?2, ?3)
             ON CONFLICT (app) DO UPDATE SET bytes = bytes + excluded.bytes, keys = keys + excluded.keys",
            params![app, plan.bytes_delta, plan.keys_delta],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Written::Stored(plan.replaced))
    }

    fn delete(
        conn: &mut Connection,
        app: &str,
        bucket: &str,
        key: &str,
    ) -> Result<bool, StorageError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
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
    ) -> Result<Vec<String>, StorageError> {
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

    fn usage(&self, app: &str) -> Result<AppUsage, StorageError> {
        usage_in(&self.conn(), app)
    }

    fn purge_expired(&self, now: u64, limit: u32) -> Result<u64, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
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

    fn delete_app(&self, app: &str) -> Result<u64, StorageError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
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

    fn data_key(&self, app: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let conn = self.conn();
        conn.query_row(
            "SELECT wrapped FROM data_keys WHERE app = ?1",
            params![app],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)
    }

    fn put_data_key(&self, app: &str, wrapped: &[u8]) -> Result<(), StorageError> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO data_keys (app, wrapped) VALUES (?1, ?2)",
            params![app, wrapped],
        )
        .map_err(err)?;
        Ok(())
    }
}
