//! `[telemetry]` and `[telemetry.otlp]` in `warden.toml` (what they drive
//! is `crate::telemetry`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use warden_host_apis::units::Dur;

/// `[telemetry]` in `warden.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// Record spans in `warden serve` (the store, export, SLOs and the
    /// dashboard's traces need it). Off only to measure its cost.
    pub enabled: bool,
    /// How long the embedded store keeps spans.
    pub keep: Dur,
    /// Most traces (a root span with its children) the embedded store
    /// keeps; past it the app with the most loses its oldest first.
    pub max_spans: u64,
    /// Most traces the store keeps of one app, so that one app cannot
    /// evict the others' (default 50,000; never more than `max_spans`).
    pub max_spans_per_app: u64,
    /// Spans waiting for the store and exporter; more are dropped (counted).
    pub queue: usize,
    /// Successful invocation traces the store keeps per app per second
    /// (0: all). Failed ones are always kept, export gets every span, and
    /// counts and latency (top, usage, SLOs) include every invocation.
    pub keep_ok_per_second: u64,
    /// Export over OTLP/HTTP (also turned on by `OTEL_EXPORTER_OTLP_*`).
    pub otlp: Option<OtlpSettings>,
    /// How often `warden serve` checks apps' `[slo]` burn rates.
    pub slo_interval: Dur,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            enabled: true,
            keep: Dur(Duration::from_secs(24 * 3600)),
            max_spans: 500_000,
            max_spans_per_app: 50_000,
            queue: 8192,
            keep_ok_per_second: 100,
            otlp: None,
            slo_interval: Dur(Duration::from_secs(30)),
        }
    }
}

/// `[telemetry.otlp]` in `warden.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpSettings {
    /// The collector's base URL, e.g. `http://collector:4318`; `/v1/traces`,
    /// `/v1/metrics` and `/v1/logs` are added.
    pub endpoint: Option<String>,
    /// Extra request headers (e.g. an API key for a hosted backend).
    pub headers: BTreeMap<String, String>,
    pub timeout: Dur,
    /// How often metrics are pushed.
    pub metrics_interval: Dur,
}

impl Default for OtlpSettings {
    fn default() -> Self {
        OtlpSettings {
            endpoint: None,
            headers: BTreeMap::new(),
            timeout: Dur(Duration::from_secs(10)),
            metrics_interval: Dur(Duration::from_secs(10)),
        }
    }
}
