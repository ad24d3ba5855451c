//! SLO burn-rate alerts end to end: an app failing (or slow) beyond its
//! objective raises `slo.burn`; a healthy one does not; a bad objective is
//! refused at load.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::time::{Duration, Instant};
use support::fixture;
use support::library::LibHost;
use support::serving::request;

fn app(dir: &std::path::Path, name: &str, slo: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[app]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/{name}\"\n[slo]\n{slo}\n",
            fixture("noop_handler").display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn burns(data: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(data.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "slo.burn")
        .collect()
}

#[test]
fn burning_the_error_or_latency_budget_raises_an_alert_and_a_healthy_app_does_not() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(&config, "[telemetry]\nslo_interval = \"200ms\"\n").unwrap();
    let failing = app(data.path(), "failing", "error_rate = 0.05");
    let slow = app(
        data.path(),
        "slow",
        "latency = { percentile = 99.0, threshold = \"1us\" }",
    );
    let healthy = app(
        data.path(),
        "healthy",
        "error_rate = 0.05\nlatency = { percentile = 90.0, threshold = \"10s\" }",
    );
    let host = LibHost::start(
        data.path(),
        Some(std::path::Path::new(&config)),
        &[
            std::path::Path::new(&failing),
            std::path::Path::new(&slow),
            std::path::Path::new(&healthy),
        ],
    );
    for _ in 0..12 {
        assert_eq!(
            request(host.app_addr, "POST", "/failing", "fail").status,
            500
        );
        assert_eq!(request(host.app_addr, "POST", "/slow", "ok").status, 200);
        assert_eq!(request(host.app_addr, "POST", "/healthy", "ok").status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while burns(data.path()).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // A few more evaluations: no repeats, nothing for the healthy app.
    std::thread::sleep(Duration::from_millis(800));
    let token = support::process::token(data.path(), "ops", "auditor");
    // The store takes the last requests' tallies on its own thread: wait
    // for all twelve rather than for a fixed time.
    let inspect = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["inspect", "failing", "--server", &host.admin])
            .env("WARDEN_TOKEN", &token)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let expected = "slo error rate under 5.00%: 1h 12/12 bad, burn 20.0x";
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = inspect();
    while !text.contains(expected) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        text = inspect();
    }
    assert!(text.contains(expected), "{text}");
    host.stop();
    let alerts = burns(data.path());
    let summary: Vec<(String, String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["app"].as_str().unwrap().to_string(),
                a["details"]["slo"].as_str().unwrap().to_string(),
                a["details"]["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(summary.len(), 2, "{summary:?}");
    assert!(
        summary.contains(&("failing".into(), "error_rate".into(), "page".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&("slow".into(), "latency".into(), "page".into())),
        "{summary:?}"
    );
    let failing = alerts.iter().find(|a| a["app"] == "failing").unwrap();
    assert_eq!(failing["actor"], "warden:slo");
    assert_eq!(
        failing["details"]["burn_rate"]["long"].as_f64().unwrap(),
        20.0
    );
    // The alert fires at the first evaluation where the rule holds, which
    // needs 10 invocations: on a busy machine that may come before all 12
    // requests were sent.
    let total = failing["details"]["total"].as_u64().unwrap();
    assert!(
        (10..=12).contains(&total),
        "alert counted {total} invocations"
    );
}

#[test]
fn an_objective_outside_its_range_is_refused_at_load() {
    let data = tempfile::tempdir().unwrap();
    let bad = app(data.path(), "bad", "error_rate = 5");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["run", &bad])
        .env("WARDEN_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slo.error_rate"));
}
