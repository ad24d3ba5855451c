//! Forwarding the audit log to a SIEM: every entry, at least once and in
//! order, to each sink in `[[audit.sinks]]` — OTLP logs, syslog (RFC 5424
//! over TCP or TLS) or an HTTPS webhook.
//!
//! Each sink is a task that reads the entries after its position, sends
//! them as one batch, and moves its position past them only when the
//! receiver has taken them; a batch that fails is sent again, whole,
//! after a pause that doubles from 250 ms up to the sink's `max_backoff`.
//! So a receiver that is down for an hour gets everything, in order,
//! when it comes back, and may see the batch it failed on twice.
//!
//! The position is kept with the log (`audit.forward.json` beside
//! `audit.jsonl`, or the `audit_forward` table on shared state), so a
//! restart — or another node taking over — goes on where the last
//! delivery ended. Only the host that holds the scheduler lease forwards
//! (one per data directory, one per cluster), so two nodes never send the
//! same sink's entries at once. `GET /v1/telemetry` shows each sink's lag.

pub(crate) mod otlp;
pub(crate) mod syslog;
mod trust;
pub(crate) mod webhook;

use crate::audit::{AuditBackend, AuditEntry};
use crate::config::audit_sinks::{SinkKind, SinkSettings};
use crate::runtime::Runtime;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How often a sink that is caught up looks for new entries.
const POLL: Duration = Duration::from_millis(500);

/// The first pause after a failed delivery (then doubled, up to the
/// sink's `max_backoff`).
const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// A receiver.
#[async_trait::async_trait]
pub(crate) trait Sink: Send {
    /// Sends `entries` (in order, one batch); `Ok` only once the receiver
    /// has taken them all, as far as its protocol can tell.
    async fn deliver(&mut self, entries: &[AuditEntry]) -> Result<(), String>;
    /// Drops any connection after a failure, so the next delivery starts
    /// afresh.
    fn reset(&mut self);
}

/// Kinds a SIEM should see as warnings (syslog severity, OTLP severity).
pub(crate) fn is_alarm(kind: &str) -> bool {
    matches!(
        kind,
        "app.killed"
            | "app.refused"
            | "containment.triggered"
            | "policy.denied"
            | "deploy.tampered"
            | "audit.repaired"
            | "slo.burn"
    )
}

/// This machine's host name, for the receiver to tell nodes apart.
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length, which is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "-".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// What one sink's task knows, for `GET /v1/telemetry`.
#[derive(Debug, Default)]
struct State {
    here: bool,
    delivered: u64,
    head: u64,
    oldest_pending: Option<SystemTime>,
    last_delivered_at: Option<SystemTime>,
    failing_since: Option<SystemTime>,
    last_error: Option<String>,
    delivered_total: u64,
}

/// The configured sinks and how each stands.
pub struct Forwarding {
    sinks: Vec<(SinkSettings, Arc<Mutex<State>>)>,
}

/// Whether this host should forward now: `None` once it is shutting
/// down, else whether it holds the scheduler lease.
pub type MayForward = Arc<dyn Fn() -> Option<bool> + Send + Sync>;

/// Starts one task per sink in `runtime`'s `[[audit.sinks]]`.
pub fn spawn(
    runtime: &Arc<Runtime>,
    may_forward: MayForward,
) -> (Arc<Forwarding>, Vec<tokio::task::JoinHandle<()>>) {
    let mut sinks = Vec::new();
    let mut tasks = Vec::new();
    for settings in &runtime.platform().audit.sinks {
        let state = Arc::new(Mutex::new(State::default()));
        sinks.push((settings.clone(), state.clone()));
        tasks.push(tokio::spawn(forward(
            runtime.clone(),
            settings.clone(),
            state,
            may_forward.clone(),
        )));
    }
    (Arc::new(Forwarding { sinks }), tasks)
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn rfc3339(time: Option<SystemTime>) -> serde_json::Value {
    time.map_or(serde_json::Value::Null, |t| {
        humantime::format_rfc3339_millis(t).to_string().into()
    })
}

fn seconds_since(time: Option<SystemTime>) -> f64 {
    time.and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or(0.0, |d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl Forwarding {
    /// Each sink as `GET /v1/telemetry` shows it: where it is
    /// (`delivered_seq`), how far behind (`lag_entries`, and `lag_seconds`:
    /// the age of the oldest entry it has not delivered), whether this
    /// node forwards it, and its last error. A node that does not hold
    /// the lease reads the shared position.
    pub async fn report(&self, audit: &dyn AuditBackend) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for (settings, state) in &self.sinks {
            let (here, mut delivered, mut head, mut oldest, row) = {
                let s = lock(state);
                (
                    s.here,
                    s.delivered,
                    s.head,
                    s.oldest_pending,
                    serde_json::json!({
                        "last_delivered_at": rfc3339(s.last_delivered_at),
                        "failing_since": rfc3339(s.failing_since),
                        "last_error": s.last_error,
                        "delivered_since_start": s.delivered_total,
                    }),
                )
            };
            let mut error = None;
            if !here {
                match away(audit, &settings.name).await {
                    Ok((d, h, o)) => (delivered, head, oldest) = (d, h, o),
                    Err(e) => error = Some(e),
                }
            }
            let lag = head.saturating_sub(delivered);
            let mut row = row;
            row["name"] = settings.name.clone().into();
            row["kind"] = settings.kind.as_str().into();
            row["target"] = target(settings).into();
            row["forwarding_here"] = here.into();
            row["delivered_seq"] = delivered.into();
            row["head_seq"] = head.into();
            row["lag_entries"] = lag.into();
            row["lag_seconds"] = if lag == 0 { 0.0 } else { seconds_since(oldest) }.into();
            if let Some(e) = error {
                row["last_error"] = format!("cannot read the position: {e}").into();
            }
            out.push(row);
        }
        out
    }
}

/// The position, head and oldest undelivered entry, read from the log.
async fn away(
    audit: &dyn AuditBackend,
    name: &str,
) -> Result<(u64, u64, Option<SystemTime>), crate::audit::AuditError> {
    let delivered = audit.forwarded(name).await?;
    let head = audit.last_seq().await?;
    let oldest = if head > delivered {
        audit
            .entries_after(delivered, 1)
            .await?
            .first()
            .and_then(|e| humantime::parse_rfc3339(&e.time).ok())
    } else {
        None
    };
    Ok((delivered, head, oldest))
}

/// Where a sink sends, for people.
pub(crate) fn target(settings: &SinkSettings) -> String {
    match settings.kind {
        SinkKind::Syslog => format!(
            "{}://{}",
            if settings.tls { "syslog+tls" } else { "syslog" },
            settings.address.as_deref().unwrap_or_default()
        ),
        SinkKind::Webhook => settings.url.clone().unwrap_or_default(),
        SinkKind::Otlp => settings
            .endpoint
            .clone()
            .unwrap_or_else(|| "the [telemetry.otlp] collector".into()),
    }
}

fn build(settings: &SinkSettings, runtime: &Arc<Runtime>) -> Result<Box<dyn Sink>, String> {
    Ok(match settings.kind {
        SinkKind::Syslog => {
            let tls = settings
                .tls
                .then(|| trust::client_config(settings.ca.as_deref()))
                .transpose()?;
            Box::new(syslog::Syslog::new(
                settings.address.as_deref().unwrap_or_default(),
                tls,
            )?)
        }
        SinkKind::Webhook => Box::new(webhook::Webhook::new(
            settings,
            runtime.clone(),
            trust::client_config(settings.ca.as_deref())?,
        )?),
        SinkKind::Otlp => Box::new(otlp::Otlp::start(
            settings,
            runtime.platform().telemetry.otlp.as_ref(),
        )?),
    })
}

enum Progress {
    Delivered,
    CaughtUp,
}

/// One sink's task: deliver, in order, until the host shuts down.
async fn forward(
    runtime: Arc<Runtime>,
    settings: SinkSettings,
    state: Arc<Mutex<State>>,
    may_forward: MayForward,
) {
    let mut sink: Option<Box<dyn Sink>> = None;
    let mut position: Option<u64> = None;
    let mut pause = FIRST_PAUSE;
    loop {
        match may_forward() {
            None => break,
            Some(false) => {
                // Another host forwards; its position is read afresh
                // when this one takes over.
                position = None;
                lock(&state).here = false;
                tokio::time::sleep(POLL).await;
                continue;
            }
            Some(true) => lock(&state).here = true,
        }
        match step(&runtime, &settings, &state, &mut sink, &mut position).await {
            Ok(progress) => {
                let recovered = {
                    let mut s = lock(&state);
                    s.last_error = None;
                    s.failing_since.take()
                };
                if let Some(since) = recovered {
                    tracing::info!(
                        "audit sink `{}` delivers again (it failed for {:.0} s)",
                        settings.name,
                        seconds_since(Some(since))
                    );
                }
                pause = FIRST_PAUSE;
                if matches!(progress, Progress::CaughtUp) {
                    tokio::time::sleep(POLL).await;
                }
            }
            Err(e) => {
                let started = {
                    let mut s = lock(&state);
                    s.last_error = Some(e.clone());
                    let started = s.failing_since.is_none();
                    s.failing_since.get_or_insert_with(SystemTime::now);
                    started
                };
                // Once per streak of failures, not at every retry.
                if started {
                    tracing::warn!(
                        "audit sink `{}` ({}) failed: {e}; retrying, the entries wait",
                        settings.name,
                        target(&settings)
                    );
                }
                if let Some(sink) = &mut sink {
                    sink.reset();
                }
                position = None;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(settings.max_backoff.get());
            }
        }
    }
}

/// Delivers the next batch, if there is one.
async fn step(
    runtime: &Arc<Runtime>,
    settings: &SinkSettings,
    state: &Mutex<State>,
    sink: &mut Option<Box<dyn Sink>>,
    position: &mut Option<u64>,
) -> Result<Progress, String> {
    let audit = runtime.audit();
    let at = match *position {
        Some(at) => at,
        None => audit
            .forwarded(&settings.name)
            .await
            .map_err(|e| format!("cannot read the position: {e}"))?,
    };
    *position = Some(at);
    let entries = audit
        .entries_after(at, settings.batch)
        .await
        .map_err(|e| format!("cannot read the log: {e}"))?;
    let head = audit.last_seq().await.unwrap_or(at);
    {
        let mut s = lock(state);
        s.delivered = at;
        s.head = head.max(at);
        s.oldest_pending = entries
            .first()
            .and_then(|e| humantime::parse_rfc3339(&e.time).ok());
    }
    let Some(last) = entries.last().map(|e| e.seq) else {
        return Ok(Progress::CaughtUp);
    };
    let sink = match sink {
        Some(sink) => sink,
        None => sink.insert(build(settings, runtime)?),
    };
    let timeout = settings.timeout.get();
    tokio::time::timeout(timeout, sink.deliver(&entries))
        .await
        .map_err(|_| format!("no delivery within {}", settings.timeout))??;
    *position = Some(last);
    let saved = audit.set_forwarded(&settings.name, last).await;
    let mut s = lock(state);
    s.delivered = last;
    s.head = s.head.max(last);
    s.oldest_pending = None;
    s.last_delivered_at = Some(SystemTime::now());
    s.delivered_total += entries.len() as u64;
    if let Err(e) = saved {
        // Delivered: going on is right. After a restart the entries since
        // the last saved position are sent again (at least once).
        tracing::warn!(
            "audit sink `{}`: the position {last} was not saved: {e}",
            settings.name
        );
    }
    Ok(Progress::Delivered)
}
