//! What a fresh instance per request costs Warden's HTTP path: the
//! `wasi:http` hello (examples/hello-http) answering one request on
//! Warden's engine (its pooling allocator, fuel, epochs and in-place memory
//! reset), with a new store and instance per request as `warden serve`
//! does, against one instance kept and called for every request. Warden
//! does not do the second: a request could then read what the one before
//! it left in the instance's memory.
//!
//! Both sides build the request, run the handler and read the whole
//! response; neither has Warden's governance around it. The difference is
//! the fresh instance's price: the store with its WASI and wasi-http
//! contexts, the instantiation, and the reset of the instance's memory
//! when it ends. One thread, one call at a time, so the figures are CPU
//! time per request on a warm cache, with the same pool slot reused each
//! time: the best case. Under load the reset also evicts what the rest of
//! the request path had cached, and Warden's own store carries more than
//! this one's minimal WASI and wasi-http state (limits, captured output,
//! capabilities), so the price here is a lower bound.
//!
//! ```sh
//! cargo bench -p warden-benches --bench fresh_instance
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{guests, micros, percentile, sample};
use http_body_util::{BodyExt, Full};
use std::time::Duration;
use warden_runtime::Runtime;
use warden_runtime::config::PlatformConfig;
use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Requests timed on each side, after as many untimed.
const CALLS: usize = 20_000;

struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

fn new_store(engine: &wasmtime::Engine) -> Store<Host> {
    let mut store = Store::new(
        engine,
        Host {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        },
    );
    store.set_fuel(u64::MAX / 2).unwrap();
    store.set_epoch_deadline(u64::MAX / 2);
    store
}

/// `GET /hello/bench` through `proxy`; the response body.
async fn answer(proxy: &Proxy, store: &mut Store<Host>) -> Bytes {
    let body =
        Full::new(Bytes::new()).map_err::<_, wasmtime_wasi_http::Error>(|never| match never {});
    let request = hyper::Request::builder()
        .uri("http://localhost/hello/bench")
        .body(body)
        .unwrap();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)
        .unwrap();
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(sender)
        .unwrap();
    let handle = proxy
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, req, out);
    let read = async {
        let response = receiver.await.unwrap().unwrap();
        response.into_body().collect().await.unwrap().to_bytes()
    };
    let (handled, body) = tokio::join!(handle, read);
    handled.unwrap();
    body
}

fn main() -> anyhow::Result<()> {
    guests::build_guests();
    let component = guests::examples_dir().join("target/wasm32-wasip2/release/hello_http.wasm");
    let dir = tempfile::tempdir()?;
    let platform = PlatformConfig {
        data_dir: Some(dir.path().join("data")),
        ..PlatformConfig::builtin()
    };
    // Warden's serving engine, with every setting `warden serve` uses.
    let runtime = Runtime::new(platform, warden_runtime::telemetry::disabled())?;
    let engine = runtime.engine().clone();
    let mut linker: Linker<Host> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let compiled = Component::from_file(&engine, &component)?;
    let pre = ProxyPre::new(linker.instantiate_pre(&compiled)?)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let fresh = || {
        rt.block_on(async {
            let mut store = new_store(&engine);
            let proxy = pre.instantiate_async(&mut store).await.unwrap();
            let body = answer(&proxy, &mut store).await;
            assert_eq!(&body[..], b"hello, bench\n");
            // The store ends here: the instance's memory is reset.
        })
    };
    let mut kept = new_store(&engine);
    let proxy = rt.block_on(pre.instantiate_async(&mut kept))?;
    let mut reused = || {
        rt.block_on(async {
            let body = answer(&proxy, &mut kept).await;
            assert_eq!(&body[..], b"hello, bench\n");
        })
    };

    // Alternated, so a drift of the machine shows in both.
    let mut fresh_runs = Vec::new();
    let mut reused_runs = Vec::new();
    for _ in 0..2 {
        fresh_runs.extend(sample(CALLS / 2, CALLS / 2, fresh));
        reused_runs.extend(sample(CALLS / 2, CALLS / 2, &mut reused));
    }
    fresh_runs.sort();
    reused_runs.sort();
    let mean = |d: &[Duration]| micros(d.iter().sum::<Duration>() / d.len() as u32);
    let (f50, r50) = (
        percentile(&fresh_runs, 50.0),
        percentile(&reused_runs, 50.0),
    );
    println!("hello-http, one request at a time on Warden's engine, {CALLS} requests each:");
    println!(
        "  a fresh store and instance per request (as warden serve): p50 {:.1} µs, mean {:.1} µs, p99 {:.1} µs",
        micros(f50),
        mean(&fresh_runs),
        micros(percentile(&fresh_runs, 99.0))
    );
    println!(
        "  one instance for every request (what Warden will not do):  p50 {:.1} µs, mean {:.1} µs, p99 {:.1} µs",
        micros(r50),
        mean(&reused_runs),
        micros(percentile(&reused_runs, 99.0))
    );
    println!(
        "  the fresh instance's price: {:.1} µs per request at p50 ({:.1} µs in the mean)",
        micros(f50) - micros(r50),
        mean(&fresh_runs) - mean(&reused_runs)
    );
    Ok(())
}
