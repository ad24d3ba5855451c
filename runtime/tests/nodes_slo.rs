//! SLO tallies shared by nodes: an objective's burn rate counts every
//! node's invocations, and its alert is raised once for the cluster.

use crate::nodes::{Node, shared_token};
use crate::support;
use std::time::{Duration, Instant};
use support::library::LibHost;
use support::serving::{request, send_with};

/// A node serving `failing` (the `noop_handler` fixture: `fail` answers
/// 500) with an error-rate objective of 5%, checked every 200 ms.
fn slo_node(state: &str) -> Node {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(
        &config,
        format!("{state}\n[telemetry]\nslo_interval = \"200ms\"\n"),
    )
    .unwrap();
    let app = data.path().join("failing.toml");
    std::fs::write(
        &app,
        format!(
            "[app]\nname = \"failing\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/failing\"\n[slo]\nerror_rate = 0.05\n",
            support::fixture("noop_handler").display()
        ),
    )
    .unwrap();
    let host = LibHost::start(data.path(), Some(&config), &[&app]);
    Node { host, data }
}

/// `failing`'s objective over the last hour as `node` reports it.
fn last_hour(node: &Node, token: &str) -> serde_json::Value {
    let auth = format!("Bearer {token}");
    let reply = support::block_on(send_with(
        node.host.admin_addr(),
        "GET",
        "/v1/apps/failing",
        "",
        &[("authorization", &auth)],
    ));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let app: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    app["slo"][0]["windows"]["1h"].clone()
}

/// Six failures on each of two nodes: each node alone has fewer than the
/// ten invocations a burn alert needs; together they have twelve, which
/// both nodes report, and the cluster raises one `slo.burn`.
#[test]
fn burn_rates_count_every_nodes_invocations_and_alert_once() {
    let (state, _key) = support::postgres::cluster_config();
    let (a, b) = (slo_node(&state), slo_node(&state));
    let auditor = shared_token(&a, "aud", "auditor");
    for _ in 0..6 {
        for node in [&a, &b] {
            assert_eq!(
                request(node.host.app_addr, "POST", "/failing", "fail").status,
                500
            );
        }
    }
    // Spans reach each node's store on its own thread, and the tallies
    // the database a moment later: wait for all twelve.
    let since = Instant::now();
    for node in [&a, &b] {
        while last_hour(node, &auditor)["total"] != 12 {
            assert!(
                since.elapsed() < Duration::from_secs(20),
                "{}",
                last_hour(node, &auditor)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let hour = last_hour(node, &auditor);
        assert_eq!(hour["bad"], 12, "{hour}");
    }
    // One alert for the cluster, however many evaluations follow.
    let config = a.data.path().join("warden.toml");
    let burns = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["audit", "show", "--app", "failing", "--json", "--config"])
            .arg(&config)
            .env("WARDEN_DATA_DIR", a.data.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", support::said(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("\"slo.burn\""))
            .count()
    };
    let since = Instant::now();
    while burns() == 0 {
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "no slo.burn raised"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(burns(), 1, "one alert for the cluster");
}
