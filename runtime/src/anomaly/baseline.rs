//! One app's learned baseline: per window, four egress metrics, each with
//! an exponentially weighted mean and variance, and the destinations it
//! has been seen to use. Pure: time comes in as a window number, so the
//! model is tested on series of windows without waiting for a clock.

use crate::config::anomaly::AnomalySettings;
use serde::Serialize;
use std::collections::BTreeSet;

/// The metrics a window is judged on, in [`Totals::values`] order.
pub const METRICS: [&str; 4] = ["calls", "egress_bytes", "destinations", "dlp_hits"];

/// What one window held so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub calls: u64,
    pub bytes: u64,
    pub destinations: BTreeSet<String>,
    pub dlp_hits: u64,
}

impl Totals {
    fn values(&self) -> [f64; 4] {
        [
            self.calls as f64,
            self.bytes as f64,
            self.destinations.len() as f64,
            self.dlp_hits as f64,
        ]
    }

    fn is_empty(&self) -> bool {
        self.calls == 0 && self.dlp_hits == 0
    }
}

/// An exponentially weighted mean and variance (West 1979; the
/// incremental form in Finch, "Incremental calculation of weighted mean
/// and variance", 2009, §9).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Ewma {
    mean: f64,
    var: f64,
}

impl Ewma {
    fn learn(&mut self, x: f64, alpha: f64) {
        let diff = x - self.mean;
        let step = alpha * diff;
        self.mean += step;
        self.var = (1.0 - alpha) * (self.var + diff * step);
    }
}

/// One metric of a window that left its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deviation {
    pub metric: &'static str,
    pub value: f64,
    pub mean: f64,
    pub stddev: f64,
}

/// A window that departs from the app's baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub deviations: Vec<Deviation>,
    /// Destinations of this window never seen while learning.
    pub new_destinations: Vec<String>,
    /// Active windows learned.
    pub learned_windows: u64,
}

/// One app's baseline and its current window.
#[derive(Debug, Default)]
pub struct Baseline {
    window: u64,
    current: Totals,
    metrics: [Ewma; 4],
    learned: u64,
    known: BTreeSet<String>,
    /// The window an anomaly was raised in: raised once, and never
    /// learned (an attack must not become the usual).
    tripped: Option<u64>,
}

impl Baseline {
    /// Adds what one invocation did in `window`; the anomaly, the first
    /// time this window departs from the baseline.
    pub fn observe(
        &mut self,
        window: u64,
        seen: &Totals,
        settings: &AnomalySettings,
    ) -> Option<Anomaly> {
        if window != self.window {
            self.close(settings);
            self.window = window;
        }
        self.current.calls += seen.calls;
        self.current.bytes += seen.bytes;
        self.current.dlp_hits += seen.dlp_hits;
        self.current
            .destinations
            .extend(seen.destinations.iter().cloned());
        if self.learned < settings.warmup || self.tripped == Some(window) {
            return None;
        }
        let minimums = [
            settings.min_calls as f64,
            settings.min_bytes.bytes() as f64,
            settings.min_destinations as f64,
            settings.min_dlp_hits as f64,
        ];
        let deviations: Vec<Deviation> = self
            .current
            .values()
            .iter()
            .zip(self.metrics.iter())
            .zip(minimums)
            .zip(METRICS)
            .filter_map(|(((&value, learned), minimum), metric)| {
                let stddev = learned.var.max(0.0).sqrt();
                (value >= minimum
                    && value > learned.mean * settings.min_ratio
                    && value > learned.mean + settings.sensitivity * stddev)
                    .then_some(Deviation {
                        metric,
                        value,
                        mean: learned.mean,
                        stddev,
                    })
            })
            .collect();
        if deviations.is_empty() {
            return None;
        }
        self.tripped = Some(window);
        Some(Anomaly {
            deviations,
            new_destinations: self
                .current
                .destinations
                .difference(&self.known)
                .cloned()
                .collect(),
            learned_windows: self.learned,
        })
    }

    /// Learns the window that ended (if the app was active in it and it
    /// raised nothing). Until the warm-up is done every window weighs the
    /// same (a plain mean); then each counts `alpha`.
    fn close(&mut self, settings: &AnomalySettings) {
        let ended = std::mem::take(&mut self.current);
        if ended.is_empty() || self.tripped == Some(self.window) {
            return;
        }
        self.learned += 1;
        let alpha = (1.0 / self.learned as f64).max(settings.alpha());
        for (metric, x) in self.metrics.iter_mut().zip(ended.values()) {
            metric.learn(x, alpha);
        }
        self.known.extend(ended.destinations);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows of a minute that forget with a 20-minute half-life.
    fn settings() -> AnomalySettings {
        AnomalySettings {
            enabled: true,
            warmup: 30,
            min_calls: 10,
            half_life: warden_host_apis::units::Dur(std::time::Duration::from_secs(20 * 60)),
            ..AnomalySettings::default()
        }
    }

    fn calls(n: u64, to: &str) -> Totals {
        Totals {
            calls: n,
            bytes: n * 2_000,
            destinations: BTreeSet::from([to.to_string()]),
            dlp_hits: 0,
        }
    }

    /// Feeds `per_window(w)` as one invocation each window from `from`;
    /// the first anomaly, with its window.
    fn run(
        base: &mut Baseline,
        windows: std::ops::Range<u64>,
        per_window: impl Fn(u64) -> Totals,
    ) -> Option<(u64, Anomaly)> {
        let s = settings();
        windows
            .into_iter()
            .find_map(|w| base.observe(w, &per_window(w), &s).map(|a| (w, a)))
    }

    #[test]
    fn ten_times_the_usual_to_a_new_destination_is_an_anomaly() {
        let mut base = Baseline::default();
        // A month of behaving, with the ordinary wobble.
        let quiet = run(&mut base, 0..200, |w| calls(8 + w % 5, "crm"));
        assert_eq!(quiet, None);
        let (window, anomaly) =
            run(&mut base, 200..201, |_| calls(100, "paste.example")).expect("detected");
        assert_eq!(window, 200);
        assert_eq!(anomaly.new_destinations, ["paste.example"]);
        let metrics: Vec<&str> = anomaly.deviations.iter().map(|d| d.metric).collect();
        assert!(metrics.contains(&"calls"), "{anomaly:?}");
        assert!(
            (anomaly.deviations[0].mean - 10.0).abs() < 1.0,
            "{anomaly:?}"
        );
        // Raised once per window, and the window is not learned.
        assert_eq!(
            base.observe(200, &calls(5, "paste.example"), &settings()),
            None
        );
        assert_eq!(run(&mut base, 201..202, |_| calls(9, "crm")), None);
        assert!(!base.known.contains("paste.example"));
    }

    #[test]
    fn usage_that_only_grows_slowly_is_learned_not_flagged() {
        let mut base = Baseline::default();
        // 2% more every window: tenfold over some 120 windows, slow next
        // to the 20-window half-life.
        let grown = run(&mut base, 0..400, |w| {
            calls((10.0 * 1.02f64.powi(w as i32)) as u64, "crm")
        });
        assert_eq!(grown, None);
    }

    #[test]
    fn nothing_is_judged_before_the_warmup_or_below_the_minimums() {
        let mut base = Baseline::default();
        assert_eq!(run(&mut base, 0..5, |w| calls(1 + w * 100, "crm")), None);
        let mut small = Baseline::default();
        // From 1 to 9 calls: nine times the usual, but under min_calls.
        run(&mut small, 0..40, |_| calls(1, "crm"));
        assert_eq!(run(&mut small, 40..41, |_| calls(9, "crm")), None);
    }

    #[test]
    fn idle_windows_teach_nothing() {
        let mut base = Baseline::default();
        run(&mut base, 0..40, |w| {
            if w % 2 == 0 {
                calls(10, "crm")
            } else {
                Totals::default()
            }
        });
        assert_eq!(base.learned, 20);
        assert!((base.metrics[0].mean - 10.0).abs() < 1e-9);
    }
}
