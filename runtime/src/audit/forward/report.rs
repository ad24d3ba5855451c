//! How each sink stands, for `GET /v1/telemetry`: read from its task when
//! this host forwards it, else from the position kept with the log.

use super::{State, lock, target};
use crate::audit::AuditBackend;
use crate::config::audit_sinks::SinkSettings;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The configured sinks and how each stands.
pub struct Forwarding {
    sinks: Vec<(SinkSettings, Arc<Mutex<State>>)>,
    /// Set while the host drains at shutdown: forward though the host
    /// no longer runs the schedules.
    draining: Arc<AtomicBool>,
}

fn rfc3339(time: Option<SystemTime>) -> serde_json::Value {
    time.map_or(serde_json::Value::Null, |t| {
        humantime::format_rfc3339_millis(t).to_string().into()
    })
}

/// Seconds since `time`, to the millisecond (0 for none).
pub(super) fn seconds_since(time: Option<SystemTime>) -> f64 {
    time.and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or(0.0, |d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl Forwarding {
    pub(super) fn new(
        sinks: Vec<(SinkSettings, Arc<Mutex<State>>)>,
        draining: Arc<AtomicBool>,
    ) -> Forwarding {
        Forwarding { sinks, draining }
    }

    /// At shutdown, after the last checkpoint is signed: lets every sink
    /// deliver what is left — that checkpoint included, so the SIEM holds
    /// the seal of the log as the host left it — waiting up to `within`,
    /// and not at all for a sink that is failing (its entries wait in the
    /// log for the next start).
    pub async fn drain(&self, audit: &dyn AuditBackend, within: Duration) {
        if self.sinks.is_empty() {
            return;
        }
        self.draining.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let Ok(head) = audit.last_seq().await else {
                return;
            };
            let done = self.sinks.iter().all(|(_, state)| {
                let s = lock(state);
                (s.known && s.delivered >= head) || s.failing_since.is_some()
            });
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Each sink: where it is (`delivered_seq`), how far behind
    /// (`lag_entries`, and `lag_seconds`: the age of the oldest entry it
    /// has not delivered), whether this node forwards it, its last error,
    /// and entries it could not read (`unreadable_entries`). Until this
    /// node's task has read the log, or when another node forwards, the
    /// figures come from the position kept with the log.
    pub async fn report(&self, audit: &dyn AuditBackend) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for (settings, state) in &self.sinks {
            let (known, mut delivered, mut head, mut oldest, mut row) = {
                let s = lock(state);
                (
                    s.here && s.known,
                    s.delivered,
                    s.head,
                    s.oldest_pending,
                    serde_json::json!({
                        "forwarding_here": s.here,
                        "last_delivered_at": rfc3339(s.last_delivered_at),
                        "failing_since": rfc3339(s.failing_since),
                        "last_error": s.last_error,
                        "delivered_since_start": s.delivered_total,
                        "unreadable_entries": s.unreadable,
                    }),
                )
            };
            if !known || row["last_delivered_at"].is_null() {
                match from_log(audit, &settings.name).await {
                    Ok((d, h, o, at)) => {
                        if !known {
                            (delivered, head, oldest) = (d, h, o);
                        }
                        if row["last_delivered_at"].is_null() {
                            row["last_delivered_at"] = at.into();
                        }
                    }
                    Err(e) => {
                        row["last_error"] = format!("cannot read the position: {e}").into();
                    }
                }
            }
            let lag = head.saturating_sub(delivered);
            row["name"] = settings.name.clone().into();
            row["kind"] = settings.kind.as_str().into();
            row["target"] = target(settings).into();
            row["delivered_seq"] = delivered.into();
            row["head_seq"] = head.into();
            row["lag_entries"] = lag.into();
            row["lag_seconds"] = if lag == 0 { 0.0 } else { seconds_since(oldest) }.into();
            out.push(row);
        }
        out
    }
}

/// The position, the head, the oldest undelivered entry's time and when
/// the position was reached, read from the log.
async fn from_log(
    audit: &dyn AuditBackend,
    name: &str,
) -> Result<(u64, u64, Option<SystemTime>, Option<String>), crate::audit::AuditError> {
    let position = audit.forwarded(name).await?;
    let delivered = position.as_ref().map_or(0, |p| p.seq);
    let at = position.and_then(|p| p.at);
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
    Ok((delivered, head, oldest, at))
}
