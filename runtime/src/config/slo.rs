//! `[slo]` in `app.toml` (watched in `crate::slo`).

use serde::{Deserialize, Serialize};
use warden_host_apis::units::Dur;

/// `[slo]` in `app.toml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloRequest {
    pub latency: Option<LatencyObjective>,
    /// Highest share of failed invocations, e.g. 0.01 for 1%.
    pub error_rate: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencyObjective {
    /// e.g. 99.0: that share of invocations must finish under `threshold`.
    pub percentile: f64,
    pub threshold: Dur,
}

impl SloRequest {
    /// What is wrong with the objectives, as (field, problem).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(rate) = self.error_rate
            && !(rate > 0.0 && rate < 1.0)
        {
            return Some(("slo.error_rate", format!("{rate} is not between 0 and 1")));
        }
        if let Some(l) = &self.latency
            && !(l.percentile > 0.0 && l.percentile < 100.0)
        {
            return Some((
                "slo.latency.percentile",
                format!("{} is not between 0 and 100", l.percentile),
            ));
        }
        None
    }
}
