//! Orphaned apps retired by the rules the platform set: an app unused for
//! `lifecycle.unused_after` is retired by the host that runs the
//! schedules (`retire_orphans = true`) — not served, audited with why,
//! shown as retired — while an app that ran stays.

use crate::support;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::admin_api::{call_as, deploy_body};
use support::library::LibHost;
use support::process::token_with;
use support::serving::request;

fn apps(host: &LibHost, token: &str) -> Vec<Value> {
    let (status, body) = call_as(host.admin_addr(), token, "GET", "/v1/apps", "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["apps"]
        .as_array()
        .unwrap()
        .clone()
}

fn state_of(rows: &[Value], app: &str) -> String {
    rows.iter()
        .find(|r| r["name"] == app)
        .map(|r| r["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn an_unused_app_is_retired_and_one_that_ran_stays() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let quiet = dir.path().join("quiet.toml");
    std::fs::write(&quiet, support::shared_state()).unwrap();
    let admin = token_with(&quiet, &data, "ops", "admin");
    let creator = token_with(&quiet, &data, "cora", "creator");

    // Deployed, and one of them used, while no rule retires anything.
    let host = LibHost::start(&data, Some(&quiet), &[]);
    for app in ["busy", "idle"] {
        let body = deploy_body(
            app,
            "1.0.0",
            &support::fixture("noop_handler"),
            &format!("[http]\nroute = \"/{app}\"\n"),
        );
        let (status, out) = call_as(host.admin_addr(), &creator, "POST", "/v1/apps", &body);
        assert_eq!(status, 201, "{out}");
    }
    assert_eq!(request(host.app_addr, "POST", "/busy", "hi").status, 200);
    host.stop();

    // Now unused after a second: `idle` never ran.
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        format!(
            "[lifecycle]\nunused_after = \"1s\"\nretire_orphans = true\ncheck_interval = \"200ms\"\n{}",
            std::fs::read_to_string(&quiet).unwrap()
        ),
    )
    .unwrap();
    let host = LibHost::start(&data, Some(&strict), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = apps(&host, &admin);
        if state_of(&rows, "idle") == "retired" {
            assert_eq!(state_of(&rows, "busy"), "running", "{rows:?}");
            break;
        }
        assert!(Instant::now() < deadline, "idle is not retired: {rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(request(host.app_addr, "POST", "/idle", "hi").status, 404);
    assert_eq!(request(host.app_addr, "POST", "/busy", "hi").status, 200);
    let (_, log) = call_as(
        host.admin_addr(),
        &admin,
        "GET",
        "/v1/audit?kind=app.retired",
        "",
    );
    let log: Value = serde_json::from_str(&log).unwrap();
    let retired = &log["entries"][0];
    assert_eq!(retired["app"], "idle", "{log}");
    assert_eq!(retired["actor"], "warden:lifecycle", "{log}");
    assert_eq!(retired["details"]["orphaned"][0]["kind"], "unused", "{log}");
    assert!(
        retired["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("warden unretire idle"),
        "{log}"
    );
    // The dashboard's table lists it, retired.
    let (_, top) = call_as(host.admin_addr(), &admin, "GET", "/v1/top", "");
    let top: Value = serde_json::from_str(&top).unwrap();
    assert!(
        top["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "idle" && a["state"] == "retired"),
        "{top}"
    );
}
