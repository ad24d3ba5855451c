//! Forwarding the audit log to a SIEM: every entry, at least once and in
//! order, to each sink in `[[audit.sinks]]` — OTLP logs, syslog (RFC 5424
//! over TCP or TLS) or an HTTPS webhook.
//!
//! Each sink is a task that reads the entries after its position, sends
//! them as one batch, and moves its position past them only when the
//! receiver has taken them. A batch that fails is kept and sent again,
//! unchanged (the webhook's idempotency key with it), after a pause that
//! doubles from 250 ms up to the sink's `max_backoff`. So a receiver that
//! is down for an hour gets everything, in order, when it comes back, and
//! may see the batch it failed on twice.
//!
//! The position — the seq and hash of the last entry delivered — is kept
//! with the log (`audit.forward.json` beside `audit.jsonl`, or the
//! `audit_forward` table on shared state), so a restart, or another node
//! taking over, goes on where the last delivery ended. Before going on it
//! checks that the log still holds that entry as it was sent: a log cut,
//! restored from a backup or rewritten since stops the sink with an error
//! instead of forwarding a different history as if it continued the old.
//!
//! Only the host that holds the scheduler lease forwards (one per data
//! directory, one per cluster). The lease is looked at between batches,
//! so during a handover the old holder may finish the batch it is sending
//! while the new one starts: the receiver may then see entries twice, in
//! order still, as the position only moves forward.

pub(crate) mod otlp;
mod report;
pub(crate) mod syslog;
mod trust;
pub(crate) mod webhook;

pub use report::Forwarding;

use crate::audit::AuditEntry;
use crate::config::audit_sinks::{SinkKind, SinkSettings};
use crate::runtime::Runtime;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How often a sink that is caught up looks for new entries.
const POLL: Duration = Duration::from_millis(500);

/// The first pause after a failed delivery (then doubled, up to the
/// sink's `max_backoff`).
const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// Where a sink stands: the last entry its receiver took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub seq: u64,
    /// That entry's hash, to tell it is still the entry that was sent.
    pub hash: String,
    /// When it was delivered (RFC 3339), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// A receiver.
#[async_trait::async_trait]
pub(crate) trait Sink: Send + Sync {
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
            | "budget.crossed"
            | "credential.stale"
            | "anomaly.detected"
            | "person.deactivated"
    )
}

/// This machine's host name, for the receiver to tell nodes apart.
pub(crate) use crate::presence::hostname;

/// What one sink's task knows, for `GET /v1/telemetry`.
#[derive(Debug, Default)]
struct State {
    /// This host forwards the sink now.
    here: bool,
    /// The figures below were read since this host began forwarding.
    known: bool,
    delivered: u64,
    head: u64,
    oldest_pending: Option<SystemTime>,
    last_delivered_at: Option<SystemTime>,
    failing_since: Option<SystemTime>,
    last_error: Option<String>,
    delivered_total: u64,
    /// Entries the log holds but that could not be read (a broken line):
    /// not sent, counted and reported.
    unreadable: u64,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
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
    let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let may_forward: MayForward = {
        let draining = draining.clone();
        Arc::new(move || {
            may_forward().map(|may| may || draining.load(std::sync::atomic::Ordering::SeqCst))
        })
    };
    for settings in &runtime.platform().audit.sinks {
        let state = Arc::new(Mutex::new(State::default()));
        sinks.push((settings.clone(), state.clone()));
        let task = Task {
            runtime: runtime.clone(),
            settings: settings.clone(),
            state,
            sink: None,
            cursor: None,
            pending: None,
        };
        tasks.push(tokio::spawn(task.run(may_forward.clone())));
    }
    (Arc::new(Forwarding::new(sinks, draining)), tasks)
}

/// Checks what can be checked of the sinks before a host starts: each CA
/// file reads, and an OTLP sink has a collector to send to.
///
/// # Errors
/// `(field, problem, fix)` for the first sink that cannot work.
pub fn check(platform: &crate::config::PlatformConfig) -> Result<(), (String, String, String)> {
    for (i, sink) in platform.audit.sinks.iter().enumerate() {
        if let Some(ca) = &sink.ca {
            trust::client_config(Some(ca)).map_err(|problem| {
                (
                    format!("audit.sinks[{i}].ca"),
                    problem,
                    "point `ca` at a readable PEM file of CA certificates".into(),
                )
            })?;
        }
        if sink.kind == SinkKind::Otlp {
            otlp::collector(sink, platform.telemetry.otlp.as_ref()).map_err(|problem| {
                (
                    format!("audit.sinks[{i}].endpoint"),
                    problem,
                    "set `endpoint` on the sink, e.g. \"http://collector:4318\"".into(),
                )
            })?;
        }
    }
    Ok(())
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

/// One sink's task.
struct Task {
    runtime: Arc<Runtime>,
    settings: SinkSettings,
    state: Arc<Mutex<State>>,
    sink: Option<Box<dyn Sink>>,
    /// The position, once read (and checked) since this host began
    /// forwarding; `Some(None)`: nothing delivered yet.
    cursor: Option<Option<Position>>,
    /// A batch that failed, sent again unchanged.
    pending: Option<Vec<AuditEntry>>,
}

impl Task {
    /// Delivers, in order, until the host shuts down.
    async fn run(mut self, may_forward: MayForward) {
        let name = self.settings.name.clone();
        let mut pause = FIRST_PAUSE.min(self.settings.max_backoff.get());
        loop {
            match may_forward() {
                None => break,
                Some(false) => {
                    // Another host forwards: what this one knew goes
                    // stale, and is read afresh when it takes over.
                    self.cursor = None;
                    self.pending = None;
                    {
                        let mut s = lock(&self.state);
                        (s.here, s.known) = (false, false);
                    }
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Some(true) => lock(&self.state).here = true,
            }
            match self.step().await {
                Ok(progress) => {
                    let recovered = {
                        let mut s = lock(&self.state);
                        s.last_error = None;
                        s.failing_since.take()
                    };
                    if let Some(since) = recovered {
                        tracing::info!(
                            "audit sink `{name}` delivers again (it failed for {:.0} s)",
                            report::seconds_since(Some(since))
                        );
                    }
                    pause = FIRST_PAUSE.min(self.settings.max_backoff.get());
                    if matches!(progress, Progress::CaughtUp) {
                        tokio::time::sleep(POLL).await;
                    }
                }
                Err(e) => {
                    let started = {
                        let mut s = lock(&self.state);
                        s.last_error = Some(e.clone());
                        let started = s.failing_since.is_none();
                        s.failing_since.get_or_insert_with(SystemTime::now);
                        started
                    };
                    // Once per streak of failures, not at every retry.
                    if started {
                        tracing::warn!(
                            "audit sink `{name}` ({}) failed: {e}; retrying, the entries wait",
                            target(&self.settings)
                        );
                    }
                    if let Some(sink) = &mut self.sink {
                        sink.reset();
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.settings.max_backoff.get());
                }
            }
        }
    }

    /// Delivers the next batch, if there is one.
    async fn step(&mut self) -> Result<Progress, String> {
        let audit = self.runtime.audit();
        let at = match &self.cursor {
            Some(at) => at.clone(),
            None => {
                let at = audit
                    .forwarded(&self.settings.name)
                    .await
                    .map_err(|e| format!("cannot read the position: {e}"))?;
                if let Some(at) = &at {
                    still_held(audit, at).await?;
                    let mut s = lock(&self.state);
                    if s.last_delivered_at.is_none() {
                        s.last_delivered_at = at
                            .at
                            .as_deref()
                            .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
                    }
                }
                self.cursor = Some(at.clone());
                at
            }
        };
        let after = at.as_ref().map_or(0, |p| p.seq);
        let head = audit
            .last_seq()
            .await
            .map_err(|e| format!("cannot read the log: {e}"))?;
        if head < after {
            self.cursor = None;
            self.pending = None;
            return Err(format!(
                "the log ends at entry {head}, before entry {after}, which this sink already delivered: it was cut or replaced since; nothing more is sent\n  fix: see `warden audit verify`; to forward the log as it is now, give the sink a new name"
            ));
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|b| b.first().is_none_or(|e| e.seq <= after))
        {
            self.pending = None; // delivered after all (another node's turn)
        }
        let batch = match self.pending.take() {
            Some(batch) => batch,
            None => self.next_batch(after).await?,
        };
        {
            let mut s = lock(&self.state);
            s.known = true;
            s.delivered = after;
            s.head = head.max(batch.last().map_or(0, |e| e.seq));
            s.oldest_pending = batch
                .first()
                .and_then(|e| humantime::parse_rfc3339(&e.time).ok());
        }
        let Some(last) = batch.last().map(|e| Position {
            seq: e.seq,
            hash: e.hash.clone(),
            at: Some(humantime::format_rfc3339_seconds(SystemTime::now()).to_string()),
        }) else {
            return Ok(Progress::CaughtUp);
        };
        if self.sink.is_none() {
            let (settings, runtime) = (self.settings.clone(), self.runtime.clone());
            let built = tokio::task::spawn_blocking(move || build(&settings, &runtime))
                .await
                .map_err(|e| format!("cannot set the sink up: {e}"))??;
            self.sink = Some(built);
        }
        let Some(sink) = &mut self.sink else {
            return Err("the sink is not set up".into());
        };
        let delivered = tokio::time::timeout(self.settings.timeout.get(), sink.deliver(&batch))
            .await
            .map_err(|_| format!("no delivery within {}", self.settings.timeout))
            .and_then(|sent| sent);
        if let Err(e) = delivered {
            self.pending = Some(batch);
            return Err(e);
        }
        self.cursor = Some(Some(last.clone()));
        let saved = audit.set_forwarded(&self.settings.name, &last).await;
        let mut s = lock(&self.state);
        s.delivered = last.seq;
        s.head = s.head.max(last.seq);
        if batch.len() < self.settings.batch {
            s.oldest_pending = None;
        } // else more may wait: the batch's first time stays an upper bound
        s.last_delivered_at = Some(SystemTime::now());
        s.delivered_total += batch.len() as u64;
        drop(s);
        if let Err(e) = saved {
            // Delivered: going on is right. After a restart the entries since
            // the last saved position are sent again (at least once).
            tracing::warn!(
                "audit sink `{}`: the position {} was not saved: {e}",
                self.settings.name,
                last.seq
            );
        }
        Ok(Progress::Delivered)
    }

    /// The entries after `after`, counting those the log holds but could
    /// not read (a seq skipped): they cannot be sent, and are reported.
    async fn next_batch(&self, after: u64) -> Result<Vec<AuditEntry>, String> {
        let batch = self
            .runtime
            .audit()
            .entries_after(after, self.settings.batch)
            .await
            .map_err(|e| format!("cannot read the log: {e}"))?;
        let mut expected = after + 1;
        let mut unreadable = 0;
        for entry in &batch {
            unreadable += entry.seq.saturating_sub(expected);
            expected = entry.seq + 1;
        }
        if unreadable > 0 {
            tracing::warn!(
                "audit sink `{}`: {unreadable} entries after entry {after} cannot be read from the log and are not sent (see `warden audit verify`)",
                self.settings.name
            );
            lock(&self.state).unreadable += unreadable;
        }
        Ok(batch)
    }
}

/// Checks that the log still holds `at` as it was delivered.
async fn still_held(audit: &dyn crate::audit::AuditBackend, at: &Position) -> Result<(), String> {
    let found = audit
        .entries_after(at.seq.saturating_sub(1), 1)
        .await
        .map_err(|e| format!("cannot read the log: {e}"))?;
    let what = match found.first() {
        Some(e) if e.seq == at.seq && e.hash == at.hash => return Ok(()),
        Some(e) if e.seq == at.seq => "its hash differs",
        _ => "it is missing",
    };
    Err(format!(
        "the log no longer holds entry {} as this sink delivered it ({what}): it was cut, restored from a backup or rewritten since; nothing more is sent\n  fix: see `warden audit verify`; to forward the log as it is now, give the sink a new name",
        at.seq
    ))
}
