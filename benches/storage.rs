//! Classified storage: host-side get/set latency, guest round trip, purge
//! throughput and read latency while a purge runs.
//!
//! Targets: host-side get <= 5 µs p50 on a hot key. The purge size is
//! `WARDEN_BENCH_PURGE_KEYS` (default 200000; the issue's figure is 1000000).
//! Run with `cargo bench -p warden-benches --bench storage`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{guests, micros, percentile, sample};
use std::sync::Arc;
use std::time::Instant;
use warden_host_apis::bindings::warden::host::storage::Host;
use warden_host_apis::classes::{DataClass, Label};
use warden_host_apis::secrets::MasterKey;
use warden_host_apis::storage::config::{BucketRequest, StorageRules};
use warden_host_apis::storage::store::{KvStore, SqliteKv, WriteCaps};
use warden_host_apis::storage::{StorageGrant, StorageState, now_ms};
use warden_runtime::Runtime;
use warden_runtime::config::PlatformConfig;
use warden_runtime::invoke::InvocationRequest;

fn state(store: Arc<dyn KvStore>, class: DataClass) -> StorageState {
    let bucket = BucketRequest {
        bucket: "b".into(),
        class,
        ttl: None,
    };
    let master = MasterKey::from_bytes([1; 32]);
    let ctx = StorageGrant::build(
        "bench",
        &[bucket],
        &StorageRules::default(),
        None,
        store,
        Some(&master),
    )
    .unwrap();
    StorageState::new(Arc::new(ctx), Label::default())
}

fn report(name: &str, samples: &[std::time::Duration]) {
    println!(
        "{name:<44} p50 {:>7.2} µs  p99 {:>8.2} µs",
        micros(percentile(samples, 50.0)),
        micros(percentile(samples, 99.0))
    );
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn KvStore> = Arc::new(SqliteKv::open(&dir.path().join("storage.db"))?);

    // Host calls run as they do under a guest: on a tokio worker, with
    // the SQLite call on the blocking pool.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    for class in [DataClass::Internal, DataClass::Confidential] {
        let mut s = state(store.clone(), class);
        rt.block_on(s.set("b".into(), "hot".into(), vec![b'v'; 256], None))
            .unwrap()
            .unwrap();
        let get = sample(20_000, 2_000, || {
            let v = rt
                .block_on(s.get("b".into(), "hot".into()))
                .unwrap()
                .unwrap();
            assert!(v.is_some());
        });
        report(&format!("host get, hot key, 256 B, {class}"), &get);
        let mut i = 0u64;
        let set = sample(5_000, 500, || {
            i += 1;
            rt.block_on(s.set("b".into(), format!("k{}", i % 1000), vec![b'v'; 256], None))
                .unwrap()
                .unwrap();
        });
        report(&format!("host set, 256 B, {class}"), &set);
    }
    // The backend alone, called from a plain thread (no hop to the pool):
    // what a get costs in SQLite, against the host call above.
    let direct = sample(20_000, 2_000, || {
        let v = futures_executor::block_on(store.get("bench", "b", "hot", now_ms())).unwrap();
        assert!(v.is_some());
    });
    report("backend get on the caller's thread, hot key", &direct);
    println!("(target: host get p50 <= 5 µs)");

    // Guest round trip through the kv-app fixture.
    let manifest = common::write_manifest(
        dir.path(),
        "kv",
        &guests::fixture("kv_app"),
        "[[storage]]\nbucket = \"cache\"\nclass = \"internal\"",
    )?;
    let platform = PlatformConfig {
        data_dir: Some(dir.path().join("data")),
        ..PlatformConfig::builtin()
    };
    let runtime = Runtime::new(platform, warden_runtime::telemetry::disabled())?;
    let app = runtime.load_app(&manifest)?;
    // As `warden serve` runs invocations: on a multi-threaded runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let set_get = br#"[{"op":"set","bucket":"cache","key":"k","value":"v"},{"op":"get","bucket":"cache","key":"k"}]"#;
    let noop = br#"[]"#;
    let runs = |input: &[u8]| {
        sample(2_000, 200, || {
            assert!(
                rt.block_on(runtime.invoke(&app, InvocationRequest::cli(input.to_vec())))
                    .result
                    .is_ok()
            );
        })
    };
    let (with_ops, without) = (runs(set_get), runs(noop));
    report("guest invocation with set+get", &with_ops);
    report("guest invocation without storage", &without);
    println!(
        "guest set+get round trip ≈ {:.1} µs (difference of p50s)",
        micros(percentile(&with_ops, 50.0)) - micros(percentile(&without, 50.0))
    );
    // `warden serve` runs each invocation in a task on a tokio worker,
    // where a hop to the blocking pool costs most (the worker parks in
    // the I/O driver): the same runs, timed inside one worker's task.
    let (runtime, app) = (Arc::new(runtime), Arc::new(app));
    let on_worker = |input: &[u8]| {
        let (runtime, app, input) = (runtime.clone(), app.clone(), input.to_vec());
        let timed = rt.block_on(rt.spawn(async move {
            let mut samples = Vec::with_capacity(2_000);
            for i in 0..2_200 {
                let started = Instant::now();
                let report = runtime
                    .invoke(&app, InvocationRequest::cli(input.clone()))
                    .await;
                assert!(report.result.is_ok());
                if i >= 200 {
                    samples.push(started.elapsed());
                }
            }
            samples.sort();
            samples
        }));
        timed.unwrap()
    };
    let (with_ops, without) = (on_worker(set_get), on_worker(noop));
    report("on a worker: guest invocation with set+get", &with_ops);
    report("on a worker: guest invocation without storage", &without);
    println!(
        "on a worker: guest set+get round trip ≈ {:.1} µs (difference of p50s)",
        micros(percentile(&with_ops, 50.0)) - micros(percentile(&without, 50.0))
    );

    // Purge throughput and read latency during a purge.
    let n: u64 = std::env::var("WARDEN_BENCH_PURGE_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let purge_dir = tempfile::tempdir()?;
    let purge_store = Arc::new(SqliteKv::open(&purge_dir.path().join("p.db"))?);
    let fill = Instant::now();
    for i in 0..n {
        futures_executor::block_on(purge_store.set(
            "bench",
            "b",
            &format!("expired-{i:08}"),
            b"x",
            1,
            WriteCaps::default(),
        ))?;
    }
    for i in 0..1_000 {
        futures_executor::block_on(purge_store.set(
            "bench",
            "b",
            &format!("live-{i}"),
            b"x",
            u64::MAX / 4,
            WriteCaps::default(),
        ))?;
    }
    println!(
        "filled {n} expired + 1000 live keys in {:.1} s",
        fill.elapsed().as_secs_f64()
    );
    let reader_store = purge_store.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_reader = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut lat = Vec::new();
        while !stop_reader.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            let v = futures_executor::block_on(reader_store.get("bench", "b", "live-7", now_ms()))
                .unwrap();
            lat.push(t.elapsed());
            assert!(v.is_some());
        }
        lat.sort();
        lat
    });
    let started = Instant::now();
    let mut purged = 0;
    loop {
        let k = futures_executor::block_on(purge_store.purge_expired(now_ms(), 1_000))?;
        purged += k;
        if k < 1_000 {
            break;
        }
    }
    let took = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    println!(
        "purged {purged} keys in {took:.2} s = {:.0} keys/s",
        purged as f64 / took
    );
    report(
        &format!("read latency during purge ({} reads)", reads.len()),
        &reads,
    );
    Ok(())
}
