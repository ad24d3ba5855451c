//! What an operator sees of a running host: `warden inspect` with quota
//! bars and recent errors, `warden top`, and the traces and usage the
//! dashboard draws — all from the embedded span store, no collector.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::path::Path;
use std::process::Command;
use support::example;
use support::library::LibHost;
use support::process::{noop_app, token};
use support::serving::{request, send_with};

fn warden(data: &Path, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("WARDEN_DATA_DIR", data)
        .env("WARDEN_TOKEN", token)
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn inspect_top_traces_and_usage_show_what_apps_did() {
    let data = tempfile::tempdir().unwrap();
    let token = token(data.path(), "ops", "admin");
    let noop = noop_app(data.path(), "noop", "[quota]\nrequests_per_minute = 100");
    let hello = example("hello-http");
    let host = LibHost::start(data.path(), None, &[&hello, &noop]);
    for _ in 0..4 {
        assert_eq!(request(host.app_addr, "POST", "/noop", "ok").status, 200);
    }
    assert_eq!(request(host.app_addr, "POST", "/noop", "fail").status, 500);
    assert_eq!(request(host.app_addr, "GET", "/hello/top", "").status, 200);
    // Spans reach the store within the pipeline's batch delay.
    std::thread::sleep(std::time::Duration::from_millis(600));

    let text = stdout(&warden(
        data.path(),
        &token,
        &["inspect", "noop", "--server", &host.admin],
    ));
    assert!(text.starts_with("noop 1.0.0  [running]"), "{text}");
    assert!(text.contains("requests_per_minute"), "{text}");
    assert!(text.contains("grants: connectors none"), "{text}");
    // 5 requests this minute (fewer if the minute turned since).
    assert!(text.contains(" / 100 ("), "{text}");
    assert!(
        text.contains("recent errors:") && text.contains("app-error"),
        "{text}"
    );

    let top: serde_json::Value = serde_json::from_str(
        stdout(&warden(
            data.path(),
            &token,
            &["top", "--once", "--json", "--server", &host.admin],
        ))
        .trim(),
    )
    .unwrap();
    let noop_row = top["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "noop")
        .unwrap();
    assert_eq!(noop_row["last_minute"]["invocations"], 5, "{top}");
    assert_eq!(noop_row["last_minute"]["errors"], 1);
    assert!(noop_row["last_minute"]["p99_us"].as_i64().unwrap() > 0);
    let table = stdout(&warden(
        data.path(),
        &token,
        &["top", "--once", "--server", &host.admin],
    ));
    assert!(
        table.starts_with("APP")
            && table.contains("hello-http")
            && table.contains("requests_per_minute "),
        "{table}"
    );

    let admin = host.admin_addr();
    let auth = format!("Bearer {token}");
    let get = |path: &str| -> serde_json::Value {
        let reply = support::block_on(send_with(
            admin,
            "GET",
            path,
            "",
            &[("authorization", auth.as_str())],
        ));
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    };
    let traces = get("/v1/apps/noop/traces?errors=true");
    assert_eq!(traces["traces"].as_array().unwrap().len(), 1);
    let spans = traces["traces"][0]["spans"].as_array().unwrap();
    assert!(spans.iter().any(|s| s["name"] == "call"), "{traces}");
    let usage = get("/v1/apps/noop/usage?minutes=5");
    let total: u64 = usage["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["invocations"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 5, "{usage}");
    let reply = support::block_on(send_with(
        admin,
        "GET",
        "/v1/apps/noop/traces?since=soon",
        "",
        &[("authorization", auth.as_str())],
    ));
    assert_eq!(reply.status, 400);
    host.stop();
}
