//! `[anomaly]` in `warden.toml`: learned per-app baselines of egress
//! (see `crate::anomaly`). Off unless `enabled`; what a detection does
//! beyond alerting is `containment.contain_anomalies`.
//!
//! ```toml
//! [anomaly]
//! enabled = true
//! window = "1m"          # baselines are kept per window of this length
//! half_life = "3d"       # how fast a baseline forgets (in windows the app was active)
//! warmup = 60            # active windows learned before an app is judged
//! sensitivity = 6.0      # standard deviations above the baseline's mean
//! min_ratio = 3.0        # and at least this many times the mean
//! min_calls = 20         # a metric below its minimum is never anomalous
//! min_bytes = "1MiB"
//! min_destinations = 3
//! min_dlp_hits = 3
//! ```

use serde::{Deserialize, Serialize};
use std::time::Duration;
use warden_host_apis::units::{Dur, Size};

/// `[anomaly]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalySettings {
    pub enabled: bool,
    pub window: Dur,
    pub half_life: Dur,
    pub warmup: u64,
    pub sensitivity: f64,
    pub min_ratio: f64,
    pub min_calls: u64,
    pub min_bytes: Size,
    pub min_destinations: u64,
    pub min_dlp_hits: u64,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        AnomalySettings {
            enabled: false,
            window: Dur(Duration::from_secs(60)),
            half_life: Dur(Duration::from_secs(3 * 86_400)),
            warmup: 60,
            sensitivity: 6.0,
            min_ratio: 3.0,
            min_calls: 20,
            min_bytes: Size(1 << 20),
            min_destinations: 3,
            min_dlp_hits: 3,
        }
    }
}

impl AnomalySettings {
    /// What is wrong with the settings, as (field, problem, fix).
    pub fn problem(&self) -> Option<(String, String, String)> {
        if self.window.get() < Duration::from_secs(1) {
            return Some((
                "anomaly.window".into(),
                format!("{} is shorter than a second", self.window),
                "use \"1m\" (the default) or another whole number of seconds".into(),
            ));
        }
        if self.half_life.get() < self.window.get() {
            return Some((
                "anomaly.half_life".into(),
                format!(
                    "{} is shorter than the window ({})",
                    self.half_life, self.window
                ),
                "let baselines remember days, e.g. \"3d\"".into(),
            ));
        }
        for (field, value) in [
            ("sensitivity", self.sensitivity),
            ("min_ratio", self.min_ratio),
        ] {
            if !value.is_finite() || value < 1.0 {
                return Some((
                    format!("anomaly.{field}"),
                    format!("{value} is below 1"),
                    "a deviation must at least exceed the usual: e.g. sensitivity 6.0, min_ratio 3.0"
                        .into(),
                ));
            }
        }
        if self.warmup == 0 {
            return Some((
                "anomaly.warmup".into(),
                "is 0: an app would be judged before anything is learned".into(),
                "learn a day or more of active windows first, e.g. 60".into(),
            ));
        }
        None
    }

    /// How much one active window moves a learned baseline: the weight
    /// that halves an old window's say every `half_life`.
    pub fn alpha(&self) -> f64 {
        let windows = self.half_life.get().as_secs_f64() / self.window.get().as_secs_f64();
        1.0 - 0.5f64.powf(1.0 / windows.max(1.0))
    }
}
