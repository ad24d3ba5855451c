//! How much of each quota an app has used right now: one list shared by
//! `warden inspect`, `warden top`, the dashboard and the
//! `warden.quota.utilization` gauge.

use crate::app::LoadedApp;
use crate::wait::Wait as _;
use serde::Serialize;
use warden_host_apis::metering::{ALL, Window};

/// One quota: used, its limit (none: unlimited), and when it resets
/// (none: it does not, e.g. stored bytes).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuotaUse {
    pub quota: &'static str,
    pub used: u64,
    pub limit: Option<u64>,
    pub resets_at: Option<String>,
}

impl QuotaUse {
    /// Share used, 0..1 (and above when over), if there is a limit.
    pub fn utilization(&self) -> Option<f64> {
        self.limit
            .filter(|l| *l > 0)
            .map(|l| self.used as f64 / l as f64)
    }
}

/// Every quota of `app`.
pub fn quota_use(app: &LoadedApp) -> Vec<QuotaUse> {
    let meter = &app.meter;
    let limits = meter.limits();
    let (day, minute) = (Window::day_now(), Window::minute_now());
    let today = meter.usage(ALL, &day);
    let this_minute = meter.usage(ALL, &minute);
    let mut out = vec![
        QuotaUse {
            quota: "egress_bytes",
            used: today.bytes_out + today.bytes_in,
            limit: limits.egress_bytes,
            resets_at: Some(day.resets_at()),
        },
        QuotaUse {
            quota: "connector_calls",
            used: today.calls,
            limit: limits.connector_calls,
            resets_at: Some(day.resets_at()),
        },
        QuotaUse {
            quota: "requests_per_minute",
            used: this_minute.invocations,
            limit: limits.requests_per_minute,
            resets_at: Some(minute.resets_at()),
        },
    ];
    if !app.grants.storage.buckets.is_empty()
        && let Ok(stored) = app.grants.storage.store.usage(app.name()).wait()
    {
        out.push(QuotaUse {
            quota: "storage_bytes",
            used: stored.bytes,
            limit: app.grants.storage.quota_bytes,
            resets_at: None,
        });
        out.push(QuotaUse {
            quota: "storage_keys",
            used: stored.keys,
            limit: Some(app.grants.storage.rules.max_keys),
            resets_at: None,
        });
    }
    out
}
