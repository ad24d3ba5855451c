//! Anomalies on a live host, in one-second windows: a guest that behaves
//! and then sends ten times its usual calls to a destination it never
//! used is contained within the minute (killed as `warden:anomaly`,
//! audited, alerted), while a guest whose calls only grow slowly is not.

use crate::support;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::admin_api::call_as;
use support::library::LibHost;
use support::process::token_with;
use support::serving::request;
use support::upstream::Upstream;

fn config(upstream: &Upstream) -> String {
    format!(
        r#"
[[connectors]]
name = "crm"
base_url = "{crm}"
scopes = {{ read = ["GET /**"] }}

[[connectors]]
name = "paste"
base_url = "{paste}"
scopes = {{ read = ["GET /**"] }}

[egress]
allow_cidrs = ["127.0.0.1/32"]

[anomaly]
enabled = true
window = "1s"
half_life = "20s"
warmup = 8
min_ratio = 4.0
min_calls = 10
min_bytes = "1GiB"
min_destinations = 100
min_dlp_hits = 100

[containment]
contain_anomalies = true
alert_webhook = "{hook}"
{state}"#,
        crm = upstream.url("/crm"),
        paste = upstream.url("/paste"),
        hook = upstream.url("/hook"),
        state = support::shared_state(),
    )
}

fn app(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[app]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/{name}\"\n[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n[[connectors]]\nname = \"paste\"\nscopes = [\"read\"]\n",
            support::fixture("connector_call").display()
        ),
    )
    .unwrap();
    path
}

fn call(connector: &str) -> String {
    format!(r#"{{"connector":"{connector}","method":"GET","path":"/x"}}"#)
}

/// Sleeps to the start of the next whole second (a window).
fn next_window() {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::thread::sleep(Duration::from_nanos(u64::from(1_000_000_000 - into)));
}

#[test]
fn ten_times_the_usual_to_a_new_destination_is_contained_and_slow_growth_is_not() {
    let upstream = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config_path = dir.path().join("warden.toml");
    std::fs::write(&config_path, config(&upstream)).unwrap();
    let (leaky, grower) = (app(dir.path(), "leaky"), app(dir.path(), "grower"));
    let admin = token_with(&config_path, &data, "ops", "admin");
    let host = LibHost::start(&data, Some(&config_path), &[&leaky, &grower]);
    let state = |name: &str| -> String {
        let (status, body) = call_as(
            host.admin_addr(),
            &admin,
            "GET",
            &format!("/v1/apps/{name}"),
            "",
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // Twelve windows of behaving: five calls each to the crm; the grower
    // a little more every third window.
    for window in 0..16u64 {
        next_window();
        for _ in 0..5 + window / 3 {
            assert_eq!(
                request(host.app_addr, "POST", "/grower", &call("crm")).status,
                200
            );
        }
        if window < 12 {
            for _ in 0..5 {
                assert_eq!(
                    request(host.app_addr, "POST", "/leaky", &call("crm")).status,
                    200
                );
            }
        } else if window == 12 {
            // Then ten times that and more, to a destination it never
            // used (a slow machine spreads it over a few windows: each
            // still holds four times the usual).
            let started = Instant::now();
            for _ in 0..100 {
                if request(host.app_addr, "POST", "/leaky", &call("paste")).status != 200 {
                    break;
                }
            }
            // Contained within the minute.
            while state("leaky") != "killed" {
                assert!(started.elapsed() < Duration::from_secs(60), "not contained");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert_eq!(state("grower"), "running", "slow growth is not an anomaly");
    assert_eq!(
        request(host.app_addr, "POST", "/leaky", &call("crm")).status,
        503
    );

    let (_, log) = call_as(
        host.admin_addr(),
        &admin,
        "GET",
        "/v1/audit?kind=anomaly.detected",
        "",
    );
    let log: Value = serde_json::from_str(&log).unwrap();
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    let found = &entries[0];
    assert_eq!(found["app"], "leaky", "{log}");
    assert_eq!(found["actor"], "warden:anomaly", "{log}");
    assert_eq!(found["details"]["contained"], true, "{log}");
    assert_eq!(
        found["details"]["new_destinations"],
        serde_json::json!(["paste"]),
        "{log}"
    );
    assert_eq!(
        found["details"]["deviations"][0]["metric"], "calls",
        "{log}"
    );
    let (_, inspected) = call_as(host.admin_addr(), &admin, "GET", "/v1/apps/leaky", "");
    let inspected: Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected["kill"]["actor"], "warden:anomaly", "{inspected}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while upstream.hits("/hook") == 0 {
        assert!(Instant::now() < deadline, "the alert reaches the webhook");
        std::thread::sleep(Duration::from_millis(100));
    }
}
