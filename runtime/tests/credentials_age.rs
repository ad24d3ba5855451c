//! Credentials age visibly: a connector's secret older than its catalog
//! `rotate_every` is flagged in inspect and the dashboard's table and
//! alerted once per value (audit, webhook); a new value ends it. OAuth
//! access tokens cached for an app are dropped when it is killed.

use crate::support;
use serde_json::Value;
use support::admin_api::call_as;
use support::library::LibHost;
use support::process::{set_secret, token_with};
use support::serving::request;
use support::until;
use support::upstream::Upstream;

fn config(upstream: &Upstream) -> String {
    format!(
        r#"
[[connectors]]
name = "crm"
base_url = "{crm}"
auth = {{ kind = "bearer", secret = "crm-token" }}
scopes = {{ read = ["GET /contacts/**"] }}
rotate_every = "2s"

[[connectors]]
name = "erp"
base_url = "{erp}"
auth = {{ kind = "oauth2", token_url = "{token}", client_id = "warden", secret = "erp-client", scopes = ["read"] }}
scopes = {{ read = ["GET /**"] }}

[egress]
allow_cidrs = ["127.0.0.1/32"]

[containment]
alert_webhook = "{hook}"

[lifecycle]
check_interval = "200ms"
{state}"#,
        crm = upstream.url("/api"),
        erp = upstream.url("/erp"),
        token = upstream.url("/token"),
        hook = upstream.url("/hook"),
        state = support::shared_state(),
    )
}

#[test]
fn a_credential_past_its_rotation_is_flagged_and_alerted_once_per_value() {
    let upstream = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config_path = dir.path().join("warden.toml");
    std::fs::write(&config_path, config(&upstream)).unwrap();
    set_secret(&data, Some(&config_path), "crm-token", "first-value");
    set_secret(&data, Some(&config_path), "erp-client", "erp-secret");
    let app = dir.path().join("sync.toml");
    std::fs::write(
        &app,
        format!(
            "[app]\nname = \"sync\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/sync\"\n[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n[[connectors]]\nname = \"erp\"\nscopes = [\"read\"]\n",
            support::fixture("connector_call").display()
        ),
    )
    .unwrap();
    let admin = token_with(&config_path, &data, "ops", "admin");
    let host = LibHost::start(&data, Some(&config_path), &[&app]);
    let get = |path: &str| -> Value {
        let (status, body) = call_as(host.admin_addr(), &admin, "GET", path, "");
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let alerts = || {
        get("/v1/audit?kind=credential.stale&limit=100")["entries"]
            .as_array()
            .unwrap()
            .clone()
    };

    // Fresh: its age and due date are shown; the OAuth one has no limit.
    let inspected = get("/v1/apps/sync");
    let crm = inspected["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connector"] == "crm")
        .cloned()
        .unwrap();
    assert_eq!(crm["secret"], "crm-token", "{inspected}");
    assert_eq!(crm["version"], 1, "{inspected}");
    assert_eq!(crm["rotate_every"], "2s", "{inspected}");
    assert!(crm["due_at"].is_string(), "{inspected}");
    let erp = inspected["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connector"] == "erp")
        .cloned()
        .unwrap();
    assert_eq!(
        (erp["stale"].clone(), erp["rotate_every"].clone()),
        (Value::Bool(false), Value::Null)
    );

    // Past two seconds: flagged, and alerted — audit and webhook.
    let stale = until(
        "the credential is alerted",
        || serde_json::json!(alerts()),
        |a| a.as_array().is_some_and(|a| !a.is_empty()),
    );
    let first = &stale[0];
    assert_eq!(first["actor"], "warden:lifecycle", "{stale}");
    assert_eq!(first["details"]["secret"], "crm-token", "{stale}");
    assert_eq!(first["details"]["version"], 1, "{stale}");
    assert_eq!(
        first["details"]["apps"],
        serde_json::json!(["sync"]),
        "{stale}"
    );
    let inspected = get("/v1/apps/sync");
    assert!(
        inspected["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["connector"] == "crm" && c["stale"] == true),
        "{inspected}"
    );
    let top = get("/v1/top");
    assert_eq!(
        top["apps"][0]["stale_credentials"],
        serde_json::json!(["crm-token"]),
        "{top}"
    );
    until(
        "the alert reaches the webhook",
        || serde_json::json!(upstream.hits("/hook")),
        |n| *n == 1,
    );

    // A new value: not stale; once it is, its own alert — and the first
    // value was never alerted again meanwhile.
    let (status, out) = call_as(
        host.admin_addr(),
        &admin,
        "PUT",
        "/v1/secrets/crm-token",
        r#"{"value":"second-value"}"#,
    );
    assert_eq!(status, 200, "{out}");
    let both = until(
        "the second value is alerted",
        || serde_json::json!(alerts()),
        |a| a.as_array().is_some_and(|a| a.len() >= 2),
    );
    let versions: Vec<&Value> = both
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["details"]["version"])
        .collect();
    assert_eq!(versions, [1, 2], "{both}");

    // OAuth: one token for the app's calls, dropped when it is killed.
    let call = r#"{"connector":"erp","method":"GET","path":"/ledger"}"#;
    for _ in 0..2 {
        assert_eq!(request(host.app_addr, "POST", "/sync", call).status, 200);
    }
    assert_eq!(upstream.hits("/token"), 1);
    for (verb, body) in [("kill", r#"{"reason":"contained"}"#), ("unkill", "")] {
        let (status, out) = call_as(
            host.admin_addr(),
            &admin,
            "POST",
            &format!("/v1/apps/sync/{verb}"),
            body,
        );
        assert_eq!(status, 200, "{verb}: {out}");
    }
    assert_eq!(request(host.app_addr, "POST", "/sync", call).status, 200);
    assert_eq!(upstream.hits("/token"), 2, "a fresh token after the kill");
}
