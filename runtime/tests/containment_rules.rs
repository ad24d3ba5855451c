//! Automated containment end to end: a misbehaving app is killed by the
//! platform's rules, the kill is audited, and the app stays stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;
use warden_runtime::wait::Wait as _;

use support::{TestHost, block_on, fixture};
use warden_runtime::invoke::InvocationRequest;

#[test]
fn repeated_denials_trip_the_rule_and_kill_the_app() {
    let host = TestHost::with_config("[containment]\nmax_denials_per_minute = 6\n");
    let manifest = host.manifest("prober", &fixture("open_socket"), "");
    let app = host.load(&manifest);
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(
            block_on(
                host.runtime
                    .invoke(&app, InvocationRequest::cli(Vec::new())),
            )
            .outcome(),
        );
    }
    // Each run is refused three effects (two connects, a bind): denials add
    // up across runs and the second run trips the rule.
    assert_eq!(outcomes, ["denied", "denied", "killed", "killed"]);
    let audit = host.runtime.audit().entries().wait().expect("audit");
    let trip = audit
        .iter()
        .find(|e| e.kind == "containment.triggered")
        .expect("containment event");
    assert_eq!(trip.details["rule"], "max_denials_per_minute");
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "app.killed" && e.actor == "warden:containment")
    );
    assert!(
        host.runtime
            .audit()
            .verify()
            .wait()
            .expect("verify")
            .is_intact()
    );
}

#[test]
fn a_secret_in_the_output_kills_the_app() {
    let host = TestHost::with_config("[containment]\nkill_on_secret_in_output = true\n");
    let manifest = host.manifest("echo", &fixture("noop_handler"), "");
    let app = host.load(&manifest);
    let ok = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli("harmless text")),
    );
    assert_eq!(ok.outcome(), "ok");
    let leak = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli("key: AKIAIOSFODNN7EXAMPLE")),
    );
    assert_eq!(leak.outcome(), "ok", "the leaking call itself completed");
    let after = block_on(host.runtime.invoke(&app, InvocationRequest::cli("x")));
    assert_eq!(after.outcome(), "killed");
    let state = host.runtime.kill_state();
    assert!(
        state["echo"].reason.contains("kill_on_secret_in_output"),
        "{:?}",
        state
    );
}

#[test]
fn without_rules_nothing_is_killed() {
    let host = TestHost::new();
    let manifest = host.manifest("prober", &fixture("open_socket"), "");
    let app = host.load(&manifest);
    for _ in 0..5 {
        assert_eq!(
            block_on(
                host.runtime
                    .invoke(&app, InvocationRequest::cli(Vec::new()))
            )
            .outcome(),
            "denied"
        );
    }
}

#[test]
fn a_trip_posts_an_alert_to_the_webhook() {
    let hook = support::upstream::Upstream::start();
    let host = TestHost::with_config(&format!(
        "[egress]\nallow_cidrs = [\"127.0.0.1/32\"]\n[containment]\nkill_on_secret_in_output = true\nalert_webhook = \"{}\"\n",
        hook.url("/alerts")
    ));
    let manifest = host.manifest("echo", &fixture("noop_handler"), "");
    let app = host.load(&manifest);
    let leak = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli("key: AKIAIOSFODNN7EXAMPLE")),
    );
    assert_eq!(leak.outcome(), "ok");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hook.hits("/alerts") == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let seen = hook.seen();
    let alert = seen
        .iter()
        .find(|s| s.path == "/alerts")
        .expect("the webhook got the alert");
    let body: serde_json::Value = serde_json::from_str(&alert.body).expect("json alert");
    assert_eq!(body["event"], "containment.triggered");
    assert_eq!(body["app"], "echo");
    assert_eq!(body["rule"], "kill_on_secret_in_output");
    assert_eq!(body["action"], "killed");
    assert!(body["audit_seq"].is_u64(), "{body}");
    assert!(
        !alert.body.contains("AKIAIOSFODNN7EXAMPLE"),
        "the alert names the pattern, never the secret"
    );
}

#[test]
fn a_malformed_webhook_url_is_refused_at_config_load() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("warden.toml");
    std::fs::write(
        &path,
        "[containment]\nalert_webhook = \"hooks.example.com\"\n",
    )
    .expect("write");
    let err = warden_runtime::config::PlatformConfig::load(&path).expect_err("refused");
    assert_eq!(err.field(), Some("containment.alert_webhook"));
}
