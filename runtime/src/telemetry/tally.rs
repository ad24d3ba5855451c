//! Per-app invocation counts and a latency histogram, kept in 10-second
//! buckets by the span store: what `warden top`, the usage chart and the
//! SLO burn rates read, exact in counts even when successful traces are
//! sampled out of the store under load.
//!
//! The histogram has geometric buckets (×1.25 from 10 µs to past 60 s),
//! so a percentile read from it is within 25% of the true value.

use serde::{Deserialize, Serialize};

/// Upper bounds of the latency buckets, in microseconds.
pub(crate) fn bounds() -> &'static [i64] {
    static BOUNDS: std::sync::OnceLock<Vec<i64>> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut out = Vec::new();
        let mut b = 10.0_f64;
        while b < 90_000_000.0 {
            out.push(b.round() as i64);
            b *= 1.25;
        }
        out
    })
}

/// Where an app's tallies are read from for its objectives: this node's
/// span store, or — when nodes share state — every node's, summed in the
/// shared database (`crate::state::postgres::tallies`).
pub(crate) trait TallySource: Send + Sync {
    /// `app`'s invocations since `since_us` (Unix µs; 10-second
    /// resolution).
    ///
    /// # Errors
    /// The store cannot be read.
    fn tally_since(&self, app: &str, since_us: i64) -> Result<Tally, String>;
}

/// Where a node's tallies go besides its own span store: each 10-second
/// bucket as it now stands on this node, whenever it grows.
pub(crate) trait TallySink: Send + Sync {
    /// `merged`: (app, bucket number, this node's whole tally of it).
    fn publish(&self, merged: Vec<(String, i64, Tally)>);
}

/// Counts and a latency histogram for one app over some span of time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub invocations: u64,
    pub errors: u64,
    /// Invocations per latency bucket (see [`bounds`]); the last counts
    /// everything slower than the last bound.
    pub histogram: Vec<u64>,
}

impl Tally {
    pub fn add(&mut self, duration_us: i64, ok: bool) {
        if self.histogram.len() != bounds().len() + 1 {
            self.histogram.resize(bounds().len() + 1, 0);
        }
        self.invocations += 1;
        if !ok {
            self.errors += 1;
        }
        let i = bounds().partition_point(|b| *b < duration_us);
        self.histogram[i] += 1;
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        if self.histogram.len() < other.histogram.len() {
            self.histogram.resize(other.histogram.len(), 0);
        }
        self.invocations += other.invocations;
        self.errors += other.errors;
        for (a, b) in self.histogram.iter_mut().zip(&other.histogram) {
            *a += b;
        }
    }

    /// The latency under which `p` percent of invocations finished (the
    /// upper bound of the bucket holding that rank); 0 with no data.
    pub fn percentile(&self, p: f64) -> i64 {
        let total: u64 = self.histogram.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bounds()
                    .get(i)
                    .copied()
                    .unwrap_or_else(|| bounds().last().copied().unwrap_or(0) * 2);
            }
        }
        0
    }

    /// Invocations that took longer than `threshold_us` (buckets wholly
    /// above it; a bucket straddling it counts as fast).
    pub(crate) fn slower_than(&self, threshold_us: i64) -> u64 {
        let first = bounds().partition_point(|b| *b <= threshold_us);
        // Bucket i holds (bounds[i-1], bounds[i]]; it is all slower when
        // its lower bound is at or above the threshold.
        self.histogram
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                *i > first || (*i == first && first > 0 && bounds()[first - 1] >= threshold_us)
            })
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_slow_counts_come_from_the_histogram() {
        let mut t = Tally::default();
        for us in 1..=100 {
            t.add(us * 100, us % 10 != 0);
        }
        assert_eq!((t.invocations, t.errors), (100, 10));
        let p50 = t.percentile(50.0);
        assert!((5_000..=6_250).contains(&p50), "{p50}");
        let p99 = t.percentile(99.0);
        assert!((9_900..=12_400).contains(&p99), "{p99}");
        assert_eq!(t.slower_than(0), 100);
        assert_eq!(t.slower_than(100_000_000), 0);
        let slow = t.slower_than(5_000);
        assert!((40..=55).contains(&slow), "{slow}");
        let mut merged = Tally::default();
        merged.merge(&t);
        merged.merge(&t);
        assert_eq!(merged.invocations, 200);
        assert_eq!(merged.percentile(50.0), p50);
    }
}
