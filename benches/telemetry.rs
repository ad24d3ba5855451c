//! The cost of telemetry on the no-op invocation: Warden's governed path
//! with spans off (the `warden run` default) against spans recorded into
//! the embedded store through the non-blocking pipeline, with the metric
//! instruments live on an SDK meter provider.
//!
//! Samples alternate between the two hosts so drift hits both alike.
//! `VARIANT=metrics` measures metrics alone (spans off); `VARIANT=nostore`
//! spans through the pipeline without the store.
//! Prints p50/p99 of each and the overhead. Target: <= 5% at p50.
//! Run with `cargo bench -p warden-benches --bench telemetry`.
//! Under HTTP load: `benches/serve-vs-wasmtime.sh` also runs Warden with
//! `[telemetry] enabled = false` and prints the difference.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{guests, micros, percentile};
use std::time::{Duration, Instant};
use warden_runtime::Runtime;
use warden_runtime::config::PlatformConfig;
use warden_runtime::invoke::InvocationRequest;
use warden_runtime::telemetry::HostTelemetry;

fn main() -> anyhow::Result<()> {
    let component = guests::fixture("noop_handler");
    let dir = tempfile::tempdir()?;
    let manifest = common::write_manifest(dir.path(), "noop", &component, "")?;
    let platform = |name: &str| PlatformConfig {
        data_dir: Some(dir.path().join(name)),
        ..PlatformConfig::builtin()
    };
    // Off: built before a meter provider exists, so its instruments are no-ops.
    let off = Runtime::new(platform("off"), warden_runtime::telemetry::disabled())?;
    let meters = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(
            opentelemetry_sdk::metrics::PeriodicReader::builder(
                opentelemetry_sdk::metrics::InMemoryMetricExporter::default(),
            )
            .with_interval(Duration::from_secs(1))
            .build(),
        )
        .build();
    warden_runtime::telemetry::signals::install_metrics(meters.clone());
    let on_platform = platform("on");
    let telemetry = HostTelemetry::start(&on_platform.telemetry, &on_platform.data_dir())?;
    let variant = std::env::var("VARIANT").unwrap_or_default();
    let provider = match variant.as_str() {
        "metrics" => warden_runtime::telemetry::disabled(),
        "nostore" => {
            let p = warden_runtime::telemetry::pipeline::Pipeline::start(None, None, 8192);
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_span_processor(p)
                .build()
        }
        _ => telemetry.provider.clone(),
    };
    let on = Runtime::new(on_platform, provider)?;
    let (app_off, app_on) = (off.load_app(&manifest)?, on.load_app(&manifest)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let time = |runtime: &Runtime, app| {
        let started = Instant::now();
        let report = rt.block_on(runtime.invoke(app, InvocationRequest::cli(b"x".to_vec())));
        assert!(report.result.is_ok());
        started.elapsed()
    };
    for _ in 0..1_000 {
        time(&off, &app_off);
        time(&on, &app_on);
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..20_000 {
        a.push(time(&off, &app_off));
        b.push(time(&on, &app_on));
    }
    a.sort();
    b.sort();
    let _ = telemetry.provider.force_flush();
    let (a50, b50) = (percentile(&a, 50.0), percentile(&b, 50.0));
    println!(
        "no-op invocation: telemetry off p50 {:.1} µs p99 {:.1} µs | spans + metrics on p50 {:.1} µs p99 {:.1} µs | overhead p50 {:+.1}% (target <= 5%)",
        micros(a50),
        micros(percentile(&a, 99.0)),
        micros(b50),
        micros(percentile(&b, 99.0)),
        (b50.as_secs_f64() / a50.as_secs_f64() - 1.0) * 100.0
    );
    // The store's own cost: invocation-shaped traces written in batches of 512.
    let (provider, exporter) = warden_runtime::telemetry::in_memory();
    let recording = Runtime::new(platform("store-source"), provider)?;
    let app_rec = recording.load_app(&manifest)?;
    for _ in 0..512 {
        rt.block_on(recording.invoke(&app_rec, InvocationRequest::cli(b"x".to_vec())));
    }
    let batch = exporter.get_finished_spans()?;
    let store = warden_runtime::telemetry::store::SpanStore::open(
        &dir.path().join("store-bench"),
        Duration::from_secs(86_400),
        10_000_000,
    )
    .or_else(|_| {
        std::fs::create_dir_all(dir.path().join("store-bench"))?;
        warden_runtime::telemetry::store::SpanStore::open(
            &dir.path().join("store-bench"),
            Duration::from_secs(86_400),
            10_000_000,
        )
        .map_err(anyhow::Error::from)
    })?;
    let rounds = 40;
    let started = Instant::now();
    for _ in 0..rounds {
        store.record(&batch)?;
    }
    let per_trace = started.elapsed() / (rounds * 512);
    println!(
        "span store: {:.1} µs per invocation trace ({} spans) on the worker thread = {:.0} traces/s per core",
        micros(per_trace),
        batch.len() / 512,
        1.0 / per_trace.as_secs_f64()
    );
    let stats = &telemetry.stats;
    use std::sync::atomic::Ordering::Relaxed;
    println!(
        "spans: queued {} stored {} dropped {}",
        stats.queued.load(Relaxed),
        stats.stored.load(Relaxed),
        stats.dropped.load(Relaxed)
    );
    Ok(())
}
