//! The embedded span store: recent spans of every app in `traces.db`
//! (SQLite) in the data directory, so an operator can look at what an app
//! did without any collector.
//!
//! Spans arrive in batches from the telemetry pipeline's worker thread,
//! never from an invocation. One row per root span (an invocation, a
//! schedule skip, a purge) holds the root and, as JSON, its children:
//! children end before their root, so they wait (at most 30 s) until it
//! arrives — one insert per invocation instead of one per span. Roots are
//! indexed by app and start time and by trace id. Retention: rows older
//! than `telemetry.keep` go; each app keeps at most
//! `telemetry.max_spans_per_app` rows, and past `telemetry.max_spans` the
//! app with the most rows loses first — its successes before its
//! failures — so one app flooding the store evicts only its own traces.
//! Pruning runs every few thousand rows.

use super::keys;
use super::tally::Tally;
use opentelemetry::Value;
use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::SpanData;
use rusqlite::{Connection, params};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One stored span.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
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
    /// Most rows one app keeps (its share), whatever room is left.
    per_app: u64,
    since_prune: Mutex<u64>,
    /// Successful invocation traces kept per app per second (0: all);
    /// failed ones are always kept. Tallies count every invocation.
    ok_per_second: u64,
    /// Per app: the current second and the traces kept in it.
    kept: Mutex<HashMap<String, (i64, u64)>>,
    /// Successful traces not kept because of `ok_per_second`.
    pub sampled_out: std::sync::atomic::AtomicU64,
    /// Children waiting for their root, by trace id.
    waiting: Mutex<HashMap<TraceId, (std::time::Instant, Vec<Pending>)>>,
    /// Where each grown tally bucket also goes when nodes share state.
    shared: std::sync::OnceLock<std::sync::Arc<dyn super::tally::TallySink>>,
}

/// One app's rows in the store, and how many of them to cut.
#[derive(Debug, Clone, PartialEq)]
struct Share {
    app: Option<String>,
    rows: u64,
    /// Its oldest row: of apps with as many rows, the oldest loses first.
    first: i64,
    cut: u64,
}

/// Decides how many rows each app loses: first every app above `per_app`
/// down to it, then, while the store is above `max`, always the app with
/// the most rows. So one app flooding the store only ever evicts its own
/// traces, and an app with few traces keeps them all.
fn plan_cuts(shares: &mut [Share], per_app: u64, max: u64) {
    let mut total = 0;
    for share in shares.iter_mut() {
        share.cut = share.rows.saturating_sub(per_app);
        total += share.rows - share.cut;
    }
    let mut heap: std::collections::BinaryHeap<(u64, std::cmp::Reverse<i64>, usize)> = shares
        .iter()
        .enumerate()
        .map(|(i, s)| (s.rows - s.cut, std::cmp::Reverse(s.first), i))
        .collect();
    while total > max {
        let Some((kept, first, i)) = heap.pop() else {
            break;
        };
        // Cut the largest down to the next largest (at least one row).
        let next = heap.peek().map(|top| top.0).unwrap_or(0);
        let cut = (kept - next).max(1).min(total - max).min(kept);
        shares[i].cut += cut;
        total -= cut;
        if kept > cut {
            heap.push((kept - cut, first, i));
        }
    }
}

/// Deletes the `n` oldest rows of `app`: successful traces first, then
/// failures (which an app's own flood can evict, no other app's).
fn cut_oldest(conn: &Connection, app: Option<&str>, n: u64) -> rusqlite::Result<u64> {
    let ok = conn.execute(
        "DELETE FROM trace_rows WHERE rowid IN (SELECT rowid FROM trace_rows WHERE app IS ?1 AND outcome IS 'ok' ORDER BY start_us LIMIT ?2)",
        params![app, n as i64],
    )? as u64;
    if ok >= n {
        return Ok(ok);
    }
    let rest = conn.execute(
        "DELETE FROM trace_rows WHERE rowid IN (SELECT rowid FROM trace_rows WHERE app IS ?1 ORDER BY start_us LIMIT ?2)",
        params![app, (n - ok) as i64],
    )? as u64;
    Ok(ok + rest)
}

/// The resolution of the per-app tallies: 10 s.
const TALLY_US: i64 = 10_000_000;

/// How long a child waits for its root before it is stored alone.
const WAIT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS trace_rows (
  trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT NOT NULL,
  app TEXT, name TEXT NOT NULL, start_us INTEGER NOT NULL, duration_us INTEGER NOT NULL,
  outcome TEXT, attributes TEXT NOT NULL, events TEXT NOT NULL, children TEXT NOT NULL,
  trace_key INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS trace_rows_app ON trace_rows(app, start_us) WHERE app IS NOT NULL;
CREATE INDEX IF NOT EXISTS trace_rows_key ON trace_rows(trace_key);
CREATE TABLE IF NOT EXISTS usage_buckets (
  app TEXT NOT NULL, bucket INTEGER NOT NULL, tally TEXT NOT NULL, PRIMARY KEY (app, bucket));
";

/// A short integer key for a trace id (its first 64 bits), so the trace
/// index holds integers, not 32-character strings.
fn trace_key(trace_id: &str) -> i64 {
    u64::from_str_radix(trace_id.get(..16).unwrap_or("0"), 16).unwrap_or(0) as i64
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// The stored form of a finished span (what the store would write, read
/// back): for rendering spans that were never stored (`warden run --trace`).
pub fn stored(span: &SpanData) -> StoredSpan {
    serde_json::from_str(&Pending::of(span).json()).unwrap_or_default()
}

/// Span attributes as a JSON object, serialized straight from the span.
struct AttrsJson<'a>(&'a [opentelemetry::KeyValue]);

impl Serialize for AttrsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for kv in self.0 {
            match &kv.value {
                Value::Bool(b) => map.serialize_entry(kv.key.as_str(), b)?,
                Value::I64(i) => map.serialize_entry(kv.key.as_str(), i)?,
                Value::F64(f) => map.serialize_entry(kv.key.as_str(), f)?,
                Value::String(text) => map.serialize_entry(kv.key.as_str(), text.as_str())?,
                other => map.serialize_entry(kv.key.as_str(), &other.to_string())?,
            }
        }
        map.end()
    }
}

/// A finished span ready to be written: ids, indexed fields, and its
/// attributes and events already as JSON.
struct Pending {
    trace_id: String,
    span_id: String,
    parent_id: String,
    app: Option<String>,
    name: String,
    start_us: i64,
    duration_us: i64,
    outcome: Option<String>,
    attributes: String,
    events: String,
}

/// A string attribute of a span, borrowed.
fn text_attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a str> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .and_then(|kv| match &kv.value {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// A root: it names an app, or it has no local parent.
fn is_root(span: &SpanData) -> bool {
    text_attribute(span, keys::APP).is_some()
        || span.parent_span_id == opentelemetry::trace::SpanId::INVALID
}

fn duration_us(span: &SpanData) -> i64 {
    span.end_time
        .duration_since(span.start_time)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

impl Pending {
    fn of(span: &SpanData) -> Pending {
        let text = |key: &str| text_attribute(span, key).map(str::to_string);
        let events: Vec<(&str, AttrsJson<'_>)> = span
            .events
            .iter()
            .map(|e| (e.name.as_ref(), AttrsJson(&e.attributes)))
            .collect();
        Pending {
            trace_id: span.span_context.trace_id().to_string(),
            span_id: span.span_context.span_id().to_string(),
            parent_id: span.parent_span_id.to_string(),
            app: text(keys::APP),
            name: span.name.to_string(),
            start_us: micros(span.start_time),
            duration_us: duration_us(span),
            outcome: text(keys::OUTCOME),
            attributes: serde_json::to_string(&AttrsJson(&span.attributes)).unwrap_or_default(),
            events: serde_json::to_string(&events).unwrap_or_default(),
        }
    }

    /// This span as a [`StoredSpan`] JSON object (for a root's children).
    fn json(&self) -> String {
        let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let optional = |s: &Option<String>| s.as_deref().map(text).unwrap_or_else(|| "null".into());
        format!(
            "{{\"trace_id\":{},\"span_id\":{},\"parent_id\":{},\"app\":{},\"name\":{},\"start_us\":{},\"duration_us\":{},\"outcome\":{},\"attributes\":{},\"events\":{}}}",
            text(&self.trace_id),
            text(&self.span_id),
            text(&self.parent_id),
            optional(&self.app),
            text(&self.name),
            self.start_us,
            self.duration_us,
            optional(&self.outcome),
            self.attributes,
            self.events
        )
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
pub(crate) struct WindowStats {
    pub app: String,
    /// Start of the window (unix microseconds).
    pub start_us: i64,
    pub invocations: u64,
    /// Invocations that did not end `ok`.
    pub errors: u64,
    pub p50_us: i64,
    pub p99_us: i64,
}

fn window(app: &str, start_us: i64, tally: &Tally) -> WindowStats {
    WindowStats {
        app: app.to_string(),
        start_us,
        invocations: tally.invocations,
        errors: tally.errors,
        p50_us: tally.percentile(50.0),
        p99_us: tally.percentile(99.0),
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
    /// Only the invocation answered with this `x-request-id`.
    pub request_id: Option<String>,
}

impl SpanStore {
    pub fn open(data_dir: &Path, keep: Duration, max_spans: u64) -> rusqlite::Result<SpanStore> {
        // Telemetry, not records: a power cut may lose the last spans.
        let conn = warden_host_apis::sqlite::open_wal(&data_dir.join("traces.db"), "OFF", SCHEMA)?;
        Ok(SpanStore {
            conn: Mutex::new(conn),
            keep,
            max_spans,
            per_app: max_spans,
            since_prune: Mutex::new(0),
            waiting: Mutex::default(),
            ok_per_second: 0,
            kept: Mutex::default(),
            sampled_out: std::sync::atomic::AtomicU64::new(0),
            shared: std::sync::OnceLock::new(),
        })
    }

    /// Also hands every tally bucket this store adds to, as it then
    /// stands, to `sink` (set once, when the node knows its shared state).
    pub(crate) fn share_tallies(&self, sink: std::sync::Arc<dyn super::tally::TallySink>) {
        let _ = self.shared.set(sink);
    }

    /// Keeps at most `n` trace rows of one app (its share of the store).
    pub(crate) fn per_app(mut self, n: u64) -> SpanStore {
        self.per_app = n;
        self
    }

    /// Keeps at most `n` successful invocation traces per app per second
    /// (0 keeps all).
    pub(crate) fn sampled(mut self, n: u64) -> SpanStore {
        self.ok_per_second = n;
        self
    }

    /// Whether to keep this root's trace row (invocations are tallied
    /// either way).
    fn keep(&self, root: &SpanData) -> bool {
        let (Some(app), true) = (text_attribute(root, keys::APP), self.ok_per_second > 0) else {
            return true;
        };
        if text_attribute(root, keys::OUTCOME) != Some("ok") {
            return true;
        }
        let second = micros(root.start_time).div_euclid(1_000_000);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let entry = kept.entry(app.to_string()).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        if entry.1 < self.ok_per_second {
            entry.1 += 1;
            true
        } else {
            self.sampled_out
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a batch: each kept root with its children, and the tallies
    /// of every invocation. Roots decide first whether their trace is kept,
    /// so a sampled-out trace costs no JSON; children whose root is in a
    /// later batch wait for it.
    pub fn record(&self, batch: &[SpanData]) -> rusqlite::Result<()> {
        let mut tallies: HashMap<(String, i64), Tally> = HashMap::new();
        let mut kept: HashMap<TraceId, bool> = HashMap::new();
        for root in batch.iter().filter(|s| is_root(s)) {
            if let (Some(app), "invocation") = (text_attribute(root, keys::APP), root.name.as_ref())
            {
                tallies
                    .entry((
                        app.to_string(),
                        micros(root.start_time).div_euclid(TALLY_US),
                    ))
                    .or_default()
                    .add(
                        duration_us(root),
                        text_attribute(root, keys::OUTCOME) == Some("ok"),
                    );
            }
            kept.insert(root.span_context.trace_id(), self.keep(root));
        }
        let mut rows: Vec<(Pending, Vec<Pending>)> = Vec::new();
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            for span in batch.iter().filter(|s| !is_root(s)) {
                let trace = span.span_context.trace_id();
                if kept.get(&trace) != Some(&false) {
                    waiting
                        .entry(trace)
                        .or_insert_with(|| (std::time::Instant::now(), Vec::new()))
                        .1
                        .push(Pending::of(span));
                }
            }
            for root in batch.iter().filter(|s| is_root(s)) {
                let trace = root.span_context.trace_id();
                let children = waiting.remove(&trace).map(|(_, c)| c).unwrap_or_default();
                if kept.get(&trace) == Some(&true) {
                    rows.push((Pending::of(root), children));
                }
            }
            let expired: Vec<TraceId> = waiting
                .iter()
                .filter(|(_, (since, _))| since.elapsed() >= WAIT)
                .map(|(id, _)| *id)
                .collect();
            for id in expired {
                if let Some((_, children)) = waiting.remove(&id) {
                    rows.extend(children.into_iter().map(|c| (c, Vec::new())));
                }
            }
        }
        self.insert(&rows, &tallies)
    }

    /// Adds `tallies` to the stored 10-second buckets, in `tx`; returns
    /// each bucket as it now stands.
    fn add_tallies(
        tx: &rusqlite::Transaction<'_>,
        tallies: &HashMap<(String, i64), Tally>,
    ) -> rusqlite::Result<Vec<(String, i64, Tally)>> {
        let mut merged = Vec::with_capacity(tallies.len());
        let mut read =
            tx.prepare_cached("SELECT tally FROM usage_buckets WHERE app = ?1 AND bucket = ?2")?;
        let mut write = tx.prepare_cached(
            "INSERT OR REPLACE INTO usage_buckets (app, bucket, tally) VALUES (?1, ?2, ?3)",
        )?;
        for ((app, bucket), add) in tallies {
            let mut tally: Tally = read
                .query_row(params![app, bucket], |r| r.get::<_, String>(0))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            tally.merge(add);
            write.execute(params![
                app,
                bucket,
                serde_json::to_string(&tally).unwrap_or_default()
            ])?;
            merged.push((app.clone(), *bucket, tally));
        }
        Ok(merged)
    }

    /// Stores the children still waiting for a root (at shutdown).
    pub(crate) fn flush_waiting(&self) -> rusqlite::Result<()> {
        let rows: Vec<(Pending, Vec<Pending>)> = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .flat_map(|(_, (_, children))| children)
            .map(|c| (c, Vec::new()))
            .collect();
        self.insert(&rows, &HashMap::new())
    }

    /// Writes trace rows and tallies in one transaction.
    fn insert(
        &self,
        rows: &[(Pending, Vec<Pending>)],
        tallies: &HashMap<(String, i64), Tally>,
    ) -> rusqlite::Result<()> {
        if rows.is_empty() && tallies.is_empty() {
            return Ok(());
        }
        {
            let conn = self.conn();
            let tx = conn.unchecked_transaction()?;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT INTO trace_rows ({COLUMNS}, children, trace_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ))?;
                for (s, children) in rows {
                    let children = format!(
                        "[{}]",
                        children
                            .iter()
                            .map(Pending::json)
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                    insert.execute(params![
                        s.trace_id,
                        s.span_id,
                        s.parent_id,
                        s.app,
                        s.name,
                        s.start_us,
                        s.duration_us,
                        s.outcome,
                        s.attributes,
                        s.events,
                        children,
                        trace_key(&s.trace_id),
                    ])?;
                }
            }
            let merged = Self::add_tallies(&tx, tallies)?;
            tx.commit()?;
            if let Some(sink) = self.shared.get() {
                sink.publish(merged);
            }
        }
        let due = {
            let mut since = self.since_prune.lock().unwrap_or_else(|p| p.into_inner());
            *since += rows.len() as u64;
            let due = *since >= 2_000;
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

    /// Drops rows past the retention time and the size cap, oldest first
    /// (rows are walked in insertion order, which is time order).
    pub(crate) fn prune(&self) -> rusqlite::Result<u64> {
        let cutoff = micros(SystemTime::now()) - self.keep.as_micros() as i64;
        let conn = self.conn();
        let mut removed = conn.execute(
            "DELETE FROM trace_rows WHERE rowid < (SELECT COALESCE((SELECT rowid FROM trace_rows WHERE start_us >= ?1 ORDER BY rowid LIMIT 1), (SELECT MAX(rowid) + 1 FROM trace_rows)))",
            [cutoff],
        )? as u64;
        let mut shares: Vec<Share> = conn
            .prepare("SELECT app, COUNT(*), MIN(rowid) FROM trace_rows GROUP BY app")?
            .query_map([], |r| {
                Ok(Share {
                    app: r.get(0)?,
                    rows: r.get::<_, i64>(1)? as u64,
                    first: r.get(2)?,
                    cut: 0,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        plan_cuts(&mut shares, self.per_app, self.max_spans);
        for share in shares.iter().filter(|s| s.cut > 0) {
            removed += cut_oldest(&conn, share.app.as_deref(), share.cut)?;
        }
        Ok(removed)
    }

    /// Removes every span and usage tally of `app` (an app deleted by an
    /// admin: its name may pass to another owner, its history must not).
    /// Returns the invocations removed.
    pub fn delete_app(&self, app: &str) -> rusqlite::Result<u64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let removed = tx.execute("DELETE FROM trace_rows WHERE app = ?1", [app])? as u64;
        tx.execute("DELETE FROM usage_buckets WHERE app = ?1", [app])?;
        tx.commit()?;
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
        // The id as its attribute is written, so only that attribute matches.
        let needle = q.request_id.as_ref().map(|id| {
            format!(
                "{}:{}",
                serde_json::Value::from(super::keys::REQUEST_ID),
                serde_json::Value::from(id.as_str())
            )
        });
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM trace_rows WHERE app = ?1 AND start_us > ?2 {errors} AND (?4 IS NULL OR instr(attributes, ?4) > 0) ORDER BY start_us DESC LIMIT ?3"
        ))?;
        stmt.query_map(params![q.app, q.since_us, q.limit as i64, needle], row)?
            .collect()
    }

    /// Every stored span of a trace, in start order.
    pub fn trace(&self, trace_id: &str) -> rusqlite::Result<Vec<StoredSpan>> {
        self.trace_rows(trace_id, None)
    }

    /// The spans of `app` in one trace. A trace id is chosen by whoever
    /// sends the `traceparent`, so other apps' invocations may share it:
    /// they are left out, and so are spans whose app is not known.
    pub fn trace_of(&self, trace_id: &str, app: &str) -> rusqlite::Result<Vec<StoredSpan>> {
        self.trace_rows(trace_id, Some(app))
    }

    fn trace_rows(&self, trace_id: &str, app: Option<&str>) -> rusqlite::Result<Vec<StoredSpan>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS}, children FROM trace_rows WHERE trace_key = ?1 AND trace_id = ?2 AND (?3 IS NULL OR app = ?3)"
        ))?;
        let rows = stmt.query_map(params![trace_key(trace_id), trace_id, app], |r| {
            let children: String = r.get(10)?;
            Ok((row(r)?, children))
        })?;
        let mut spans = Vec::new();
        for found in rows {
            let (root, children) = found?;
            spans.push(root);
            spans.extend(serde_json::from_str::<Vec<StoredSpan>>(&children).unwrap_or_default());
        }
        spans.sort_by_key(|s| s.start_us);
        Ok(spans)
    }

    /// 10-second tallies since `since_us` (every app when `app` is `None`).
    fn tallies(
        &self,
        app: Option<&str>,
        since_us: i64,
    ) -> rusqlite::Result<Vec<(String, i64, Tally)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT app, bucket, tally FROM usage_buckets WHERE bucket >= ?1 AND (?2 IS NULL OR app = ?2)",
        )?;
        stmt.query_map(params![since_us.div_euclid(TALLY_US), app], |r| {
            let text: String = r.get(2)?;
            Ok((
                r.get(0)?,
                r.get::<_, i64>(1)? * TALLY_US,
                serde_json::from_str(&text).unwrap_or_default(),
            ))
        })?
        .collect()
    }

    /// All of `app`'s invocations since `since_us` (10-second resolution).
    pub(crate) fn tally(&self, app: &str, since_us: i64) -> rusqlite::Result<Tally> {
        let mut total = Tally::default();
        for (_, _, t) in self.tallies(Some(app), since_us)? {
            total.merge(&t);
        }
        Ok(total)
    }

    /// Per-app counts and latency since `since_us` (for `warden top`).
    pub(crate) fn window_stats(&self, since_us: i64) -> rusqlite::Result<Vec<WindowStats>> {
        let mut by_app: std::collections::BTreeMap<String, Tally> = Default::default();
        for (app, _, t) in self.tallies(None, since_us)? {
            by_app.entry(app).or_default().merge(&t);
        }
        Ok(by_app
            .into_iter()
            .map(|(app, t)| window(&app, since_us, &t))
            .collect())
    }

    /// `app`'s invocations since `since_us` in buckets of `bucket_us` (a
    /// multiple of 10 s), oldest first, empty buckets included.
    pub(crate) fn series(
        &self,
        app: &str,
        since_us: i64,
        bucket_us: i64,
    ) -> rusqlite::Result<Vec<WindowStats>> {
        let bucket_us = bucket_us.max(TALLY_US);
        let first = since_us - since_us.rem_euclid(bucket_us);
        let now = micros(SystemTime::now());
        let count = ((now - first) / bucket_us + 1).clamp(1, 10_000) as usize;
        let mut buckets: Vec<Tally> = vec![Tally::default(); count];
        for (_, start, t) in self.tallies(Some(app), first)? {
            if let Some(b) = buckets.get_mut(((start - first) / bucket_us) as usize) {
                b.merge(&t);
            }
        }
        Ok(buckets
            .iter()
            .enumerate()
            .map(|(i, t)| window(app, first + i as i64 * bucket_us, t))
            .collect())
    }

    /// Stored rows (roots, and children whose root never came).
    pub fn count(&self) -> rusqlite::Result<u64> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM trace_rows", [], |r| r.get(0))
    }
}

impl super::tally::TallySource for SpanStore {
    fn tally_since(&self, app: &str, since_us: i64) -> Result<Tally, String> {
        self.tally(app, since_us).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};

    /// Finished spans: per app one invocation with two children, started
    /// `age` ago.
    fn spans(apps: &[&str], age: Duration) -> Vec<SpanData> {
        let with_outcomes: Vec<(&str, &str)> = apps.iter().map(|a| (*a, "ok")).collect();
        spans_with(&with_outcomes, age)
    }

    /// Like [`spans`], each root with its own outcome.
    fn spans_with(apps: &[(&str, &str)], age: Duration) -> Vec<SpanData> {
        let (provider, exporter) = crate::telemetry::in_memory();
        let tracer = provider.tracer("test");
        let start = SystemTime::now() - age;
        for (app, outcome) in apps {
            let root = tracer
                .span_builder("invocation")
                .with_start_time(start)
                .with_attributes([
                    KeyValue::new(keys::APP, app.to_string()),
                    KeyValue::new(keys::OUTCOME, outcome.to_string()),
                ])
                .start(&tracer);
            let cx = opentelemetry::Context::new().with_span(root);
            for name in ["instantiate", "call"] {
                let mut child = tracer
                    .span_builder(name)
                    .with_start_time(start)
                    .start_with_context(&tracer, &cx);
                child.end_with_timestamp(start + Duration::from_micros(10));
            }
            cx.span()
                .end_with_timestamp(start + Duration::from_micros(30));
        }
        exporter.get_finished_spans().unwrap_or_default()
    }

    fn store(keep: Duration, max: u64) -> (tempfile::TempDir, SpanStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let store = SpanStore::open(dir.path(), keep, max).unwrap_or_else(|e| unreachable!("{e}"));
        (dir, store)
    }

    #[test]
    fn a_root_and_its_children_are_one_row_and_come_back_as_one_trace() {
        let (_dir, store) = store(Duration::from_secs(3600), 1000);
        let batch = spans(&["a"], Duration::ZERO);
        // Children first, root in the next batch: the children wait.
        store
            .record(&batch[..2])
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(store.count().ok(), Some(0));
        store
            .record(&batch[2..])
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(store.count().ok(), Some(1));
        let q = TraceQuery {
            app: "a".into(),
            errors_only: false,
            since_us: 0,
            limit: 10,
            request_id: None,
        };
        let roots = store.roots(&q).unwrap_or_default();
        let trace = store.trace(&roots[0].trace_id).unwrap_or_default();
        let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 3);
        assert!(names.contains(&"instantiate") && names.contains(&"call"));
    }

    #[test]
    fn deleting_an_app_removes_its_spans_and_tallies_and_no_one_elses() {
        let (_dir, store) = store(Duration::from_secs(3600), 1000);
        store
            .record(&spans(&["gone", "kept", "gone"], Duration::ZERO))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(store.count().ok(), Some(3));
        assert_eq!(store.delete_app("gone").ok(), Some(2));
        assert_eq!(store.count().ok(), Some(1));
        assert_eq!(store.tally("gone", 0).map(|t| t.invocations).ok(), Some(0));
        assert_eq!(store.tally("kept", 0).map(|t| t.invocations).ok(), Some(1));
    }

    #[test]
    fn past_the_per_second_budget_successes_are_tallied_but_not_kept() {
        let (_dir, store) = store(Duration::from_secs(3600), 1000);
        let store = store.sampled(2);
        store
            .record(&spans(&["a", "a", "a", "a", "a"], Duration::ZERO))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(store.count().ok(), Some(2));
        assert_eq!(
            store.sampled_out.load(std::sync::atomic::Ordering::Relaxed),
            3
        );
        let tally = store.tally("a", 0).unwrap_or_default();
        assert_eq!((tally.invocations, tally.errors), (5, 0));
        let top = store.window_stats(0).unwrap_or_default();
        assert_eq!(top[0].invocations, 5);
        assert!(top[0].p99_us >= 30, "{:?}", top[0]);
    }

    #[test]
    fn pruning_drops_rows_past_the_age_and_the_count_caps() {
        let (_dir, store) = store(Duration::from_secs(3600), 5);
        store
            .record(&spans(&["old1", "old2"], Duration::from_secs(7200)))
            .unwrap_or_else(|e| unreachable!("{e}"));
        store
            .record(&spans(
                &["n1", "n2", "n3", "n4", "n5", "n6"],
                Duration::ZERO,
            ))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(store.count().ok(), Some(8));
        assert_eq!(
            store.prune().ok(),
            Some(3),
            "2 too old, then 1 over the cap of 5"
        );
        let q = |app: &str| TraceQuery {
            app: app.into(),
            errors_only: false,
            since_us: 0,
            limit: 10,
            request_id: None,
        };
        assert!(store.roots(&q("old1")).unwrap_or_default().is_empty());
        assert!(store.roots(&q("n1")).unwrap_or_default().is_empty());
        assert_eq!(store.roots(&q("n6")).unwrap_or_default().len(), 1);
    }

    #[test]
    fn a_flooding_app_evicts_only_its_own_traces_and_keeps_its_failures_longest() {
        let (_dir, store) = store(Duration::from_secs(3600), 10);
        let store = store.per_app(8);
        let mut quiet = vec![("quiet", "ok"), ("quiet", "trap")];
        let mut flood: Vec<(&str, &str)> = (0..20)
            .map(|i| ("flood", if i % 7 == 0 { "timeout" } else { "ok" }))
            .collect();
        quiet.append(&mut flood);
        store
            .record(&spans_with(&quiet, Duration::ZERO))
            .unwrap_or_else(|e| unreachable!("{e}"));
        store.prune().unwrap_or_else(|e| unreachable!("{e}"));
        let q = |app: &str, errors_only| TraceQuery {
            app: app.into(),
            errors_only,
            since_us: 0,
            limit: 100,
            request_id: None,
        };
        assert_eq!(store.roots(&q("quiet", false)).unwrap_or_default().len(), 2);
        assert_eq!(store.roots(&q("flood", false)).unwrap_or_default().len(), 8);
        assert_eq!(
            store.roots(&q("flood", true)).unwrap_or_default().len(),
            3,
            "the flood's failures outlive its successes"
        );
    }

    #[test]
    fn over_the_total_the_app_with_the_most_rows_is_cut_first() {
        let share = |app: &str, rows, first| Share {
            app: Some(app.into()),
            rows,
            first,
            cut: 0,
        };
        let mut shares = vec![share("a", 50, 1), share("b", 5, 2), share("c", 30, 3)];
        plan_cuts(&mut shares, 40, 60);
        let cuts: Vec<u64> = shares.iter().map(|s| s.cut).collect();
        assert_eq!(
            cuts,
            [10 + 13, 0, 2],
            "a to its share of 40, then a and c levelled at 27 and 28"
        );
        let kept: u64 = shares.iter().map(|s| s.rows - s.cut).sum();
        assert_eq!(kept, 60);
    }
}
