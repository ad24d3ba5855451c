//! The embedded span store: recent spans of every app in `traces.db`
//! (SQLite) in the data directory, so an operator can look at what an app
//! did without any collector.
//!
//! Spans arrive in batches from the telemetry pipeline's worker thread,
//! never from an invocation. Spans that carry `warden.app` (invocations,
//! schedule skips) are indexed by app and start time; their children are
//! found through the trace id. Retention: spans older than
//! `telemetry.keep` go, and past `telemetry.max_spans` the oldest go first;
//! pruning runs every few thousand spans.

use super::keys;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use rusqlite::{Connection, params};
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One stored span.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: String,
    pub app: Option<String>,
    pub name: String,
    /// Unix time in microseconds.
    pub start_us: i64,
    pub duration_us: i64,
    pub outcome: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// `[name, {attributes}]` per event.
    pub events: Vec<(String, serde_json::Map<String, serde_json::Value>)>,
}

pub struct SpanStore {
    conn: Mutex<Connection>,
    keep: Duration,
    max_spans: u64,
    since_prune: Mutex<u64>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spans (
  trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT NOT NULL,
  app TEXT, name TEXT NOT NULL, start_us INTEGER NOT NULL, duration_us INTEGER NOT NULL,
  outcome TEXT, attributes TEXT NOT NULL, events TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS spans_app ON spans(app, start_us) WHERE app IS NOT NULL;
CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_id);
CREATE INDEX IF NOT EXISTS spans_start ON spans(start_us);
";

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::I64(i) => serde_json::Value::from(*i),
        Value::F64(f) => serde_json::Value::from(*f),
        other => serde_json::Value::String(other.to_string()),
    }
}

fn attributes<'a>(
    kvs: impl Iterator<Item = &'a opentelemetry::KeyValue>,
) -> serde_json::Map<String, serde_json::Value> {
    kvs.map(|kv| (kv.key.to_string(), json_value(&kv.value)))
        .collect()
}

/// The stored form of a finished span.
pub fn stored(span: &SpanData) -> StoredSpan {
    let attrs = attributes(span.attributes.iter());
    let text = |key: &str| attrs.get(key).and_then(|v| v.as_str()).map(str::to_string);
    StoredSpan {
        trace_id: span.span_context.trace_id().to_string(),
        span_id: span.span_context.span_id().to_string(),
        parent_id: span.parent_span_id.to_string(),
        app: text(keys::APP),
        name: span.name.to_string(),
        start_us: micros(span.start_time),
        duration_us: span
            .end_time
            .duration_since(span.start_time)
            .map(|d| d.as_micros() as i64)
            .unwrap_or_default(),
        outcome: text(keys::OUTCOME),
        events: span
            .events
            .iter()
            .map(|e| (e.name.to_string(), attributes(e.attributes.iter())))
            .collect(),
        attributes: attrs,
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSpan> {
    let attrs: String = r.get(8)?;
    let events: String = r.get(9)?;
    Ok(StoredSpan {
        trace_id: r.get(0)?,
        span_id: r.get(1)?,
        parent_id: r.get(2)?,
        app: r.get(3)?,
        name: r.get(4)?,
        start_us: r.get(5)?,
        duration_us: r.get(6)?,
        outcome: r.get(7)?,
        attributes: serde_json::from_str(&attrs).unwrap_or_default(),
        events: serde_json::from_str(&events).unwrap_or_default(),
    })
}

const COLUMNS: &str =
    "trace_id, span_id, parent_id, app, name, start_us, duration_us, outcome, attributes, events";

/// An app's invocations in a window: counts and latency percentiles.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowStats {
    pub app: String,
    /// Start of the window (unix microseconds).
    pub start_us: i64,
    pub invocations: u64,
    /// Invocations that did not end `ok`.
    pub errors: u64,
    pub p50_us: i64,
    pub p99_us: i64,
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn window(app: &str, start_us: i64, mut rows: Vec<(i64, bool)>) -> WindowStats {
    rows.sort_unstable();
    let durations: Vec<i64> = rows.iter().map(|r| r.0).collect();
    WindowStats {
        app: app.to_string(),
        start_us,
        invocations: rows.len() as u64,
        errors: rows.iter().filter(|r| !r.1).count() as u64,
        p50_us: percentile(&durations, 50.0),
        p99_us: percentile(&durations, 99.0),
    }
}

/// Which traces to list.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    pub app: String,
    /// Only invocations that did not end `ok`.
    pub errors_only: bool,
    /// Unix microseconds; only traces that started after it.
    pub since_us: i64,
    pub limit: usize,
}

impl SpanStore {
    pub fn open(data_dir: &Path, keep: Duration, max_spans: u64) -> rusqlite::Result<SpanStore> {
        let conn = Connection::open(data_dir.join("traces.db"))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SpanStore {
            conn: Mutex::new(conn),
            keep,
            max_spans,
            since_prune: Mutex::new(0),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a batch in one transaction.
    pub fn record(&self, batch: &[SpanData]) -> rusqlite::Result<()> {
        {
            let conn = self.conn();
            let tx = conn.unchecked_transaction()?;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT INTO spans ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ))?;
                for span in batch {
                    let s = stored(span);
                    insert.execute(params![
                        s.trace_id,
                        s.span_id,
                        s.parent_id,
                        s.app,
                        s.name,
                        s.start_us,
                        s.duration_us,
                        s.outcome,
                        serde_json::Value::Object(s.attributes).to_string(),
                        serde_json::to_string(&s.events).unwrap_or_default(),
                    ])?;
                }
            }
            tx.commit()?;
        }
        let due = {
            let mut since = self.since_prune.lock().unwrap_or_else(|p| p.into_inner());
            *since += batch.len() as u64;
            let due = *since >= 5_000;
            if due {
                *since = 0;
            }
            due
        };
        if due {
            self.prune()?;
        }
        Ok(())
    }

    /// Drops spans past the retention time and the size cap.
    pub fn prune(&self) -> rusqlite::Result<u64> {
        let cutoff = micros(SystemTime::now()) - self.keep.as_micros() as i64;
        let conn = self.conn();
        let mut removed = conn.execute("DELETE FROM spans WHERE start_us < ?1", [cutoff])? as u64;
        let count: u64 = conn.query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))?;
        if count > self.max_spans {
            removed += conn.execute(
                "DELETE FROM spans WHERE rowid IN (SELECT rowid FROM spans ORDER BY start_us LIMIT ?1)",
                [count - self.max_spans],
            )? as u64;
        }
        Ok(removed)
    }

    /// The newest invocation spans of an app, newest first.
    pub fn roots(&self, q: &TraceQuery) -> rusqlite::Result<Vec<StoredSpan>> {
        let conn = self.conn();
        let errors = if q.errors_only {
            "AND outcome IS NOT NULL AND outcome != 'ok'"
        } else {
            ""
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM spans WHERE app = ?1 AND start_us > ?2 {errors} ORDER BY start_us DESC LIMIT ?3"
        ))?;
        stmt.query_map(params![q.app, q.since_us, q.limit as i64], row)?
            .collect()
    }

    /// Every stored span of a trace, in start order.
    pub fn trace(&self, trace_id: &str) -> rusqlite::Result<Vec<StoredSpan>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM spans WHERE trace_id = ?1 ORDER BY start_us"
        ))?;
        stmt.query_map([trace_id], row)?.collect()
    }

    /// Durations and success of `app`'s invocations since `since_us`
    /// (every app when `app` is `None`).
    fn invocations(
        &self,
        app: Option<&str>,
        since_us: i64,
    ) -> rusqlite::Result<Vec<(String, i64, i64, bool)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT app, start_us, duration_us, outcome = 'ok' FROM spans \
             WHERE app IS NOT NULL AND name = 'invocation' AND start_us > ?1 AND (?2 IS NULL OR app = ?2)",
        )?;
        stmt.query_map(params![since_us, app], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, Option<bool>>(3)?.unwrap_or(false),
            ))
        })?
        .collect()
    }

    /// Duration and success of each of `app`'s invocations since `since_us`.
    pub fn outcomes(&self, app: &str, since_us: i64) -> rusqlite::Result<Vec<(i64, bool)>> {
        Ok(self
            .invocations(Some(app), since_us)?
            .into_iter()
            .map(|(_, _, duration, ok)| (duration, ok))
            .collect())
    }

    /// Per-app counts and latency since `since_us` (for `warden top`).
    pub fn window_stats(&self, since_us: i64) -> rusqlite::Result<Vec<WindowStats>> {
        let mut by_app: std::collections::BTreeMap<String, Vec<(i64, bool)>> = Default::default();
        for (app, _, duration, ok) in self.invocations(None, since_us)? {
            by_app.entry(app).or_default().push((duration, ok));
        }
        Ok(by_app
            .into_iter()
            .map(|(app, rows)| window(&app, since_us, rows))
            .collect())
    }

    /// `app`'s invocations since `since_us` in buckets of `bucket_us`,
    /// oldest first, empty buckets included (for usage charts and SLOs).
    pub fn series(
        &self,
        app: &str,
        since_us: i64,
        bucket_us: i64,
    ) -> rusqlite::Result<Vec<WindowStats>> {
        let bucket_us = bucket_us.max(1);
        let first = since_us - since_us.rem_euclid(bucket_us);
        let now = micros(SystemTime::now());
        let count = ((now - first) / bucket_us + 1).clamp(1, 10_000) as usize;
        let mut buckets: Vec<Vec<(i64, bool)>> = vec![Vec::new(); count];
        for (_, start, duration, ok) in self.invocations(Some(app), since_us)? {
            let i = ((start - first) / bucket_us) as usize;
            if let Some(b) = buckets.get_mut(i) {
                b.push((duration, ok));
            }
        }
        Ok(buckets
            .into_iter()
            .enumerate()
            .map(|(i, rows)| window(app, first + i as i64 * bucket_us, rows))
            .collect())
    }

    pub fn count(&self) -> rusqlite::Result<u64> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM spans", [], |r| r.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let d: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&d, 50.0), 50);
        assert_eq!(percentile(&d, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        let w = window("a", 0, vec![(30, true), (10, false), (20, true)]);
        assert_eq!(
            (w.invocations, w.errors, w.p50_us, w.p99_us),
            (3, 1, 20, 30)
        );
    }
}
