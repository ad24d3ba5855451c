//! Kill latency: from `Runtime::kill` to the in-flight invocation having
//! ended, for a guest spinning in Wasm (trapped at the next epoch tick).
//! Target: p99 <= 20 ms. Run with `cargo bench -p warden-benches --bench kill`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{guests, micros, percentile};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warden_runtime::Runtime;
use warden_runtime::config::PlatformConfig;
use warden_runtime::invoke::InvocationRequest;

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[maximums]\nfuel = 1_000_000_000_000\n",
    )?;
    let runtime = Arc::new(Runtime::new(
        PlatformConfig::load(&config)?,
        warden_runtime::telemetry::disabled(),
    )?);
    let manifest = common::write_manifest(
        dir.path(),
        "spinner",
        &guests::fixture("noop_handler"),
        "[limits]\nfuel = 1_000_000_000_000\ntimeout = \"30s\"",
    )?;
    let app = Arc::new(runtime.load_app(&manifest)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let (r, a) = (runtime.clone(), app.clone());
        let task =
            rt.spawn(async move { r.invoke(&a, InvocationRequest::cli(b"spin".to_vec())).await });
        std::thread::sleep(Duration::from_millis(30));
        let start = Instant::now();
        runtime.kill("spinner", "bench", "bench")?;
        let report = rt.block_on(task)?;
        latencies.push(start.elapsed());
        assert_eq!(report.outcome(), "killed");
        runtime.unkill("spinner", "bench")?;
    }
    latencies.sort();
    println!(
        "kill latency (in-flight spinning guest, 50 kills): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 <= 20 ms; epoch tick 10 ms)",
        micros(percentile(&latencies, 50.0)) / 1000.0,
        micros(percentile(&latencies, 99.0)) / 1000.0,
        micros(*latencies.last().unwrap()) / 1000.0
    );
    Ok(())
}
