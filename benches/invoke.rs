//! Instantiate + call of a no-op `warden:host/app` handler: bare wasmtime
//! (same engine settings, a minimal WASI store) against Warden's governed
//! path (limits, fuel, deadline, capped pipes, denial log, span, report).
//!
//! Prints p50/p99 of each and the ratio. Target: governed p50 <= 1.15x bare
//! and <= 25 µs. Run with `cargo bench -p warden-benches --bench invoke`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{guests, micros, percentile, sample};
use criterion::Criterion;
use warden_host_apis::bindings::AppPre;
use warden_host_apis::log::LogState;
use warden_runtime::Runtime;
use warden_runtime::config::PlatformConfig;
use warden_runtime::invoke::InvocationRequest;
use wasmtime::Store;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
    log: LogState,
    reply: warden_host_apis::reply::ReplyState,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let component = guests::fixture("noop_handler");
    let dir = tempfile::tempdir()?;
    let manifest = common::write_manifest(dir.path(), "noop", &component, "")?;
    let platform = PlatformConfig {
        data_dir: Some(dir.path().join("data")),
        ..PlatformConfig::builtin()
    };
    let runtime = Runtime::new(platform, warden_runtime::telemetry::disabled())?;
    let app = runtime.load_app(&manifest)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // Bare wasmtime on the same engine.
    let engine = runtime.engine().clone();
    let mut linker: Linker<Bare> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    warden_host_apis::log::add_to_linker(&mut linker, |s: &mut Bare| &mut s.log)?;
    warden_host_apis::reply::add_to_linker(&mut linker, |s: &mut Bare| &mut s.reply)?;
    let bytes = std::fs::read(&component)?;
    let compiled = wasmtime::component::Component::new(&engine, &bytes)?;
    let bare_pre = AppPre::new(linker.instantiate_pre(&compiled)?)?;
    let bare_call = || {
        rt.block_on(async {
            let mut store = Store::new(
                &engine,
                Bare {
                    wasi: WasiCtx::builder().build(),
                    table: ResourceTable::new(),
                    log: LogState::default(),
                    reply: Default::default(),
                },
            );
            store.set_fuel(u64::MAX / 2).ok();
            store.set_epoch_deadline(1_000);
            let instance = bare_pre.instantiate_async(&mut store).await.ok();
            if let Some(app) = instance {
                let _ = app
                    .warden_host_handler()
                    .call_handle(&mut store, b"x")
                    .await;
            }
        })
    };
    let governed_call = || {
        let report = rt.block_on(runtime.invoke(&app, InvocationRequest::cli(b"x".to_vec())));
        assert!(report.result.is_ok(), "{:?}", report.result);
    };

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("noop/bare-wasmtime", |b| b.iter(bare_call));
    criterion.bench_function("noop/warden-governed", |b| b.iter(governed_call));
    criterion.final_summary();

    let bare = sample(5_000, 500, bare_call);
    let governed = sample(5_000, 500, governed_call);
    let (b50, g50) = (percentile(&bare, 50.0), percentile(&governed, 50.0));
    println!(
        "instantiate+call no-op handler: bare p50 {:.1} µs p99 {:.1} µs | governed p50 {:.1} µs p99 {:.1} µs | ratio p50 {:.2}x (target <= 1.15x, <= 25 µs)",
        micros(b50),
        micros(percentile(&bare, 99.0)),
        micros(g50),
        micros(percentile(&governed, 99.0)),
        g50.as_secs_f64() / b50.as_secs_f64()
    );
    Ok(())
}
