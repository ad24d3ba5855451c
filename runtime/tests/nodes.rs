//! Several `warden serve` nodes sharing their state through one PostgreSQL
//! database: what one node decides, every node obeys.

use crate::support;
use std::time::{Duration, Instant};
use support::fixture;
use support::library::LibHost;
use support::process::token;
use support::serving::{send, send_with};

/// A node: its own data directory, the shared database, and the spinning
/// fixture served at `/spin/...` (`/spin/ok` answers at once, `/spin/spin`
/// runs until its 20 s deadline).
struct Node {
    host: LibHost,
    data: tempfile::TempDir,
}

fn node(state: &str) -> Node {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(
        &config,
        format!("{state}\n[maximums]\nfuel = 1_000_000_000_000\ntimeout = \"30s\"\n"),
    )
    .unwrap();
    let manifest = data.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "[app]\nname = \"spin\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/spin/...\"\n[limits]\nfuel = 1_000_000_000_000\ntimeout = \"20s\"\n",
            fixture("http_misbehaving").display()
        ),
    )
    .unwrap();
    let host = LibHost::start(data.path(), Some(&config), &[&manifest]);
    Node { host, data }
}

/// A kill on node A stops the app on node B within a second: B refuses new
/// requests, and a guest B was running is trapped. An unkill on B lets A
/// serve again.
#[test]
fn a_kill_on_one_node_stops_the_app_on_another_within_a_second() {
    let state = support::postgres::state_config();
    let (a, b) = (node(&state), node(&state));
    let admin_a = token(a.data.path(), "ops", "admin");
    let admin_b = token(b.data.path(), "ops", "admin");
    let (a_app, b_app) = (a.host.app_addr, b.host.app_addr);
    let (a_admin, b_admin) = (a.host.admin_addr(), b.host.admin_addr());
    support::block_on(async move {
        assert_eq!(send(b_app, "GET", "/spin/ok", "").await.status, 200);
        let running = tokio::spawn(send(b_app, "GET", "/spin/spin", ""));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed_at = Instant::now();
        let auth = format!("Bearer {admin_a}");
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
        // B refuses new requests within a second of the kill.
        let mut refused = false;
        while killed_at.elapsed() < Duration::from_secs(1) {
            if send(b_app, "GET", "/spin/ok", "").await.status == 503 {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "node B still serves a second after the kill on A");
        // And the guest it was running is trapped, long before its 20 s.
        let trapped = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the running guest is stopped")
            .unwrap();
        assert_ne!(trapped.status, 200, "{}", trapped.body);

        // Unkilled on B: A serves again.
        let auth = format!("Bearer {admin_b}");
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
        let mut served = false;
        while unkilled_at.elapsed() < Duration::from_secs(1) {
            if send(a_app, "GET", "/spin/ok", "").await.status == 200 {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            served,
            "node A still refuses a second after the unkill on B"
        );
    });
}

/// A `warden kill` on a node's data directory that does not name the
/// shared database would write a kill that node never reads: it is
/// refused, and nothing is recorded. With the node's settings it works.
#[test]
fn a_cli_kill_that_would_miss_the_shared_state_is_refused() {
    let state = support::postgres::state_config();
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
        support::said(&out).contains("keeps its kill state in postgresql://"),
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
