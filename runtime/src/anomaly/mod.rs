//! Anomalies, not only thresholds: each app's egress is learned per
//! window (`[anomaly]`, off unless enabled) — calls, bytes out and in,
//! distinct destinations and DLP hits, each as an exponentially weighted
//! mean and variance over the windows the app was active in, forgetting
//! with `half_life` ([`baseline`]). Once `warmup` windows are learned, a
//! window whose metric is at least its minimum volume, `min_ratio` times
//! the mean and `sensitivity` standard deviations above it is an anomaly:
//! audited (`anomaly.detected`, with the figures and any destination
//! never seen before), an ALERT line, a post to the alert webhook, and —
//! with `containment.contain_anomalies` — the app is contained: killed as
//! `warden:anomaly`, which drops its OAuth tokens and withholds its
//! credentials. Usage that grows slowly next to the half-life is learned,
//! not flagged; a window that raised an anomaly is never learned.
//!
//! Baselines are kept in memory per host, from the invocations it runs:
//! a restart learns again (the warm-up), and on several nodes each judges
//! its own share of the traffic.

pub mod baseline;

use crate::audit::AuditKind;
use crate::runtime::Runtime;
use baseline::{Baseline, Totals};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;

/// Every app's baseline on this host.
#[derive(Debug, Default)]
pub struct Baselines {
    apps: Mutex<HashMap<String, Baseline>>,
}

impl Runtime {
    /// Adds an invocation's egress to its app's baseline; raises (and, if
    /// the platform says so, contains) an anomaly.
    pub(crate) fn watch_anomalies(&self, app: &crate::app::LoadedApp, seen: &Totals) {
        let settings = &self.platform().anomaly;
        if !settings.enabled {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let window = now / settings.window.get().as_secs().max(1);
        let found = {
            let mut apps = self
                .baselines()
                .apps
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            apps.entry(app.name().to_string())
                .or_default()
                .observe(window, seen, settings)
        };
        let Some(anomaly) = found else {
            return;
        };
        let contain = self.platform().containment.contain_anomalies;
        let summary: Vec<String> = anomaly
            .deviations
            .iter()
            .map(|d| format!("{} {} (usually {:.1})", d.metric, d.value, d.mean))
            .collect();
        let new = if anomaly.new_destinations.is_empty() {
            String::new()
        } else {
            format!(
                " to new destinations {}",
                anomaly.new_destinations.join(", ")
            )
        };
        let reason = format!("anomaly: {}{new}", summary.join(", "));
        tracing::error!(
            "ALERT: `{}` departs from its baseline: {reason}{}",
            app.name(),
            if contain { "; containing it" } else { "" }
        );
        let mut contained = false;
        if contain {
            match self.kill_unless_killed(app.name(), &reason, "warden:anomaly") {
                Ok(killed) => contained = killed,
                Err(e) => tracing::warn!("the anomaly's kill of `{}` failed: {e}", app.name()),
            }
        }
        let mut details = json!(anomaly);
        details["version"] = json!(app.version());
        details["window_seconds"] = json!(settings.window.get().as_secs());
        details["contained"] = json!(contained);
        crate::alert::raise(
            self,
            AuditKind::AnomalyDetected,
            "warden:anomaly",
            Some(app.name()),
            details,
            self.platform().containment.alert_webhook.as_deref(),
        );
    }
}
