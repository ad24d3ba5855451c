//! Token lifecycle: created with an expiry (at most the platform's),
//! listed with last use, revoked by id or name, refused saying why, one
//! role per name — through the admin API and the CLI, every change audited.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::process::Command;
use support::admin_api::admin_with;
use warden_runtime::admin::tokens::Role;

#[test]
fn admins_create_list_and_revoke_tokens_through_the_api() {
    let a = admin_with("[admin]\ntoken_max_ttl = \"1d\"\n", &[]);
    let (status, out) = a.call(
        Some(Role::Creator),
        "POST",
        "/v1/tokens",
        r#"{"name":"x","role":"admin"}"#,
    );
    assert_eq!(status, 403, "{out}");
    let (status, made) = a.call(
        Some(Role::Admin),
        "POST",
        "/v1/tokens",
        r#"{"name":"Bob@Example.com","role":"auditor","ttl":"8h"}"#,
    );
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["name"], "bob@example.com");
    let bob = made["token"].as_str().unwrap().to_string();
    assert_eq!(a.call_with(Some(&bob), "GET", "/v1/audit", "").0, 200);

    let (status, out) = a.call(
        Some(Role::Admin),
        "POST",
        "/v1/tokens",
        r#"{"name":"carol","role":"creator","ttl":"2d"}"#,
    );
    assert_eq!(status, 400, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("at most 1d"),
        "{out}"
    );
    let (status, out) = a.call(
        Some(Role::Admin),
        "POST",
        "/v1/tokens",
        r#"{"name":"bob@example.com","role":"reviewer"}"#,
    );
    assert_eq!(status, 409, "one name, one role: {out}");

    let (status, list) = a.call(Some(Role::Auditor), "GET", "/v1/tokens", "");
    assert_eq!(status, 200, "{list}");
    let text = list.to_string();
    assert!(
        !text.contains(&bob[4..]) && !text.contains("hash"),
        "{text}"
    );
    let entry = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bob@example.com")
        .cloned()
        .unwrap();
    assert_eq!(entry["state"], "active");
    assert!(entry["last_used"].is_string(), "{entry}");
    assert!(entry["expires"].is_string(), "{entry}");

    let (status, out) = a.call(
        Some(Role::Admin),
        "DELETE",
        &format!("/v1/tokens/{}", made["id"].as_str().unwrap()),
        "",
    );
    assert_eq!(status, 200, "{out}");
    let (status, out) = a.call_with(Some(&bob), "GET", "/v1/audit", "");
    assert_eq!(status, 401);
    assert!(out["error"].as_str().unwrap().contains("revoked"), "{out}");

    let (_, audit) = a.call(Some(Role::Auditor), "GET", "/v1/audit", "");
    let events: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("token."))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().into(),
                e["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("token.created".into(), "token:admin-user".into()),
            ("token.revoked".into(), "token:admin-user".into())
        ]
    );
    assert!(!audit.to_string().contains(&bob[4..]));
}

#[test]
fn an_expired_token_is_refused_saying_so() {
    let a = admin_with("", &[]);
    let dir = a.running.server.runtime().data_dir().to_path_buf();
    let token = a.token("dora", Role::Auditor);
    assert_eq!(a.call_with(Some(&token), "GET", "/v1/audit", "").0, 200);
    // Time passes (as far as the store can tell), in whichever database
    // holds the tokens.
    let expire = "UPDATE tokens SET expires_at = 1000 WHERE name = 'dora'";
    match &a.running.server.runtime().platform().state.url {
        Some(url) => support::postgres::execute(url, expire),
        None => {
            rusqlite::Connection::open(dir.join("tokens.db"))
                .unwrap()
                .execute(expire, [])
                .unwrap();
        }
    }
    let (status, out) = a.call_with(Some(&token), "GET", "/v1/audit", "");
    assert_eq!(status, 401);
    let error = out["error"].as_str().unwrap();
    assert!(error.contains("expired at 1970-01-01T00:16:40Z"), "{error}");
}

fn warden(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("WARDEN_DATA_DIR", data)
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SERVER")
        .output()
        .unwrap()
}

#[test]
fn the_cli_creates_lists_and_revokes_tokens_on_the_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let out = warden(
        data.path(),
        &[
            "tokens", "create", "--name", "erin", "--role", "creator", "--ttl", "8h",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let erin = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("expires"), "{said}");

    let out = warden(
        data.path(),
        &["tokens", "create", "--name", "erin", "--role", "reviewer"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--replace"));
    let out = warden(
        data.path(),
        &[
            "tokens", "create", "--name", "x", "--role", "admin", "--ttl", "1000d",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 90d"));

    let out = warden(data.path(), &["tokens", "list"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains("erin") && table.contains("active"),
        "{table}"
    );
    assert!(!table.contains(&erin[4..]));
    let out = warden(data.path(), &["tokens", "list", "--json"]);
    let listed: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(listed["name"], "erin");

    let out = warden(data.path(), &["tokens", "revoke", "erin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked token"));
    let store = warden_runtime::admin::tokens::TokenStore::new(data.path());
    assert!(matches!(
        store.verify(&erin),
        Err(warden_runtime::admin::token_store::Refused::Revoked(_))
    ));
    let audit = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"token.created\"") && audit.contains("\"token.revoked\""));
    assert!(!audit.contains(&erin[4..]));
}
