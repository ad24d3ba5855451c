//! The host as a library: `Host::start` serves apps and the admin API on
//! the addresses it reports, stops and drains on request, and a start that
//! cannot listen says where and how to fix it — no child process, no
//! addresses scraped from stderr.

use crate::support;
use support::admin_api::send_as;
use support::serving::send;
use support::{example, fixture};
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
        let started = host.ready().await;
        assert_eq!((started.ready, started.failed.len()), (1, 0), "{started:?}");
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

/// A compiler that waits for `gate` to exist (at most a minute) before it
/// runs Warden's own: the test decides when a compile ends, so nothing
/// here depends on how fast the machine compiles. Each one writes its
/// process id to `compiler.pid` in `dir`.
fn gated_compiler(dir: &std::path::Path, gate: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("gated-compiler.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nfor _ in $(seq 1200); do [ -e '{}' ] && exec '{}' \"$@\"; sleep 0.05; done\nexit 1\n",
            dir.join("compiler.pid").display(),
            gate.display(),
            env!("CARGO_BIN_EXE_warden")
        ),
    )
    .expect("write the compiler");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

#[test]
fn a_stopping_host_ends_the_compiles_under_way() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("gate");
    let options = HostOptions {
        apps: vec![example("report-formatter")],
        listen: Some("127.0.0.1:0".into()),
        admin_listen: Some("127.0.0.1:0".into()),
        compiler: Some(gated_compiler(dir.path(), &gate)),
        ..HostOptions::new(platform(dir.path()))
    };
    let pid_file = dir.path().join("compiler.pid");
    runtime().block_on(async {
        let host = Host::start(options).await.expect("host starts");
        // The compile is under way (its compiler waits for a gate that
        // never opens): the host stops meanwhile.
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            {
                break pid;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        host.stop();
        host.stopped().await.expect("drained");
        // Its compiler is ended, not left to wait out its minute (or the
        // compile budget) while the process exits.
        let running = std::path::PathBuf::from(format!("/proc/{pid}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while running.exists() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            !running.exists(),
            "the compiler {pid} still runs after the host stopped"
        );
        assert!(!gate.exists());
    });
}

/// Removes the cached artifacts of `component` from the data directory
/// `data`, so its next load compiles it (and leaves the others alone: they
/// may still be written by compiles under way).
fn forget_artifact(data: &std::path::Path, component: &std::path::Path) {
    let digest = {
        use sha2::Digest as _;
        let bytes = std::fs::read(component).expect("component");
        hex::encode(sha2::Sha256::digest(bytes))
    };
    for artifact in std::fs::read_dir(data.join("artifacts")).expect("artifacts") {
        let artifact = artifact.expect("entry").path();
        let name = artifact.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(&digest) {
            std::fs::remove_file(&artifact).expect("remove the artifact");
        }
    }
}

/// What `GET /readyz` on the admin listener `admin` answers: its status
/// and body.
async fn readiness(admin: std::net::SocketAddr) -> (u16, String) {
    let probe = send(admin, "GET", "/readyz", "").await;
    (probe.status, probe.body)
}

#[test]
fn apps_compile_in_the_background_while_the_others_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let host_with = |apps: Vec<std::path::PathBuf>, compiler| HostOptions {
        apps,
        listen: Some("127.0.0.1:0".into()),
        admin_listen: Some("127.0.0.1:0".into()),
        compiler,
        ..HostOptions::new(platform(dir.path()))
    };
    let broken = support::unlinkable_app(dir.path());
    let gate = dir.path().join("gate");
    let compiler = gated_compiler(dir.path(), &gate);
    let data = dir.path().join("data");
    runtime().block_on(async {
        // A first start compiles hello-http: the second takes it from the
        // artifact cache, with no compiler.
        let first = Host::start(host_with(vec![example("hello-http")], None))
            .await
            .expect("host starts");
        first.ready().await;
        // And a creator deploys ledger; its artifact is removed, so the
        // second start compiles it (a deployed version, restored).
        let cora = support::process::token(&data, "cora", "creator");
        let ledger = support::admin_api::deploy_body(
            "ledger",
            "1.0.0",
            &fixture("noop_handler"),
            "[http]\nroute = \"/ledger\"\n",
        );
        let (status, body) = send_as(first.admin_addr, &cora, "POST", "/v1/apps", &ledger).await;
        assert_eq!(status, 201, "{body}");
        first.stop();
        first.stopped().await.expect("drained");
        forget_artifact(&data, &fixture("noop_handler"));

        // hello-http, from the cache, is ready first, though it is not
        // the first app given.
        let apps = vec![example("report-formatter"), example("hello-http"), broken];
        let host = Host::start(host_with(apps, Some(compiler)))
            .await
            .expect("host starts while its apps compile");
        let (app, report) = (host.app_addr, r#"{"title":"Q3","rows":[]}"#);
        // Known as served from the start: a kill finds every app.
        let live = warden_runtime::presence::live(&data);
        assert_eq!(live.len(), 1, "{live:?}");
        let mut names = live[0].apps.clone();
        names.sort();
        assert_eq!(
            names,
            ["broken", "hello-http", "ledger", "report-formatter"]
        );

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let hello = loop {
            let hello = send(app, "GET", "/hello/ada", "").await;
            if hello.status != 503 || std::time::Instant::now() > deadline {
                break hello;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!((hello.status, hello.body.as_str()), (200, "hello, ada\n"));
        // The others wait for the gate: their routes are held and say so.
        for (method, path, body) in [("POST", "/report", report), ("GET", "/broken", "")] {
            let waiting = send(app, method, path, body).await;
            assert_eq!(waiting.status, 503, "{path}: {}", waiting.body);
            assert_eq!(waiting.headers["retry-after"], "5", "{path}");
            assert!(waiting.body.contains("is starting"), "{}", waiting.body);
        }
        let mut starting: Vec<String> = host
            .server
            .starting()
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        starting.sort();
        assert_eq!(starting, ["broken", "ledger", "report-formatter"]);
        // A kill holds while an app compiles, and says so.
        let runtime = host.runtime().clone();
        runtime
            .kill("report-formatter", "drill", "test")
            .expect("kill");
        let killed = send(app, "POST", "/report", report).await;
        assert_eq!(killed.status, 503);
        assert!(
            killed.body.contains("stopped by an operator"),
            "{}",
            killed.body
        );
        runtime.unkill("report-formatter", "test").expect("unkill");
        // Its route is its owner's while it compiles: another creator's
        // app cannot take a path inside it.
        let mallory = support::process::token(&data, "mallory", "creator");
        let sneak = support::admin_api::deploy_body(
            "sneak",
            "1.0.0",
            &fixture("noop_handler"),
            "[http]\nroute = \"/report/...\"\n",
        );
        let (status, body) = send_as(host.admin_addr, &mallory, "POST", "/v1/apps", &sneak).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("belongs to someone else"), "{body}");

        // An admin's quota override reaches an app still compiling: its
        // compile starts again, with the new limits.
        let admin = support::process::token(&data, "ops", "admin");
        let (status, body) = send_as(
            host.admin_addr,
            &admin,
            "PUT",
            "/v1/apps/report-formatter/quota",
            r#"{"requests_per_minute":7}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // A transfer reaches a deployed version still compiling: it is
        // served under its new owner once ready.
        let (status, body) = send_as(
            host.admin_addr,
            &admin,
            "POST",
            "/v1/apps/ledger/transfer",
            r#"{"to":"dana","reason":"cora moved teams"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");

        // The readiness probe holds a load balancer off meanwhile; it
        // needs no token and names nothing. The app workers are live.
        let probe = send(host.admin_addr, "GET", "/readyz", "").await;
        assert_eq!(
            (probe.status, probe.body.as_str()),
            (503, r#"{"ready":false}"#)
        );
        assert_eq!(probe.headers["retry-after"], "5");
        let live = send(host.admin_addr, "GET", "/livez", "").await;
        assert_eq!((live.status, live.body.as_str()), (200, r#"{"live":true}"#));

        std::fs::write(&gate, b"").expect("open the gate");
        let started = host.ready().await;
        assert_eq!(
            readiness(host.admin_addr).await,
            (200, r#"{"ready":true}"#.into())
        );
        assert_eq!(started.ready, 3, "{started:?}");
        assert_eq!(started.failed.len(), 1, "{started:?}");
        assert_eq!(started.failed[0].0, "broken");
        assert!(
            started.failed[0].1.contains("Warden does not provide"),
            "{started:?}"
        );
        let ready = send(app, "POST", "/report", report).await;
        assert_eq!(ready.status, 200, "{}", ready.body);
        assert!(ready.body.contains("Q3"), "{}", ready.body);
        let served = host.server.loaded("report-formatter").expect("served");
        assert_eq!(served.manifest.quota.requests_per_minute, Some(7));
        let ledger = host.server.loaded("ledger").expect("served");
        assert_eq!(ledger.manifest.app.owner.as_deref(), Some("dana"));
        // The presence file lists what this host serves: not a failed app.
        let mut names = warden_runtime::presence::live(&data)[0].apps.clone();
        names.sort();
        assert_eq!(names, ["hello-http", "ledger", "report-formatter"]);
        // A failed compile answers 500, and tells the client nothing of it.
        let failed = send(app, "GET", "/broken", "").await;
        assert_eq!(failed.status, 500, "{}", failed.body);
        assert!(failed.body.contains("did not start"), "{}", failed.body);
        assert!(!failed.body.contains("provide"), "{}", failed.body);
        // Apps are listed in the order they were given, not in the order
        // their compiles finished.
        let (_, listed) = send_as(host.admin_addr, &admin, "GET", "/v1/apps", "").await;
        let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
        let names: Vec<&str> = listed["apps"]
            .as_array()
            .expect("apps")
            .iter()
            .map(|a| a["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            names,
            ["report-formatter", "hello-http", "broken", "ledger"],
            "{listed}"
        );
        // Ready stays ready: a compile after start-up (here the failed
        // app's, restarted by a quota override and held at the closed
        // gate) concerns that app, not the node.
        std::fs::remove_file(&gate).expect("close the gate");
        forget_artifact(&data, &fixture("unsatisfiable"));
        let (status, body) = send_as(
            host.admin_addr,
            &admin,
            "PUT",
            "/v1/apps/broken/quota",
            r#"{"requests_per_minute":5}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let recompiling = host.server.starting_app("broken").expect("held again");
        assert_eq!(recompiling.failed(), None, "compiling behind the gate");
        assert_eq!(
            readiness(host.admin_addr).await,
            (200, r#"{"ready":true}"#.into())
        );
        host.stop();
        host.stopped().await.expect("drained");
    });
}
