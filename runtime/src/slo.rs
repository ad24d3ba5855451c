//! Service-level objectives per app, with burn-rate alerts.
//!
//! ```toml
//! [slo]
//! latency = { percentile = 99.0, threshold = "250ms" }  # 99% of invocations under 250 ms
//! error_rate = 0.01                                      # at most 1% fail
//! ```
//!
//! Each objective leaves an error budget (1% above). The burn rate of a
//! window is the share of bad invocations in it divided by the budget: 1
//! spends the budget exactly over the SLO period, 14.4 spends a 30-day
//! budget's 2% in an hour. Alerts follow the multi-window rule of the
//! Google SRE workbook — both windows must burn, so a short spike that is
//! over does not page and a slow leak is still caught:
//!
//! | severity | long window | short window | burn rate ≥ |
//! |----------|-------------|--------------|-------------|
//! | page     | 1 h         | 5 min        | 14.4        |
//! | ticket   | 6 h         | 30 min       | 6           |
//!
//! A long window needs at least 10 invocations. An alert is an audit event
//! `slo.burn` (actor `warden:slo`), an ALERT line on the host's log and a
//! post to `containment.alert_webhook` if set; it repeats at most once an
//! hour per app, objective and severity while the burn lasts.

use crate::audit::AuditEvent;
use crate::serve::Server;
use crate::telemetry::tally::{Tally, TallySource};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::config::slo::SloRequest;

impl SloRequest {
    /// Each objective as (name, error budget, latency threshold in µs).
    fn objectives(&self) -> Vec<(&'static str, f64, Option<i64>)> {
        let mut out = Vec::new();
        if let Some(rate) = self.error_rate {
            out.push(("error_rate", rate, None));
        }
        if let Some(l) = &self.latency {
            out.push((
                "latency",
                1.0 - l.percentile / 100.0,
                Some(l.threshold.get().as_micros() as i64),
            ));
        }
        out
    }
}

/// (severity, long window, short window, burn-rate threshold).
const RULES: [(&str, u64, u64, f64); 2] =
    [("page", 3600, 300, 14.4), ("ticket", 6 * 3600, 1800, 6.0)];
const MIN_EVENTS: u64 = 10;
const REPEAT: Duration = Duration::from_secs(3600);

/// `app`'s tallies over the last `seconds`, each window read once however
/// many objectives and rules look at it.
struct Windows<'a> {
    store: &'a dyn TallySource,
    app: &'a str,
    now: i64,
    read: HashMap<u64, Tally>,
}

impl Windows<'_> {
    /// Bad and total invocations in the window, for an objective with
    /// `latency_us` (latency) or without (errors).
    fn bad_total(&mut self, seconds: u64, latency_us: Option<i64>) -> (u64, u64) {
        let (store, app, since) = (self.store, self.app, self.now - seconds as i64 * 1_000_000);
        let t = self.read.entry(seconds).or_insert_with(|| {
            store.tally_since(app, since).unwrap_or_else(|e| {
                tracing::warn!("the SLO tallies of `{app}` cannot be read: {e}");
                Tally::default()
            })
        });
        let bad = match latency_us {
            Some(limit) => t.slower_than(limit),
            None => t.errors,
        };
        (bad, t.invocations)
    }
}

fn windows<'a>(store: &'a dyn TallySource, app: &'a str) -> Windows<'a> {
    Windows {
        store,
        app,
        now: now_us(),
        read: HashMap::new(),
    }
}

/// Bad share over the budget: 1.0 spends the budget exactly.
fn burn(bad: u64, total: u64, budget: f64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (bad as f64 / total as f64) / budget
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// Where each objective stands over the last hour and the last day: bad
/// and total invocations and the burn rate (for `warden inspect`).
pub(crate) fn status(
    store: &dyn TallySource,
    app: &str,
    slo: &SloRequest,
) -> Vec<serde_json::Value> {
    let mut read = windows(store, app);
    slo.objectives()
        .into_iter()
        .map(|(objective, budget, latency_us)| {
            let mut windows = serde_json::Map::new();
            for (label, seconds) in [("1h", 3600u64), ("24h", 86_400)] {
                let (bad, total) = read.bad_total(seconds, latency_us);
                windows.insert(
                    label.into(),
                    json!({ "bad": bad, "total": total, "burn_rate": burn(bad, total, budget) }),
                );
            }
            json!({
                "slo": objective,
                "budget": budget,
                "threshold_us": latency_us,
                "windows": windows,
            })
        })
        .collect()
}

/// One evaluation: the alerts that fire now (not yet debounced).
pub(crate) fn evaluate(
    store: &dyn TallySource,
    app: &str,
    slo: &SloRequest,
) -> Vec<serde_json::Value> {
    let mut read = windows(store, app);
    let mut alerts = Vec::new();
    for (objective, budget, latency_us) in slo.objectives() {
        // Each window is read once, the longest first: invocations tallied
        // while the reads go on then land in the shorter windows too, so a
        // page is never missed for a ticket raised on the same events
        // (which would raise both, seconds apart).
        let mut lengths: Vec<u64> = RULES.iter().flat_map(|r| [r.1, r.2]).collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        for seconds in lengths {
            read.bad_total(seconds, latency_us);
        }
        for (severity, long, short, threshold) in RULES {
            let (long_bad, long_total) = read.bad_total(long, latency_us);
            if long_total < MIN_EVENTS {
                continue;
            }
            let (short_bad, short_total) = read.bad_total(short, latency_us);
            let (long_burn, short_burn) = (
                burn(long_bad, long_total, budget),
                burn(short_bad, short_total, budget),
            );
            if long_burn >= threshold && short_burn >= threshold {
                alerts.push(json!({
                    "slo": objective,
                    "severity": severity,
                    "burn_rate": { "long": long_burn, "short": short_burn, "threshold": threshold },
                    "windows": { "long_s": long, "short_s": short },
                    "bad": long_bad,
                    "total": long_total,
                    "budget": budget,
                }));
                // A page covers the ticket for the same objective.
                break;
            }
        }
    }
    alerts
}

/// Evaluates every served app's objectives every `interval` until the
/// server is gone.
/// Each pass reads tallies (a database, on shared state) and appends
/// audit entries, so it runs on the blocking pool, never on a worker.
pub(crate) fn spawn(
    server: &Arc<Server>,
    store: Arc<dyn TallySource>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    let server = Arc::downgrade(server);
    tokio::spawn(async move {
        let last: Arc<std::sync::Mutex<Raised>> = Arc::default();
        loop {
            tokio::time::sleep(interval).await;
            let Some(server) = server.upgrade() else {
                break;
            };
            let (store, last) = (store.clone(), last.clone());
            let pass = tokio::task::spawn_blocking(move || {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                evaluate_all(&server, store.as_ref(), &mut last);
            });
            if pass.await.is_err() {
                break;
            }
        }
    })
}

/// How long ago `key`'s alert was last raised on the audit chain, if
/// within [`REPEAT`].
fn raised_within(
    entries: &[crate::audit::AuditEntry],
    key: &(String, String, String),
) -> Option<Duration> {
    entries
        .iter()
        .rev()
        .filter(|e| e.kind == "slo.burn" && e.app.as_deref() == Some(key.0.as_str()))
        .filter(|e| e.details["slo"] == key.1.as_str() && e.details["severity"] == key.2.as_str())
        .find_map(|e| {
            let at = humantime::parse_rfc3339(&e.time).ok()?;
            SystemTime::now().duration_since(at).ok()
        })
        .filter(|ago| *ago < REPEAT)
}

/// When each (app, objective, severity) alert was last raised.
type Raised = HashMap<(String, String, String), Instant>;

/// Evaluates every served app's objectives once, raising what fires and
/// was not raised within [`REPEAT`]. Only the host that runs the
/// schedules does: the tallies (a data directory's, or every node's on
/// shared state) are the same for every host reading them, and one alert
/// is what an operator wants, not one per node.
fn evaluate_all(server: &Server, store: &dyn TallySource, last: &mut Raised) {
    if !server.runs_schedules() {
        return;
    }
    // On shared state the evaluating node may have just taken over: what
    // the node before it raised is on the shared audit chain, read once
    // per pass if an alert is about to fire.
    let mut raised_before: Option<Vec<crate::audit::AuditEntry>> = None;
    for app in server.all_apps() {
        let Some(slo) = &app.manifest.slo else {
            continue;
        };
        for alert in evaluate(store, app.name(), slo) {
            let key = (
                app.name().to_string(),
                alert["slo"].as_str().unwrap_or_default().to_string(),
                alert["severity"].as_str().unwrap_or_default().to_string(),
            );
            if last.get(&key).is_some_and(|t| t.elapsed() < REPEAT) {
                continue;
            }
            if server.runtime().shared().is_some() {
                let entries = raised_before.get_or_insert_with(|| {
                    server
                        .runtime()
                        .audit()
                        .read_blocking()
                        .map(|(entries, _)| entries)
                        .unwrap_or_default()
                });
                if let Some(ago) = raised_within(entries, &key) {
                    last.insert(
                        key,
                        Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
                    );
                    continue;
                }
            }
            last.insert(key, Instant::now());
            raise(server, app.name(), app.version(), alert);
        }
    }
}

fn raise(server: &Server, app: &str, version: &str, alert: serde_json::Value) {
    let runtime = server.runtime();
    tracing::warn!(
        "ALERT: `{app}` is burning its {} budget ({} burn rate {:.1} over {} s)",
        alert["slo"].as_str().unwrap_or("?"),
        alert["severity"].as_str().unwrap_or("?"),
        alert["burn_rate"]["long"].as_f64().unwrap_or(0.0),
        alert["windows"]["long_s"]
    );
    let seq = runtime
        .audit()
        .append_blocking(AuditEvent {
            kind: crate::audit::AuditKind::SloBurn,
            app: Some(app.to_string()),
            actor: "warden:slo".into(),
            details: alert.clone(),
        })
        .map(|e| e.seq)
        .map_err(|e| tracing::warn!("slo.burn not audited: {e}"))
        .ok();
    if let Some(url) = runtime
        .platform()
        .containment
        .alert_webhook
        .as_deref()
        .and_then(|u| crate::alert::check_url(u).ok())
    {
        let mut body = alert;
        body["event"] = json!("slo.burn");
        body["app"] = json!(app);
        body["version"] = json!(version);
        body["audit_seq"] = json!(seq);
        crate::alert::deliver(url, body, runtime.platform().egress.clone());
    }
}
