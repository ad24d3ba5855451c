//! Incident drills on a live host (`warden drill`, `POST
//! /v1/apps/{app}/drill`): the kill switch pulled, requests refused, each
//! granted connector's call refused before its credential (the upstream
//! sees nothing), the app put back and answering, all audited; an app
//! killed already is not drilled.

use crate::egress::{LOOPBACK_ALLOWED, platform};
use crate::support;
use support::library::LibHost;
use support::process::{noop_app, set_secret, token};
use support::serving::request;
use support::upstream::Upstream;

#[test]
fn a_drill_proves_the_kill_switch_and_puts_the_app_back() {
    let upstream = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, platform(&upstream, LOOPBACK_ALLOWED)).unwrap();
    set_secret(&data, Some(&config), "crm-token", "s3cr3t-drill");
    let app = noop_app(
        dir.path(),
        "ledger",
        "[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n",
    );
    let (admin, creator) = (
        token(&data, "ops", "admin"),
        token(&data, "cora", "creator"),
    );
    let host = LibHost::start(&data, Some(&config), &[&app]);
    assert_eq!(request(host.app_addr, "POST", "/ledger", "ok").status, 200);
    let drill = |token: &str| {
        let (status, body) = support::admin_api::call_as(
            host.admin_addr(),
            token,
            "POST",
            "/v1/apps/ledger/drill",
            "",
        );
        (
            status,
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    assert_eq!(drill(&creator).0, 403);

    let (status, report) = drill(&admin);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["passed"], true, "{report}");
    let results: Vec<(String, String)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for check in [
        "kill switch pulled",
        "new requests refused",
        "connector calls refused, no credential released",
        "restored",
    ] {
        assert!(
            results.iter().any(|(c, r)| c == check && r == "passed"),
            "{check}: {report}"
        );
    }
    assert!(report.to_string().contains("answered 503"), "{report}");
    // Nothing reached the vendor: no call, no credential.
    assert_eq!(upstream.hits("/"), 0, "{:?}", upstream.seen());
    // Put back: it answers again.
    assert_eq!(request(host.app_addr, "POST", "/ledger", "ok").status, 200);

    // Audited: the kill, the unkill and the drill with its results.
    let (_, log) =
        support::admin_api::call_as(host.admin_addr(), &admin, "GET", "/v1/audit?app=ledger", "");
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let kinds: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let tail = &kinds[kinds.len() - 3..];
    assert_eq!(
        tail,
        ["app.killed", "app.unkilled", "app.drilled"],
        "{kinds:?}"
    );
    let drilled = log["entries"].as_array().unwrap().last().unwrap();
    assert_eq!(drilled["actor"], "token:ops");
    assert_eq!(drilled["details"]["passed"], true);

    // The CLI says the same and exits 0.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["drill", "ledger", "--server", &host.admin])
        .env("WARDEN_TOKEN", &admin)
        .output()
        .unwrap();
    let said = support::said(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("passed   new requests refused"), "{said}");

    // An app an operator killed is not drilled (that would unkill it).
    let (status, _) = support::admin_api::call_as(
        host.admin_addr(),
        &admin,
        "POST",
        "/v1/apps/ledger/kill",
        r#"{"reason":"incident"}"#,
    );
    assert_eq!(status, 200);
    let (status, out) = drill(&admin);
    assert_eq!(status, 409, "{out}");
    assert_eq!(request(host.app_addr, "POST", "/ledger", "ok").status, 503);
    host.stop();
}
