//! Counters on disk: one SQLite table of (app, scope, window) rows to which
//! deltas are added.
//!
//! [`UsageBackend`] is the seam a shared database plugs into: async, with
//! typed errors ([`UsageError`]). [`UsageStore`] is the embedded default:
//! a call that need not wait for a lock runs in place, one that must wait
//! (or scans, for a report) runs on the blocking pool.

use super::{COUNTER_NAMES, Counters};
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

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
    /// Every app's and scope's counters of the UTC days that start in
    /// `from..to` (Unix seconds), for cost reports and budgets.
    async fn days(&self, from: u64, to: u64) -> Result<Vec<DayUsage>, UsageError>;
}

/// One app's counters in one scope on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUsage {
    pub app: String,
    /// A connector's name, `hosts`, or [`super::ALL`] for the app total.
    pub scope: String,
    /// When the day starts, Unix seconds.
    pub day: u64,
    pub counters: Counters,
}

/// The keys bounding the day windows that start in `from..to` (Unix
/// seconds), for a range scan of the `window` column: keys are
/// `d:<seconds>` and every second from 2001 to 2286 has ten digits, so the
/// text order of the keys is the order of the days (minute keys, `m:…`,
/// sort after every day key).
pub fn day_key_range(from: u64, to: u64) -> (String, String) {
    (format!("d:{from}"), format!("d:{to}"))
}

/// The day a `d:<seconds>` key names.
pub fn day_of_key(key: &str) -> Option<u64> {
    key.strip_prefix("d:")?.parse().ok()
}

/// `SELECT calls, …, cost_micros` as the tables name the counters.
pub fn counter_columns() -> String {
    COUNTER_NAMES.join(", ")
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

    /// Runs `call` here and now when it cannot have to wait (see
    /// [`UsageDb::now`]), else on the blocking pool, where an invocation
    /// waiting on it can still be ended by its deadline or a kill. So the
    /// common case takes no pool thread: a `warden run` counted its call on
    /// one it had to start, with two cross-core wake-ups, about a tenth of
    /// its 9 ms.
    async fn run<T: Send + 'static>(
        &self,
        call: impl Fn(&mut Connection) -> Result<T, UsageError> + Send + 'static,
    ) -> Result<T, UsageError> {
        if let Some(done) = crate::sqlite::in_place(|| self.db.now(&call)) {
            return done;
        }
        let db = self.db.clone();
        crate::sqlite::off_thread(move || call(&mut db.conn()))
            .await
            .map_err(UsageError::Interrupted)?
    }
}

#[async_trait::async_trait]
impl UsageBackend for UsageStore {
    async fn get(&self, app: &str, scope: &str, window: &str) -> Result<Counters, UsageError> {
        let (app, scope, window) = (app.to_owned(), scope.to_owned(), window.to_owned());
        self.run(move |conn| UsageDb::get(conn, &app, &scope, &window))
            .await
    }

    /// A local commit is never ambiguous to this process (its meter dies
    /// with it), so the batch name is not kept.
    async fn add_all(
        &self,
        app: &str,
        _batch: &str,
        rows: &[((String, String), Counters)],
    ) -> Result<(), UsageError> {
        let (app, rows) = (app.to_owned(), rows.to_vec());
        self.run(move |conn| UsageDb::add_all(conn, &app, &rows))
            .await
    }

    async fn lease(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        limit: u64,
    ) -> Result<u64, UsageError> {
        let key = [app, quota, window].map(str::to_owned);
        self.run(move |conn| UsageDb::lease(conn, &key, limit))
            .await
    }

    async fn give_back(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        units: u64,
    ) -> Result<(), UsageError> {
        let key = [app, quota, window].map(str::to_owned);
        self.run(move |conn| UsageDb::give_back(conn, &key, units))
            .await
    }

    async fn days(&self, from: u64, to: u64) -> Result<Vec<DayUsage>, UsageError> {
        // A scan of a month of rows, for reports: on the pool, never in
        // place on a worker.
        let db = self.db.clone();
        crate::sqlite::off_thread(move || UsageDb::days(&mut db.conn(), from, to))
            .await
            .map_err(UsageError::Interrupted)?
    }
}

/// The statements naming every counter, built once from [`COUNTER_NAMES`].
static GET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM usage WHERE app = ?1 AND scope = ?2 AND window = ?3",
        counter_columns()
    )
});
static DAYS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT app, scope, window, {} FROM usage WHERE window >= ?1 AND window < ?2",
        counter_columns()
    )
});
static ADD: LazyLock<String> = LazyLock::new(|| {
    let numbered: Vec<String> = (4..4 + COUNTER_NAMES.len())
        .map(|i| format!("?{i}"))
        .collect();
    let sums: Vec<String> = COUNTER_NAMES
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO usage (app, scope, window, {}) VALUES (?1, ?2, ?3, {})
         ON CONFLICT (app, scope, window) DO UPDATE SET {}",
        counter_columns(),
        numbered.join(", "),
        sums.join(", ")
    )
});

/// Reads the counters of a row from column `first` on.
fn counters_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Counters> {
    let mut values = [0u64; COUNTER_NAMES.len()];
    for (i, v) in values.iter_mut().enumerate() {
        *v = row.get::<_, i64>(first + i)?.max(0) as u64;
    }
    Ok(Counters::from_values(values))
}

/// Adds the counters a Warden before them did not keep to an existing
/// `usage` table. Two processes opening one old file at once may both try:
/// the loser's "duplicate column" is the winner's success.
fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    let have: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('usage')")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    for column in COUNTER_NAMES {
        if have.iter().any(|h| h == column) {
            continue;
        }
        match conn.execute_batch(&format!(
            "ALTER TABLE usage ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"
        )) {
            Ok(()) => {}
            Err(e) if e.to_string().contains("duplicate column") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The usage counters and quota leases, as this version makes them.
const USAGE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS usage (
        app TEXT NOT NULL, scope TEXT NOT NULL, window TEXT NOT NULL,
        calls INTEGER NOT NULL DEFAULT 0, bytes_out INTEGER NOT NULL DEFAULT 0,
        bytes_in INTEGER NOT NULL DEFAULT 0, denials INTEGER NOT NULL DEFAULT 0,
        invocations INTEGER NOT NULL DEFAULT 0,
        fuel INTEGER NOT NULL DEFAULT 0, cost_micros INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (app, scope, window));
     CREATE INDEX IF NOT EXISTS usage_window ON usage (window);
     CREATE TABLE IF NOT EXISTS quota_leases (
        app TEXT NOT NULL, quota TEXT NOT NULL, window TEXT NOT NULL,
        granted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (app, quota, window))";

struct UsageDb {
    conn: Mutex<Connection>,
}

impl UsageDb {
    fn open(path: &Path) -> Result<UsageDb, UsageError> {
        // The stamp names the counters added since the first version, so a
        // file from before them gains their columns once.
        let version = format!("{USAGE_SCHEMA}{COUNTER_NAMES:?}");
        let conn = crate::sqlite::open_wal_with(path, "NORMAL", &version, |conn| {
            conn.execute_batch(USAGE_SCHEMA)?;
            add_missing_columns(conn)
        })?;
        // Counters are the one file every `warden run` writes: its close
        // does not checkpoint either, and its commits are not synced (an
        // fsync is a tenth of a run). A crash of the process loses no
        // count (the WAL has it); a power cut may lose the last counts
        // since a checkpoint, as a server's counters, written once a
        // second, already may. Nothing the counters hold was acknowledged
        // to anyone.
        crate::sqlite::close_without_checkpoint(&conn)?;
        Ok(UsageDb {
            conn: Mutex::new(conn),
        })
    }

    /// The connection, once no other call of this process holds it.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` on the connection here and now when it cannot have to
    /// wait (see [`crate::sqlite::without_waiting`]). `None` when it would
    /// have to wait.
    fn now<T>(
        &self,
        call: impl FnOnce(&mut Connection) -> Result<T, UsageError>,
    ) -> Option<Result<T, UsageError>> {
        crate::sqlite::without_waiting(
            &self.conn,
            call,
            |e| matches!(e, UsageError::Sqlite(e) if crate::sqlite::busy(e)),
        )
    }

    fn get(
        conn: &mut Connection,
        app: &str,
        scope: &str,
        window: &str,
    ) -> Result<Counters, UsageError> {
        let mut stmt = conn.prepare_cached(&GET)?;
        let mut rows = stmt.query(params![app, scope, window])?;
        match rows.next()? {
            Some(row) => Ok(counters_at(row, 0)?),
            None => Ok(Counters::default()),
        }
    }

    fn days(conn: &mut Connection, from: u64, to: u64) -> Result<Vec<DayUsage>, UsageError> {
        let (low, high) = day_key_range(from, to);
        let mut stmt = conn.prepare_cached(&DAYS)?;
        let rows = stmt.query_map(params![low, high], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                counters_at(r, 3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (app, scope, key, counters) = row?;
            if let Some(day) = day_of_key(&key) {
                out.push(DayUsage {
                    app,
                    scope,
                    day,
                    counters,
                });
            }
        }
        Ok(out)
    }

    /// See [`UsageBackend::lease`]; `key` is (app, quota, window). The
    /// read and the update are one IMMEDIATE transaction, so processes
    /// sharing the file take turns.
    fn lease(conn: &mut Connection, key: &[String; 3], limit: u64) -> Result<u64, UsageError> {
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

    fn give_back(conn: &mut Connection, key: &[String; 3], units: u64) -> Result<(), UsageError> {
        conn.execute(
            "UPDATE quota_leases SET granted = MAX(0, granted - ?4) WHERE app = ?1 AND quota = ?2 AND window = ?3",
            params![key[0], key[1], key[2], units as i64],
        )?;
        Ok(())
    }

    fn add_all(
        conn: &mut Connection,
        app: &str,
        rows: &[((String, String), Counters)],
    ) -> Result<(), UsageError> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(&ADD)?;
            for ((scope, window), c) in rows {
                let mut values: Vec<rusqlite::types::Value> = vec![
                    app.to_owned().into(),
                    scope.clone().into(),
                    window.clone().into(),
                ];
                values.extend(c.values().map(|v| {
                    rusqlite::types::Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
                }));
                stmt.execute(rusqlite::params_from_iter(values))?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
