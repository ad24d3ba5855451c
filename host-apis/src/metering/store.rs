//! Counters on disk: one SQLite table of (app, scope, window) rows to which
//! deltas are added.
//!
//! [`UsageBackend`] is the seam a shared database plugs into: async, with
//! typed errors ([`UsageError`]). [`UsageStore`] is the embedded default,
//! whose SQLite calls run off the calling task's thread.

use super::Counters;
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Why the usage backend could not answer.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The embedded SQLite store failed.
    #[error("usage store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A networked backend failed.
    #[error("usage backend: {0}")]
    Backend(String),
    /// The blocking task that ran the call did not finish.
    #[error("usage store: the call did not complete: {0}")]
    Interrupted(String),
}

/// Where the meters keep their counters.
/// Its futures must make progress without the caller's runtime (see
/// `warden_runtime::wait`): sync code may wait on them from a worker.
#[async_trait::async_trait]
pub trait UsageBackend: Send + Sync {
    /// The counters of `app` in `scope` (a connector, `hosts`, or the app
    /// total) for `window` (a day or minute key); zero when none.
    async fn get(&self, app: &str, scope: &str, window: &str) -> Result<Counters, UsageError>;
    /// Adds every delta, keyed by (scope, window), in one transaction.
    /// `batch` names this set of deltas: a backend whose commit can be
    /// ambiguous (a connection lost while committing) adds a batch at
    /// most once, so the meter's retry of it never counts twice.
    async fn add_all(
        &self,
        app: &str,
        batch: &str,
        rows: &[((String, String), Counters)],
    ) -> Result<(), UsageError>;
    /// Hands out a block of `quota`'s units of `app` in `window` (a window
    /// key), sized by [`super::lease::lease_size`] from `limit` and what
    /// is out already, in one step against every other node; 0 when the
    /// limit is reached.
    async fn lease(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        limit: u64,
    ) -> Result<u64, UsageError>;
    /// Takes back `units` handed out and not spent.
    async fn give_back(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        units: u64,
    ) -> Result<(), UsageError>;
}

/// The embedded usage store (`usage.db`). Cloning shares the database.
#[derive(Clone)]
pub struct UsageStore {
    db: Arc<UsageDb>,
}

impl UsageStore {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    /// The file cannot be opened or its table created.
    pub fn open(path: &Path) -> Result<UsageStore, UsageError> {
        Ok(UsageStore {
            db: Arc::new(UsageDb::open(path)?),
        })
    }
}

#[async_trait::async_trait]
impl UsageBackend for UsageStore {
    async fn get(&self, app: &str, scope: &str, window: &str) -> Result<Counters, UsageError> {
        let db = self.db.clone();
        let (app, scope, window) = (app.to_owned(), scope.to_owned(), window.to_owned());
        crate::sqlite::off_thread(move || db.get(&app, &scope, &window))
            .await
            .map_err(UsageError::Interrupted)?
    }

    /// A local commit is never ambiguous to this process (its meter dies
    /// with it), so the batch name is not kept.
    async fn add_all(
        &self,
        app: &str,
        _batch: &str,
        rows: &[((String, String), Counters)],
    ) -> Result<(), UsageError> {
        let db = self.db.clone();
        let (app, rows) = (app.to_owned(), rows.to_vec());
        crate::sqlite::off_thread(move || db.add_all(&app, &rows))
            .await
            .map_err(UsageError::Interrupted)?
    }

    async fn lease(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        limit: u64,
    ) -> Result<u64, UsageError> {
        let db = self.db.clone();
        let key = [app, quota, window].map(str::to_owned);
        crate::sqlite::off_thread(move || db.lease(&key, limit))
            .await
            .map_err(UsageError::Interrupted)?
    }

    async fn give_back(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        units: u64,
    ) -> Result<(), UsageError> {
        let db = self.db.clone();
        let key = [app, quota, window].map(str::to_owned);
        crate::sqlite::off_thread(move || db.give_back(&key, units))
            .await
            .map_err(UsageError::Interrupted)?
    }
}

struct UsageDb {
    conn: Mutex<Connection>,
}

impl UsageDb {
    fn open(path: &Path) -> Result<UsageDb, UsageError> {
        let conn = crate::sqlite::open_wal(
            path,
            "NORMAL",
            "CREATE TABLE IF NOT EXISTS usage (
                app TEXT NOT NULL, scope TEXT NOT NULL, window TEXT NOT NULL,
                calls INTEGER NOT NULL DEFAULT 0, bytes_out INTEGER NOT NULL DEFAULT 0,
                bytes_in INTEGER NOT NULL DEFAULT 0, denials INTEGER NOT NULL DEFAULT 0,
                invocations INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (app, scope, window));
             CREATE TABLE IF NOT EXISTS quota_leases (
                app TEXT NOT NULL, quota TEXT NOT NULL, window TEXT NOT NULL,
                granted INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (app, quota, window))",
        )?;
        Ok(UsageDb {
            conn: Mutex::new(conn),
        })
    }

    fn get(&self, app: &str, scope: &str, window: &str) -> Result<Counters, UsageError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT calls, bytes_out, bytes_in, denials, invocations FROM usage WHERE app = ?1 AND scope = ?2 AND window = ?3",
        )?;
        let mut rows = stmt.query(params![app, scope, window])?;
        match rows.next()? {
            Some(row) => Ok(Counters {
                calls: row.get::<_, i64>(0)? as u64,
                bytes_out: row.get::<_, i64>(1)? as u64,
                bytes_in: row.get::<_, i64>(2)? as u64,
                denials: row.get::<_, i64>(3)? as u64,
                invocations: row.get::<_, i64>(4)? as u64,
            }),
            None => Ok(Counters::default()),
        }
    }

    /// See [`UsageBackend::lease`]; `key` is (app, quota, window). The
    /// read and the update are one IMMEDIATE transaction, so processes
    /// sharing the file take turns.
    fn lease(&self, key: &[String; 3], limit: u64) -> Result<u64, UsageError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let granted: i64 = tx
            .query_row(
                "SELECT granted FROM quota_leases WHERE app = ?1 AND quota = ?2 AND window = ?3",
                params![key[0], key[1], key[2]],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(0),
                e => Err(e),
            })?;
        let units = super::lease::lease_size(limit, granted.max(0) as u64);
        // The windows before this one are over: their rows go.
        tx.execute(
            "DELETE FROM quota_leases WHERE app = ?1 AND quota = ?2 AND window < ?3",
            params![key[0], key[1], key[2]],
        )?;
        if units > 0 {
            tx.execute(
                "INSERT INTO quota_leases (app, quota, window, granted) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app, quota, window) DO UPDATE SET granted = granted + excluded.granted",
                params![key[0], key[1], key[2], units as i64],
            )?;
        }
        tx.commit()?;
        Ok(units)
    }

    fn give_back(&self, key: &[String; 3], units: u64) -> Result<(), UsageError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "UPDATE quota_leases SET granted = MAX(0, granted - ?4) WHERE app = ?1 AND quota = ?2 AND window = ?3",
            params![key[0], key[1], key[2], units as i64],
        )?;
        Ok(())
    }

    fn add_all(&self, app: &str, rows: &[((String, String), Counters)]) -> Result<(), UsageError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO usage (app, scope, window, calls, bytes_out, bytes_in, denials, invocations)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (app, scope, window) DO UPDATE SET
                   calls = calls + excluded.calls, bytes_out = bytes_out + excluded.bytes_out,
                   bytes_in = bytes_in + excluded.bytes_in, denials = denials + excluded.denials,
                   invocations = invocations + excluded.invocations",
            )?;
            for ((scope, window), c) in rows {
                stmt.execute(params![
                    app,
                    scope,
                    window,
                    c.calls as i64,
                    c.bytes_out as i64,
                    c.bytes_in as i64,
                    c.denials as i64,
                    c.invocations as i64
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
