//! A connector call through Warden against a direct hyper request to the
//! same loopback server. Both open a new connection per request (Warden's
//! client does not pool, so that every call gets its own address check).
//!
//! Prints p50/p99 of: the direct request, the governed call host-side
//! (route, quota, credential, address check, send, meter), and the full
//! guest round trip (instantiate + handler + connector call), with the
//! overheads. Run with `cargo bench -p warden-benches --bench egress`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::upstream::Upstream;
use common::{guests, micros, percentile, sample};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use warden_host_apis::egress::governed::{CallRequest, EgressState, Target};
use warden_host_apis::invocation::InvocationContext;
use warden_runtime::Runtime;
use warden_runtime::config::PlatformConfig;
use warden_runtime::invoke::InvocationRequest;

fn main() -> anyhow::Result<()> {
    let upstream = Upstream::start();
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[egress]\nallow_cidrs = [\"127.0.0.1/32\"]\n[[connectors]]\nname = \"crm\"\nbase_url = \"{}\"\nauth = {{ kind = \"bearer\", secret = \"crm-token\" }}\nscopes = {{ read = [\"GET /**\"] }}\n",
            upstream.url("/api")
        ),
    )?;
    let platform = PlatformConfig::load(&config)?;
    warden_runtime::runtime::open_secrets(&platform, &dir.path().join("data"))?
        .set("crm-token", b"bench-token")?;
    let runtime = Runtime::new(platform, warden_runtime::telemetry::disabled())?;
    let manifest = common::write_manifest(
        dir.path(),
        "bench",
        &guests::fixture("connector_call"),
        "[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]",
    )?;
    let app = runtime.load_app(&manifest)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let addr = upstream.addr;

    let direct = || {
        rt.block_on(async {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let request = http::Request::get("/api/contacts/1")
                .header("host", addr.to_string())
                .header("authorization", "Bearer bench-token")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok from upstream");
        })
    };
    let invocation = InvocationContext::new(app.name().into(), app.meter.clone(), app.kill.clone());
    let egress = EgressState::new(app.grants.egress.clone(), &invocation);
    let governed = || {
        rt.block_on(async {
            let inbound = egress
                .perform(CallRequest {
                    method: http::Method::GET,
                    target: Target::Connector("crm".into()),
                    path_and_query: "/contacts/1".into(),
                    headers: http::HeaderMap::new(),
                    body: Bytes::new(),
                })
                .await
                .unwrap();
            assert_eq!(&inbound.body[..], b"ok from upstream");
            egress.take_calls();
        })
    };
    let input = br#"{"connector":"crm","method":"GET","path":"/contacts/1"}"#.to_vec();
    let guest = || {
        let report = rt.block_on(runtime.invoke(&app, InvocationRequest::cli(input.clone())));
        assert!(report.result.is_ok(), "{:?}", report.result);
    };

    let d = sample(2_000, 200, direct);
    let g = sample(2_000, 200, governed);
    let r = sample(2_000, 200, guest);
    let (d50, g50, r50) = (
        percentile(&d, 50.0),
        percentile(&g, 50.0),
        percentile(&r, 50.0),
    );
    println!(
        "direct hyper request      p50 {:>7.1} µs  p99 {:>7.1} µs",
        micros(d50),
        micros(percentile(&d, 99.0))
    );
    println!(
        "governed call (host side) p50 {:>7.1} µs  p99 {:>7.1} µs  overhead p50 {:+.1} µs ({:.2}x)",
        micros(g50),
        micros(percentile(&g, 99.0)),
        micros(g50) - micros(d50),
        g50.as_secs_f64() / d50.as_secs_f64()
    );
    println!(
        "guest round trip          p50 {:>7.1} µs  p99 {:>7.1} µs  overhead p50 {:+.1} µs ({:.2}x)",
        micros(r50),
        micros(percentile(&r, 99.0)),
        micros(r50) - micros(d50),
        r50.as_secs_f64() / d50.as_secs_f64()
    );
    Ok(())
}
