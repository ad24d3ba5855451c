//! The dashboard in a real browser: headless Chromium (Debian's `chromium`,
//! driven by playwright-core) signs in with a token and sees the apps with
//! state and quota bars, a trace waterfall, usage bars and the audit tail.
//! The screenshot is kept in `target/test-artifacts/dashboard.png`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::process::Command;
use support::example;
use support::guests::repo_root;
use support::library::LibHost;
use support::process::{noop_app, token};
use support::serving::{request, send_with};

/// Installs headless Chromium and playwright-core (the project's script),
/// once per test run: the dashboard tests run at once, and two installs
/// on a fresh machine would race for apt's lock.
fn setup_browser() {
    static SETUP: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let done = SETUP.get_or_init(|| {
        let setup = Command::new(repo_root().join("scripts/setup-browser.sh"))
            .output()
            .map_err(|e| format!("cannot run scripts/setup-browser.sh: {e}"))?;
        if setup.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&setup.stderr).into_owned())
        }
    });
    if let Err(e) = done {
        panic!("installing chromium and playwright-core failed:\n{e}");
    }
}

/// Runs a browser driver under `runtime/tests/browser` with `args` (and
/// the node_modules it needs last); returns the JSON it printed.
fn drive(script: &str, args: &[std::ffi::OsString]) -> serde_json::Value {
    let out = Command::new("node")
        .arg(repo_root().join("runtime/tests/browser").join(script))
        .args(args)
        .arg(repo_root().join("target/browser/node_modules"))
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

#[test]
fn the_dashboard_shows_apps_a_trace_waterfall_usage_and_the_audit_tail() {
    setup_browser();
    let data = tempfile::tempdir().unwrap();
    let token = token(data.path(), "ops", "admin");
    let noop = noop_app(
        data.path(),
        "noop",
        "[quota]\nrequests_per_minute = 50\nconnector_calls = 0",
    );
    let host = LibHost::start(
        data.path(),
        None,
        &[
            std::path::Path::new(&example("hello-http")),
            std::path::Path::new(&noop),
        ],
    );
    for _ in 0..3 {
        assert_eq!(request(host.app_addr, "POST", "/noop", "ok").status, 200);
        assert_eq!(request(host.app_addr, "GET", "/hello/dash", "").status, 200);
    }
    let failed = support::block_on(send_with(host.app_addr, "POST", "/noop", "fail", &[]));
    assert_eq!(failed.status, 500);
    let request_id = failed.headers["x-request-id"].to_str().unwrap().to_string();
    let admin = host.admin_addr();
    // A deployed app (an --app one keeps no record to export).
    let creator = support::process::token(data.path(), "cora", "creator");
    let ledger = support::admin_api::deploy_body(
        "ledger",
        "1.0.0",
        &support::fixture("noop_handler"),
        "[http]\nroute = \"/ledger\"\n",
    );
    let (status, body) = support::admin_api::call_as(admin, &creator, "POST", "/v1/apps", &ledger);
    assert_eq!(status, 201, "{body}");
    // Its kill switch drilled: the apps table shows each app's last drill.
    let (status, body) =
        support::admin_api::call_as(admin, &token, "POST", "/v1/apps/ledger/drill", "");
    assert_eq!(status, 200, "{body}");
    let page = support::block_on(send_with(admin, "GET", "/dashboard", "", &[]));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("script-src 'unsafe-inline'"),
        "{csp}"
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    let auth = format!("Bearer {token}");
    let killed = support::block_on(send_with(
        admin,
        "POST",
        "/v1/apps/hello-http/kill",
        r#"{"reason":"dashboard test"}"#,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
    ));
    assert_eq!(killed.status, 200);
    std::thread::sleep(std::time::Duration::from_millis(600));

    let shots = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let export = data.path().join("downloaded.tar");
    let seen = drive(
        "drive-dashboard.cjs",
        &[
            host.admin.clone().into(),
            token.clone().into(),
            shot.clone().into(),
            export.clone().into(),
        ],
    );
    // The export downloaded from the app's page verifies on its own.
    assert_eq!(seen["exportName"], "ledger-audit-export.tar", "{seen}");
    let verified = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["audit", "verify-export"])
        .arg(&export)
        .env_remove("WARDEN_DATA_DIR")
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", support::said(&verified));
    assert!(
        support::said(&verified).contains("ledger"),
        "{}",
        support::said(&verified)
    );
    // The audit tail says the checkpoints verify, and which is the last.
    let checkpoint = seen["checkpoint"].as_str().unwrap();
    assert!(
        checkpoint.contains("checkpoints verify") || checkpoint.contains("checkpoint verifies"),
        "{seen}"
    );
    assert!(checkpoint.contains("last checkpoint #"), "{seen}");
    let apps: Vec<&str> = seen["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(apps, vec!["hello-http", "noop", "ledger"], "{seen}");
    let drills: Vec<&str> = seen["drills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(drills[..2], ["never", "never"], "{seen}");
    assert!(drills[2].starts_with("passed 20"), "{seen}");
    assert_eq!(seen["states"][0], "killed", "{seen}");
    assert!(
        seen["meters"].as_u64().unwrap() >= 1,
        "quota bar for noop: {seen}"
    );
    assert!(
        seen["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q.as_str().unwrap().contains("connector_calls0 / 0")),
        "a quota of 0 is shown as 0, not as no limit: {seen}"
    );
    assert!(seen["traces"].as_u64().unwrap() >= 4, "{seen}");
    assert!(
        seen["spanBars"].as_u64().unwrap() >= 3,
        "invocation, instantiate, call: {seen}"
    );
    assert!(
        seen["errorBars"].as_u64().unwrap() >= 1,
        "the failed trace is red: {seen}"
    );
    assert!(seen["usageBars"].as_u64().unwrap() >= 1, "{seen}");
    let facts = seen["traceFacts"].as_str().unwrap();
    assert!(
        facts.contains(&format!("request {request_id}")) && facts.contains("error: "),
        "the failed request is found by its id, with why: {seen}"
    );
    assert!(
        seen["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("app.killed")),
        "{seen}"
    );
    assert_eq!(seen["errors"], serde_json::json!([]), "no script errors");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );

    // Someone holding the files rewrites an entry and recomputes every
    // hash: the chain is intact, the checkpoints are not, and the audit
    // tail says so.
    let mut entries = support::audit_files::entries(data.path());
    entries[0]["actor"] = "someone-else".into();
    support::audit_files::rewrite(data.path(), &mut entries);
    let seen = drive(
        "drive-checkpoint.cjs",
        &[host.admin.clone().into(), token.clone().into()],
    );
    assert_eq!(seen["status"], "rewritten", "{seen}");
    assert!(
        seen["text"].as_str().unwrap().starts_with("REWRITTEN: "),
        "{seen}"
    );
    assert_eq!(seen["errors"], serde_json::json!([]), "no script errors");
    host.stop();
}

#[test]
fn a_reviewer_sees_why_a_deploy_is_held_and_what_changed_and_approves_it_in_the_dashboard() {
    setup_browser();
    let data = tempfile::tempdir().unwrap();
    let creator = support::process::token(data.path(), "cora", "creator");
    let reviewer = token(data.path(), "rita", "reviewer");
    let host = LibHost::start(data.path(), None, &[]);
    let admin = host.admin_addr();
    let deploy = |version: &str, extra: &str| {
        let body = support::admin_api::deploy_body(
            "notes",
            version,
            &support::fixture("noop_handler"),
            &format!("[http]\nroute = \"/notes\"\n{extra}"),
        );
        let auth = format!("Bearer {creator}");
        support::block_on(send_with(
            admin,
            "POST",
            "/v1/apps",
            &body,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
        ))
    };
    assert_eq!(deploy("1.0.0", "").status, 201);
    let held = deploy(
        "1.1.0",
        "[egress]\nallowed_hosts = [\"https://api.example.com\"]",
    );
    assert_eq!(held.status, 202, "{}", held.body);

    let shots = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("dashboard-reviews.png");
    let seen = drive(
        "drive-reviews.cjs",
        &[
            host.admin.clone().into(),
            reviewer.clone().into(),
            shot.clone().into(),
        ],
    );
    assert_eq!(seen["who"], "rita (reviewer)", "{seen}");
    assert_eq!(seen["reviews"], serde_json::json!(["notes"]), "{seen}");
    assert!(
        seen["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("api.example.com")),
        "{seen}"
    );
    assert_eq!(
        seen["changes"],
        serde_json::json!(["~ allowed_hosts: added https://api.example.com; removed none"]),
        "{seen}"
    );
    assert_eq!(seen["buttons"], serde_json::json!(["Approve", "Reject"]));
    assert_eq!(
        seen["result"], "notes 1.1.0: approved, now active",
        "{seen}"
    );
    assert!(
        seen["after"].as_str().unwrap().contains("nothing waits"),
        "{seen}"
    );
    assert_eq!(seen["errors"], serde_json::json!([]), "no script errors");
    // The approval took effect and is on record with its reviewer.
    let versions = support::block_on(send_with(
        admin,
        "GET",
        "/v1/apps/notes/versions",
        "",
        &[("authorization", format!("Bearer {reviewer}").as_str())],
    ));
    let versions: serde_json::Value = serde_json::from_str(&versions.body).unwrap();
    assert_eq!(versions["versions"][0]["version"], "1.1.0");
    assert_eq!(versions["versions"][0]["status"], "active");
    assert_eq!(versions["versions"][0]["reviewed_by"], "rita");
    host.stop();
}

#[test]
fn an_admin_signs_in_through_the_identity_provider_with_pkce_and_kills_and_unkills_an_app() {
    setup_browser();
    let idp = support::idp::Idp::start(
        "warden-dashboard",
        serde_json::json!({ "email": "Ada@Example.com", "email_verified": true, "warden_role": "admin" }),
    );
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[admin.oidc]\nissuer = \"{u}\"\naudience = \"warden-dashboard\"\njwks_url = \"{u}/jwks.json\"\nname_claim = \"email\"\nallow_http_loopback = true\nclient_id = \"warden-dashboard\"\nauthorization_endpoint = \"{u}/authorize\"\ntoken_endpoint = \"{u}/token\"\n",
            u = idp.url
        ),
    )
    .unwrap();
    let noop = noop_app(data.path(), "noop", "");
    let host = LibHost::start(
        &data.path().join("data"),
        Some(std::path::Path::new(&config)),
        &[std::path::Path::new(&noop)],
    );
    let shots = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&shots).unwrap();
    let seen = drive(
        "drive-oidc.cjs",
        &[
            host.admin.clone().into(),
            "noop".into(),
            shots.join("dashboard-oidc.png").into(),
        ],
    );
    assert_eq!(seen["who"], "ada@example.com (admin)", "{seen}");
    assert!(
        seen["address"].as_str().unwrap().ends_with("/dashboard"),
        "the code is not left in the address bar: {seen}"
    );
    assert_eq!(seen["token"], 3, "the dashboard holds the ID token (a JWT)");
    assert_eq!(seen["withoutReason"], "say why in the reason field first");
    assert_eq!(seen["afterKill"], "killed", "{seen}");
    assert_eq!(seen["afterUnkill"], "running", "{seen}");
    assert_eq!(seen["errors"], serde_json::json!([]), "no script errors");
    let idp_seen = idp.seen.lock().unwrap().clone();
    assert_eq!(
        idp_seen.exchanged, 1,
        "one code, exchanged with its verifier: {idp_seen:?}"
    );
    assert!(idp_seen.refused.is_empty(), "{idp_seen:?}");
    host.stop();
    let audit = std::fs::read_to_string(data.path().join("data/audit.jsonl")).unwrap();
    let kinds: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["kind"] == "app.killed" || e["kind"] == "app.unkilled")
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0]["actor"], "oidc:ada@example.com");
    assert_eq!(kinds[0]["details"]["reason"], "drill from the dashboard");
}
