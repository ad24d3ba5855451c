//! Several `warden serve` nodes sharing their state through one PostgreSQL
//! database: what one node decides, every node obeys.

use crate::support;
use std::time::{Duration, Instant};
use support::fixture;
use support::library::LibHost;
use support::serving::{send, send_with};

/// A node: its own data directory, the shared database, and the spinning
/// fixture served at `/spin/...` (`/spin/ok` answers at once, `/spin/spin`
/// runs until its 20 s deadline).
pub(crate) struct Node {
    pub(crate) host: LibHost,
    pub(crate) data: tempfile::TempDir,
}

pub(crate) fn node(state: &str) -> Node {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(
        &config,
        format!("{state}\n[maximums]\nfuel = 1_000_000_000_000\ntimeout = \"30s\"\n"),
    )
    .unwrap();
    let manifest = support::process::spin_app(data.path());
    let host = LibHost::start(data.path(), Some(&config), &[&manifest]);
    Node { host, data }
}

/// A token made with `node`'s settings: in the database nodes share.
pub(crate) fn shared_token(node: &Node, name: &str, role: &str) -> String {
    let config = node.data.path().join("warden.toml");
    support::process::token_with(&config, node.data.path(), name, role)
}

/// A kill on node A stops the app on nodes B and C within a second: both
/// refuse new requests, and the guest C was running is trapped (one
/// spinning guest: two would take both cores of a small test machine). An
/// unkill on B lets A and C serve again within a second.
#[test]
fn a_kill_on_one_node_stops_the_app_on_every_node_within_a_second() {
    let (state, _key) = support::postgres::cluster_config();
    let (a, b, c) = (node(&state), node(&state), node(&state));
    // One token, made through node A's settings, signs in on every node.
    let admin = shared_token(&a, "ops", "admin");
    let (a_app, b_app, c_app) = (a.host.app_addr, b.host.app_addr, c.host.app_addr);
    let (a_admin, b_admin) = (a.host.admin_addr(), b.host.admin_addr());
    let auth = format!("Bearer {admin}");
    support::block_on(async move {
        for addr in [b_app, c_app] {
            assert_eq!(send(addr, "GET", "/spin/ok", "").await.status, 200);
        }
        let running = tokio::spawn(send(c_app, "GET", "/spin/spin", ""));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed_at = Instant::now();
        let killed = send_with(
            a_admin,
            "POST",
            "/v1/apps/spin/kill",
            "{\"reason\":\"drill across nodes\"}",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
        )
        .await;
        assert_eq!(killed.status, 200, "{}", killed.body);
        // B and C refuse new requests within a second of the kill.
        for (name, addr) in [("B", b_app), ("C", c_app)] {
            while send(addr, "GET", "/spin/ok", "").await.status != 503 {
                assert!(
                    killed_at.elapsed() < Duration::from_secs(1),
                    "node {name} still serves a second after the kill on A"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // And the guest C was running is trapped, long before its 20 s.
        let trapped = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the running guest is stopped")
            .unwrap();
        assert_ne!(trapped.status, 200, "{}", trapped.body);

        // Unkilled on B: A and C serve again.
        let unkilled = send_with(
            b_admin,
            "POST",
            "/v1/apps/spin/unkill",
            "",
            &[("authorization", &auth)],
        )
        .await;
        assert_eq!(unkilled.status, 200, "{}", unkilled.body);
        let unkilled_at = Instant::now();
        for (name, addr) in [("A", a_app), ("C", c_app)] {
            while send(addr, "GET", "/spin/ok", "").await.status != 200 {
                assert!(
                    unkilled_at.elapsed() < Duration::from_secs(1),
                    "node {name} still refuses a second after the unkill on B"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
}

/// A `warden kill` on a node's data directory that does not name the
/// shared database would write a kill that node never reads: it is
/// refused, and nothing is recorded. With the node's settings it works.
#[test]
fn a_cli_kill_that_would_miss_the_shared_state_is_refused() {
    let (state, _key) = support::postgres::cluster_config();
    let a = node(&state);
    let warden = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .env("WARDEN_DATA_DIR", a.data.path())
            .env_remove("WARDEN_TOKEN")
            .env_remove("WARDEN_SERVER")
            .output()
            .unwrap()
    };
    let out = warden(&["kill", "spin", "--reason", "drill"]);
    assert_eq!(out.status.code(), Some(3), "{}", support::said(&out));
    assert!(
        support::said(&out).contains("keeps its state in postgresql://"),
        "{}",
        support::said(&out)
    );
    let app = a.host.app_addr;
    assert_eq!(
        support::serving::request(app, "GET", "/spin/ok", "").status,
        200
    );
    let config = a.data.path().join("warden.toml");
    let out = warden(&[
        "kill",
        "spin",
        "--reason",
        "drill",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", support::said(&out));
    let killed_at = Instant::now();
    while support::serving::request(app, "GET", "/spin/ok", "").status != 503 {
        assert!(
            killed_at.elapsed() < Duration::from_secs(1),
            "not stopped within a second"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Tokens are shared: one made on a node signs in on every node, one
/// revoked on any node is refused on all, and a token written to a node's
/// data directory instead (no `--config`) is refused before it is made.
#[test]
fn a_token_made_or_revoked_on_one_node_counts_on_every_node() {
    let (state, _key) = support::postgres::cluster_config();
    let (a, b) = (node(&state), node(&state));
    let token = shared_token(&a, "auditor-1", "auditor");
    let whoami = |n: &Node, token: &str| {
        let auth = format!("Bearer {token}");
        support::block_on(send_with(
            n.host.admin_addr(),
            "GET",
            "/v1/whoami",
            "",
            &[("authorization", &auth)],
        ))
        .status
    };
    assert_eq!(whoami(&a, &token), 200);
    assert_eq!(whoami(&b, &token), 200);
    let admin = shared_token(&b, "ops", "admin");
    let auth = format!("Bearer {admin}");
    let revoked = support::block_on(send_with(
        b.host.admin_addr(),
        "DELETE",
        "/v1/tokens/auditor-1",
        "",
        &[("authorization", &auth)],
    ));
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(whoami(&a, &token), 401, "revoked on B, refused on A");

    let local = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["tokens", "create", "--name", "carol", "--role", "creator"])
        .env("WARDEN_DATA_DIR", a.data.path())
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SERVER")
        .output()
        .unwrap();
    assert_eq!(local.status.code(), Some(3), "{}", support::said(&local));
    assert!(
        support::said(&local).contains("nothing was recorded"),
        "{}",
        support::said(&local)
    );
}

/// Secrets are shared: one set on a node is there, sealed, on every node;
/// writes from several nodes at once each get their own version, none lost.
#[test]
fn a_secret_set_on_one_node_is_on_every_node_and_no_write_is_lost() {
    let (state, _key) = support::postgres::cluster_config();
    let (a, b) = (node(&state), node(&state));
    let admin = shared_token(&a, "ops", "admin");
    let auth = format!("Bearer {admin}");
    let call = |n: &Node, method: &str, path: &str, body: &str| {
        support::block_on(send_with(
            n.host.admin_addr(),
            method,
            path,
            body,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
        ))
    };
    let set = call(
        &a,
        "PUT",
        "/v1/secrets/crm-token",
        r#"{"value":"s3cret-value"}"#,
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let listed = call(&b, "GET", "/v1/secrets", "");
    assert!(
        listed.body.contains("crm-token") && !listed.body.contains("s3cret-value"),
        "{}",
        listed.body
    );

    // Two nodes' stores writing the same secret at once.
    let stores: Vec<_> = [&a, &b]
        .iter()
        .map(|n| {
            let config = n.data.path().join("warden.toml");
            let platform = warden_runtime::config::PlatformConfig::load(&config).unwrap();
            warden_runtime::runtime::open_secrets(&platform, n.data.path()).unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for store in &stores {
            s.spawn(move || {
                for i in 0..10 {
                    store.set("rotating", format!("v{i}").as_bytes()).unwrap();
                }
            });
        }
    });
    let info = stores[0]
        .list()
        .unwrap()
        .into_iter()
        .find(|i| i.name == "rotating")
        .unwrap();
    assert_eq!(info.version, 20, "each write its own version");
}

/// A node given another master key than the cluster's does not start: it
/// could open none of the shared secrets or confidential storage.
#[test]
fn a_node_with_another_master_key_is_refused_at_start() {
    let (state, _key) = support::postgres::cluster_config();
    let first = node(&state);
    // The same database, but this node's own key (in its data directory).
    let database = state
        .lines()
        .find(|l| l.starts_with("url = "))
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!("[state]\nbackend = \"postgres\"\n{database}\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .env("WARDEN_DATA_DIR", dir.path().join("data"))
        .env_remove("WARDEN_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", support::said(&out));
    assert!(
        support::said(&out).contains("master key is not the one the shared state is sealed under"),
        "{}",
        support::said(&out)
    );
    drop(first);
}

/// PostgreSQL going away mid-service: a call that needs it ends within
/// the app's deadline as "state unavailable" (503 with `Retry-After` over
/// HTTP), and once the server is back the node serves again by itself.
#[test]
fn a_node_survives_its_database_restarting() {
    // A server of its own: this test stops it.
    let dir = tempfile::tempdir().unwrap();
    let server = support::postgres::OwnServer::start(&dir.path().join("pg"));
    let url = server.url.clone();
    let host = support::TestHost::with_config(&format!(
        "[state]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 2\n"
    ));
    let manifest = host.manifest(
        "kvc",
        &fixture("keyvalue_client"),
        "[[storage]]\nbucket = \"cache\"\nclass = \"internal\"\n[limits]\ntimeout = \"20s\"\n",
    );
    let app = host.load(&manifest);
    let list = || {
        let args = vec!["cache".to_string(), "list".to_string()];
        support::block_on(host.runtime.invoke(
            &app,
            warden_runtime::invoke::InvocationRequest::cli(Vec::new()).with_args(args),
        ))
    };
    assert!(list().result.is_ok());
    let quiet = host.load(&host.manifest("quiet", &fixture("noop_handler"), ""));
    let quiet_call = || {
        support::block_on(host.runtime.invoke(
            &quiet,
            warden_runtime::invoke::InvocationRequest::cli(b"ping".to_vec()),
        ))
    };
    assert!(quiet_call().result.is_ok());

    server.halt();
    // An app that uses no storage does not notice: nothing on its path
    // asks the database.
    let report = quiet_call();
    assert!(report.result.is_ok(), "{:?}", report.result.err());
    let asked = Instant::now();
    let report = list();
    let error = report.result.expect_err("no database, no list");
    assert_eq!(error.as_str(), "state-unavailable", "{error}");
    assert!(error.to_string().contains("PostgreSQL"), "{error}");
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "ended before the app's deadline"
    );

    server.restart();
    let back = Instant::now();
    while list().result.is_err() {
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "the node did not reconnect"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(host);
    drop(server);
}

/// A node of `state` serving `ticker`, an app with a schedule.
fn scheduled_node(state: &str) -> Node {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(&config, state).unwrap();
    let manifest = data.path().join("ticker.toml");
    std::fs::write(
        &manifest,
        format!(
            "[app]\nname = \"ticker\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[[schedule]]\ncron = \"0 * * * * *\"\ninput = \"log\"\n",
            fixture("noop_handler").display()
        ),
    )
    .unwrap();
    let host = LibHost::start(data.path(), Some(&config), &[&manifest]);
    Node { host, data }
}

/// Who runs `ticker`'s schedule, as `node`'s admin API says.
fn scheduler_of(node: &Node, token: &str) -> String {
    let auth = format!("Bearer {token}");
    let reply = support::block_on(send_with(
        node.host.admin_addr(),
        "GET",
        "/v1/apps/ticker",
        "",
        &[("authorization", &auth)],
    ));
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
    body["scheduler"].as_str().unwrap_or_default().to_string()
}

/// One node of a cluster runs the schedules; when it stops — or its lease
/// connection is cut — another takes over, and never two at once.
#[test]
fn one_node_runs_the_schedules_and_another_takes_over() {
    let (state, _key) = support::postgres::cluster_config();
    let (a, b) = (scheduled_node(&state), scheduled_node(&state));
    let token = shared_token(&a, "ops", "admin");
    let holders = |nodes: &[&Node]| {
        nodes
            .iter()
            .filter(|n| scheduler_of(n, &token) == "this host")
            .count()
    };
    let settle = |nodes: &[&Node]| {
        let started = Instant::now();
        loop {
            let held = holders(nodes);
            if held == 1 {
                return;
            }
            assert!(held < 2, "two nodes run the schedules at once");
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no node took the lease"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    settle(&[&a, &b]);

    // The lease's connection is cut: the holder stops, one node retakes it.
    let url = state
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_string();
    let cut = support::postgres::rows(
        &url,
        // pg_locks is the whole server's: other tests' clusters hold the
        // same lease in their own databases.
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 2002874980 AND objid = 1853055848 AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    assert_eq!(cut.len(), 1, "the lease's session was found and cut");
    settle(&[&a, &b]);

    // The holder stops: the other node takes over.
    let (holder, other) = if scheduler_of(&a, &token) == "this host" {
        (a, b)
    } else {
        (b, a)
    };
    holder.host.stop();
    settle(&[&other]);
}

/// Nodes redact alike: the first node to need the DLP token salt records
/// it (sealed), and every node after opens the same one; several nodes
/// starting at once agree on one.
#[test]
fn every_node_uses_one_dlp_salt() {
    use warden_host_apis::secrets::MasterKey;
    use warden_runtime::wait::Wait as _;
    let url = support::postgres::fresh_database();
    let key = MasterKey::from_bytes([9; 32]);
    let salts: Vec<[u8; 32]> = std::thread::scope(|s| {
        let all: Vec<_> = (0..3)
            .map(|_| {
                let (url, key) = (&url, &key);
                s.spawn(move || support::postgres::pool(url).dlp_salt(key).wait().unwrap())
            })
            .collect();
        all.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(salts.windows(2).all(|w| w[0] == w[1]), "one salt");
    let rows = support::postgres::rows(&url, "SELECT count(*) FROM dlp_salt");
    assert_eq!(rows[0].get::<_, i64>(0), 1);
}
