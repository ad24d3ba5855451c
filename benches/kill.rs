//! Kill latency: from `Runtime::kill` to the in-flight invocation having
//! ended, for a guest spinning in Wasm (trapped at the next epoch tick).
//! Target: p99 <= 20 ms. Then under load: 16 CPU-bound guests in flight on
//! 2 worker threads (more guests than workers), from the kill to the last
//! of them ended. Target: p99 <= 100 ms.
//! Run with `cargo bench -p warden-benches --bench kill`.

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
    report(
        "kill latency (in-flight spinning guest, 50 kills)",
        latencies,
        20.0,
    );

    const GUESTS: usize = 16;
    let mut latencies = Vec::new();
    for _ in 0..30 {
        let tasks: Vec<_> = (0..GUESTS)
            .map(|_| {
                let (r, a) = (runtime.clone(), app.clone());
                rt.spawn(
                    async move { r.invoke(&a, InvocationRequest::cli(b"spin".to_vec())).await },
                )
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        runtime.kill("spinner", "bench", "bench")?;
        for task in tasks {
            let report = rt.block_on(task)?;
            assert_eq!(report.outcome(), "killed");
        }
        latencies.push(start.elapsed());
        runtime.unkill("spinner", "bench")?;
    }
    report(
        &format!(
            "kill latency under load ({GUESTS} spinning guests on 2 workers, 30 kills, until the last ends)"
        ),
        latencies,
        100.0,
    );
    Ok(())
}

fn report(what: &str, mut latencies: Vec<Duration>, target_ms: f64) {
    latencies.sort();
    let p99 = micros(percentile(&latencies, 99.0)) / 1000.0;
    println!(
        "{what}: p50 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms (target p99 <= {target_ms} ms: {}; epoch tick 10 ms)",
        micros(percentile(&latencies, 50.0)) / 1000.0,
        micros(*latencies.last().unwrap()) / 1000.0,
        if p99 <= target_ms { "met" } else { "MISSED" }
    );
}
