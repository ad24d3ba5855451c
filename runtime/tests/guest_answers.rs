//! What a `wasi:http` guest answers is checked before a client sees it: a
//! handler that traps before answering is a 500 at once (not a wait for
//! its deadline), a status outside 200–599 is the app's fault, and a
//! component that also exports `wasi:cli/run` is served over HTTP when
//! its manifest has a route.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::Duration;
use support::serving::{send, start};
use support::{TestHost, fixture};
use warden_runtime::invoke::{HttpParts, InvocationRequest};
use warden_runtime::world::World;

const ROUTE: &str = "[http]\nroute = \"/bad/...\"\n[limits]\ntimeout = \"20s\"\n";

fn get(path: &str) -> InvocationRequest {
    InvocationRequest::http(
        HttpParts {
            method: http::Method::GET,
            path_and_query: path.into(),
            headers: http::HeaderMap::new(),
        },
        Vec::new(),
    )
}

/// Adds `world = "<world>"` under `[app]` of the manifest at `path`.
fn with_world(path: std::path::PathBuf, world: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "version = \"1.0.0\"",
        &format!("version = \"1.0.0\"\nworld = \"{world}\""),
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_component_exporting_run_and_incoming_handler_with_a_route_is_an_http_app() {
    let host = TestHost::new();
    let app = host.load(&host.manifest("both", &fixture("http_misbehaving"), ROUTE));
    assert_eq!(app.world, World::HttpProxy);
}

#[test]
fn without_a_route_the_load_error_names_both_exports_and_the_field_that_chooses() {
    let host = TestHost::new();
    let manifest = host.manifest("both", &fixture("http_misbehaving"), "");
    let err = host.load_error(&manifest);
    for part in [
        "app.world",
        "wasi:cli/run",
        "wasi:http/incoming-handler",
        "[http] route",
    ] {
        assert!(err.contains(part), "{part} missing from: {err}");
    }
    let chosen = with_world(
        host.manifest("chosen", &fixture("http_misbehaving"), ""),
        "wasi:cli/command",
    );
    assert_eq!(host.load(&chosen).world, World::Command);
    let wrong = with_world(
        host.manifest("wrong", &fixture("noop_handler"), ""),
        "wasi:http/proxy",
    );
    let err = host.load_error(&wrong);
    assert!(
        err.contains("app.world") && err.contains("warden:host/handler"),
        "{err}"
    );
}

#[test]
fn a_handler_that_traps_before_answering_is_a_trap_not_a_timeout() {
    let host = TestHost::new();
    let app = host.load(&host.manifest("bad", &fixture("http_misbehaving"), ROUTE));
    let report = support::block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            host.runtime.invoke(&app, get("/bad/panic")),
        )
        .await
        .expect("a trap ends the invocation long before its 20 s deadline")
    });
    assert_eq!(report.outcome(), "trap");
}

#[test]
fn trapping_requests_get_500_with_a_request_id_and_free_their_slots() {
    let running = start(
        "[serve]\nmax_concurrency_per_app = 4\n",
        &[("bad", fixture("http_misbehaving"), ROUTE)],
    );
    let addr = running.addr;
    support::block_on(async move {
        let panics: Vec<_> = (0..32)
            .map(|_| tokio::spawn(send(addr, "GET", "/bad/panic", "")))
            .collect();
        for panic in panics {
            let reply = tokio::time::timeout(Duration::from_secs(10), panic)
                .await
                .expect("answered well before the 20 s deadline")
                .unwrap();
            assert!(
                reply.status == 500 || reply.status == 429,
                "{} {}",
                reply.status,
                reply.body
            );
            assert!(reply.headers.contains_key("x-request-id"));
        }
        let ok = send(addr, "GET", "/bad/fine", "").await;
        assert_eq!((ok.status, ok.body.as_str()), (200, "status 200\n"));
    });
}

#[test]
fn statuses_outside_200_to_599_are_the_apps_fault() {
    let host = TestHost::new();
    let app = host.load(&host.manifest("bad", &fixture("http_misbehaving"), ROUTE));
    for status in [101, 103, 199, 600, 999] {
        let report = support::block_on(
            host.runtime
                .invoke(&app, get(&format!("/bad/status/{status}"))),
        );
        assert_eq!(report.outcome(), "app-error", "status {status}");
    }
    for status in [200, 204, 418, 599] {
        let report = support::block_on(
            host.runtime
                .invoke(&app, get(&format!("/bad/status/{status}"))),
        );
        assert_eq!((report.outcome(), report.http_status), ("ok", Some(status)));
    }
}

#[test]
fn a_101_from_a_guest_does_not_break_the_next_pipelined_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let running = start("", &[("bad", fixture("http_misbehaving"), ROUTE)]);
    let addr = running.addr;
    let text = support::block_on(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                b"GET /bad/status/101 HTTP/1.1\r\nHost: a\r\n\r\nGET /bad/status/600 HTTP/1.1\r\nHost: a\r\n\r\nGET /bad/ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
            .await
            .expect("the connection closes after the third answer")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    });
    // Bodies do not end in a newline: find each status line by its prefix.
    let statuses: Vec<&str> = text
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|rest| &rest[..3])
        .collect();
    assert_eq!(statuses, ["500", "500", "200"], "{text}");
    assert_eq!(text.matches("request_id").count(), 2, "{text}");
}

#[test]
fn a_cookie_an_app_sets_is_kept_to_its_route_and_host() {
    let running = start("", &[("bad", fixture("http_misbehaving"), ROUTE)]);
    let reply = support::block_on(send(running.addr, "GET", "/bad/cookie", ""));
    assert_eq!(reply.status, 200);
    let cookies: Vec<&str> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["sid=1; Path=/bad"]);
}
