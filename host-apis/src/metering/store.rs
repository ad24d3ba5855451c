//! Counters on disk: one SQLite table of (app, scope, window) rows to which
//! deltas are added.

use super::Counters;
use rusqlite::{Connection, params};
use std::path::Path;
use std::sync::Mutex;

pub struct UsageStore {
    conn: Mutex<Connection>,
}

impl UsageStore {
    pub fn open(path: &Path) -> Result<UsageStore, rusqlite::Error> {
        let conn = crate::sqlite::open_wal(
            path,
            "NORMAL",
            "CREATE TABLE IF NOT EXISTS usage (
                app TEXT NOT NULL, scope TEXT NOT NULL, window TEXT NOT NULL,
                calls INTEGER NOT NULL DEFAULT 0, bytes_out INTEGER NOT NULL DEFAULT 0,
                bytes_in INTEGER NOT NULL DEFAULT 0, denials INTEGER NOT NULL DEFAULT 0,
                invocations INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (app, scope, window))",
        )?;
        Ok(UsageStore {
            conn: Mutex::new(conn),
        })
    }

    pub fn get(&self, app: &str, scope: &str, window: &str) -> Result<Counters, rusqlite::Error> {
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

    /// Adds every delta in one transaction.
    pub fn add_all(
        &self,
        app: &str,
        rows: &[((String, String), Counters)],
    ) -> Result<(), rusqlite::Error> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
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
        tx.commit()
    }
}
