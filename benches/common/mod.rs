//! Helpers shared by the benches: the real guest components, percentiles
//! and the one-line report every bench prints.
#![allow(dead_code)]

#[path = "../../runtime/tests/support/guests.rs"]
pub mod guests;

use std::time::{Duration, Instant};

/// Times `f` `n` times after `warmup` untimed runs; returns sorted samples.
pub fn sample(n: usize, warmup: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..warmup {
        f();
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        f();
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

/// The `p`-th percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[path = "../../runtime/tests/support/upstream.rs"]
pub mod upstream;

/// Writes `<dir>/<name>.toml` for `component` with extra manifest text.
pub fn write_manifest(
    dir: &std::path::Path,
    name: &str,
    component: &std::path::Path,
    extra: &str,
) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[app]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n{extra}\n",
        component.display()
    );
    std::fs::write(&path, text)?;
    Ok(path)
}
