//! The host as a library: `Host::start` serves apps and the admin API on
//! the addresses it reports, stops and drains on request, and a start that
//! cannot listen says where and how to fix it — no child process, no
//! addresses scraped from stderr.

use crate::support;
use support::example;
use support::serving::send;
use warden_runtime::config::PlatformConfig;
use warden_runtime::host::{Host, HostOptions, StartError};

fn platform(dir: &std::path::Path) -> PlatformConfig {
    PlatformConfig {
        data_dir: Some(dir.join("data")),
        ..PlatformConfig::builtin()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn a_library_host_serves_its_apps_and_admin_api_then_drains() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = HostOptions {
        apps: vec![example("hello-http")],
        listen: Some("127.0.0.1:0".into()),
        admin_listen: Some("127.0.0.1:0".into()),
        ..HostOptions::new(platform(dir.path()))
    };
    runtime().block_on(async move {
        let host = Host::start(options).await.expect("host starts");
        assert_eq!(host.scheme, "http");
        // Known in the data directory as soon as the start returns, with
        // its apps: a `warden kill` run right away finds it.
        let live = warden_runtime::presence::live(&dir.path().join("data"));
        assert_eq!(live.len(), 1, "{live:?}");
        assert_eq!(live[0].apps, ["hello-http"]);
        let hello = send(host.app_addr, "GET", "/hello/ada", "").await;
        assert_eq!((hello.status, hello.body.as_str()), (200, "hello, ada\n"));
        let spec = send(host.admin_addr, "GET", "/openapi.json", "").await;
        assert_eq!(spec.status, 200);
        assert!(spec.body.contains("\"openapi\""), "{}", spec.body);
        let apps: Vec<String> = host
            .server
            .apps()
            .iter()
            .map(|s| s.app.name().to_string())
            .collect();
        assert_eq!(apps, ["hello-http"]);
        let addr = host.app_addr;
        host.stop();
        host.stopped()
            .await
            .expect("drained without a server error");
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "a stopped host accepts nothing"
        );
    });
}

#[test]
fn a_host_that_cannot_listen_says_where_and_how_to_fix_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address").to_string();
    let options = HostOptions {
        listen: Some(addr.clone()),
        admin_listen: Some("127.0.0.1:0".into()),
        ..HostOptions::new(platform(dir.path()))
    };
    let err = runtime()
        .block_on(Host::start(options))
        .err()
        .expect("the address is taken");
    assert!(matches!(err, StartError::Config(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&addr), "{message}");
    assert!(message.contains("fix: pick a free address"), "{message}");
}
