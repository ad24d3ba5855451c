//! Automated containment: rules that kill an app on its own when it
//! behaves like a leak or an attack, faster than a person could.
//!
//! | rule (`[containment]` in warden.toml) | trips when, within one minute          |
//! |----------------------------------------|----------------------------------------|
//! | `max_denials_per_minute`               | the app was refused that many effects  |
//! | `max_dlp_blocks_per_minute`            | that many DLP blocks                   |
//! | `max_egress_bytes_per_minute`          | bytes out + in reach the figure        |
//! | `kill_on_secret_in_output = true`      | an output holds a private key, API key or JWT |
//!
//! A trip kills the app through the kill switch (audited as `app.killed`
//! with actor `warden:containment`), adds a `containment.triggered` audit
//! event naming the rule and the figures, and prints an alert on the host's
//! log. With `alert_webhook = "https://…"` the alert is also posted there
//! as JSON (see [`crate::alert`]). Every rule is off unless set:
//! containment is a platform decision.

use crate::audit::AuditEvent;
use crate::invoke::InvocationReport;
use crate::runtime::Runtime;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use warden_host_apis::metering::{ALL, Window};

/// Per-app denial counts in the current minute.
#[derive(Debug, Default)]
pub struct Tally {
    minutes: Mutex<HashMap<String, (u64, u64, u64)>>,
}

impl Tally {
    /// Adds this invocation's denials and DLP blocks; returns the minute's totals.
    fn add(&self, app: &str, denials: u64, dlp_blocks: u64) -> (u64, u64) {
        let minute = Window::minute_now().id();
        let mut map = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(app.to_string()).or_insert((minute, 0, 0));
        if entry.0 != minute {
            *entry = (minute, 0, 0);
        }
        entry.1 += denials;
        entry.2 += dlp_blocks;
        (entry.1, entry.2)
    }
}

impl Runtime {
    /// Applies the containment rules after an invocation.
    pub(crate) fn contain(&self, app: &crate::app::LoadedApp, report: &InvocationReport) {
        let rules = &self.platform().containment;
        if !rules.any() || app.kill_switch().is_killed() {
            return;
        }
        let dlp_blocks = report
            .denials
            .iter()
            .filter(|d| d.kind.as_str() == "dlp-blocked")
            .count() as u64;
        let (denials, blocks) =
            self.tally()
                .add(app.name(), report.denials.len() as u64, dlp_blocks);
        let mut tripped: Option<(&str, serde_json::Value)> = None;
        if let Some(max) = rules.max_denials_per_minute
            && denials >= max
        {
            tripped = Some((
                "max_denials_per_minute",
                json!({ "denials": denials, "limit": max }),
            ));
        }
        if let Some(max) = rules.max_dlp_blocks_per_minute
            && blocks >= max
        {
            tripped = Some((
                "max_dlp_blocks_per_minute",
                json!({ "dlp_blocks": blocks, "limit": max }),
            ));
        }
        if let Some(max) = rules.max_egress_bytes_per_minute {
            let minute = app.meter.usage(ALL, &Window::minute_now());
            let bytes = minute.bytes_out + minute.bytes_in;
            if bytes >= max.bytes() {
                tripped = Some((
                    "max_egress_bytes_per_minute",
                    json!({ "bytes": bytes, "limit": max.bytes() }),
                ));
            }
        }
        if rules.kill_on_secret_in_output {
            let output = match &report.result {
                Ok(output) => output.as_slice(),
                Err(_) => &[],
            };
            let found: Vec<&str> = [output, report.stdout.as_slice(), report.stderr.as_slice()]
                .iter()
                .flat_map(|data| self.dlp().credentials(data))
                .collect();
            if let Some(first) = found.first() {
                tripped = Some(("kill_on_secret_in_output", json!({ "pattern": first })));
            }
        }
        let Some((rule, figures)) = tripped else {
            return;
        };
        let reason = format!("containment: {rule} tripped ({figures})");
        tracing::error!("ALERT: killing `{}`: {reason}", app.name());
        if let Err(e) = self.kill(app.name(), &reason, "warden:containment") {
            tracing::warn!(
                "containment could not record the kill of `{}`: {e}",
                app.name()
            );
        }
        let event = AuditEvent {
            kind: crate::audit::AuditKind::ContainmentTriggered,
            app: Some(app.name().to_string()),
            actor: "warden:containment".into(),
            details: json!({ "rule": rule, "figures": figures }),
        };
        let seq = match self.audit().append_blocking(event) {
            Ok(entry) => Some(entry.seq),
            Err(e) => {
                tracing::warn!("containment event not audited: {e}");
                None
            }
        };
        if let Some(url) = rules
            .alert_webhook
            .as_deref()
            .and_then(|u| crate::alert::check_url(u).ok())
        {
            let body = json!({
                "event": "containment.triggered",
                "app": app.name(),
                "version": app.version(),
                "rule": rule,
                "figures": figures,
                "action": "killed",
                "audit_seq": seq,
                "at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
                "runbook": app.manifest.app.runbook,
            });
            crate::alert::deliver(url, body, self.platform().egress.clone());
        }
    }
}
