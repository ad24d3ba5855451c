//! The admin API over real HTTP on loopback: the role × endpoint matrix,
//! 401 and 403, and audited actions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use support::fixture;
use support::serving::{Running, send_with, start};
use warden_runtime::admin::tokens::{Role, TokenStore};
use warden_runtime::admin::{AdminState, router};

struct Admin {
    addr: SocketAddr,
    tokens: Vec<(Role, String)>,
    running: Running,
    _thread: std::thread::JoinHandle<()>,
}

fn admin() -> Admin {
    let running = start(
        "",
        &[
            (
                "owned",
                fixture("noop_handler"),
                "owner = \"creator-user\"\n[http]\nroute = \"/owned\"",
            ),
            (
                "other",
                fixture("noop_handler"),
                "owner = \"someone-else\"\n[http]\nroute = \"/other\"",
            ),
        ],
    );
    // `owned` belongs to the creator token's holder (by name), `other` not.
    let dir = running.server.runtime().data_dir().to_path_buf();
    let store = TokenStore::new(&dir);
    let tokens: Vec<(Role, String)> = [Role::Creator, Role::Reviewer, Role::Admin, Role::Auditor]
        .into_iter()
        .map(|role| {
            (
                role,
                store
                    .create(&format!("{}-user", role.as_str()), role)
                    .expect("token"),
            )
        })
        .collect();
    let state = AdminState {
        server: running.server.clone(),
        tokens: Arc::new(TokenStore::new(&dir)),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            axum::serve(listener, router(state)).await.expect("admin");
        });
    });
    let addr = rx.recv().expect("admin address");
    Admin {
        addr,
        tokens,
        running,
        _thread: thread,
    }
}

fn call(
    a: &Admin,
    role: Option<Role>,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let token = role.map(|r| {
        a.tokens
            .iter()
            .find(|(x, _)| *x == r)
            .expect("token")
            .1
            .clone()
    });
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    let reply = support::block_on(send_with(a.addr, method, path, body, &headers));
    (
        reply.status,
        serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null),
    )
}

/// Method, path, body and the status each role gets.
type Case = (&'static str, &'static str, &'static str, Vec<(Role, u16)>);

#[test]
fn every_role_gets_exactly_its_endpoints() {
    let a = admin();
    use Role::*;
    let all = [Creator, Reviewer, Admin, Auditor];
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/v1/apps",
            "",
            all.iter().map(|r| (*r, 200)).collect(),
        ),
        (
            "GET",
            "/v1/apps/owned",
            "",
            all.iter().map(|r| (*r, 200)).collect(),
        ),
        (
            "GET",
            "/v1/apps/other",
            "",
            vec![
                (Creator, 404),
                (Reviewer, 200),
                (Admin, 200),
                (Auditor, 200),
            ],
        ),
        (
            "GET",
            "/v1/audit",
            "",
            vec![
                (Creator, 403),
                (Reviewer, 403),
                (Admin, 200),
                (Auditor, 200),
            ],
        ),
        (
            "POST",
            "/v1/apps/other/kill",
            r#"{"reason":"matrix"}"#,
            vec![
                (Creator, 403),
                (Reviewer, 403),
                (Auditor, 403),
                (Admin, 200),
            ],
        ),
        (
            "POST",
            "/v1/apps/other/unkill",
            "",
            vec![
                (Creator, 403),
                (Reviewer, 403),
                (Auditor, 403),
                (Admin, 200),
            ],
        ),
    ];
    for (method, path, body, expected) in cases {
        assert_eq!(
            call(&a, None, method, path, body).0,
            401,
            "{method} {path} without a token"
        );
        for (role, status) in expected {
            let (got, value) = call(&a, Some(role), method, path, body);
            assert_eq!(got, status, "{method} {path} as {}: {value}", role.as_str());
        }
    }
}

#[test]
fn a_creator_sees_only_apps_it_owns() {
    let a = admin();
    let (_, value) = call(&a, Some(Role::Creator), "GET", "/v1/apps", "");
    assert_eq!(
        value["apps"].as_array().map(|v| v.len()),
        Some(1),
        "{value}"
    );
    assert_eq!(value["apps"][0]["name"], "owned");
    let (_, value) = call(&a, Some(Role::Reviewer), "GET", "/v1/apps", "");
    assert_eq!(
        value["apps"].as_array().map(|v| v.len()),
        Some(2),
        "{value}"
    );
}

#[test]
fn an_unknown_token_is_401_and_errors_say_what() {
    let a = admin();
    let reply = support::block_on(send_with(
        a.addr,
        "GET",
        "/v1/apps",
        "",
        &[("authorization", "Bearer wdn_forged")],
    ));
    assert_eq!(reply.status, 401);
    assert!(reply.headers.contains_key("www-authenticate"));
    let (status, value) = call(
        &a,
        Some(Role::Auditor),
        "POST",
        "/v1/apps/other/kill",
        r#"{"reason":"x"}"#,
    );
    assert_eq!(status, 403);
    assert!(
        value["error"]
            .as_str()
            .unwrap_or_default()
            .contains("needs admin"),
        "{value}"
    );
}

#[test]
fn a_kill_through_the_api_is_audited_with_the_token_name_and_stops_the_app() {
    let a = admin();
    let (status, _) = call(
        &a,
        Some(Role::Admin),
        "POST",
        "/v1/apps/owned/kill",
        r#"{"reason":"api kill"}"#,
    );
    assert_eq!(status, 200);
    let served = support::serving::request(a.running.addr, "POST", "/owned", "x");
    assert_eq!(served.status, 503);
    let (_, audit) = call(&a, Some(Role::Auditor), "GET", "/v1/audit?app=owned", "");
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "app.killed" && e["actor"] == "token:admin-user"),
        "{audit}"
    );
    assert_eq!(audit["intact"], true);
    let (_, inspect) = call(&a, Some(Role::Admin), "GET", "/v1/apps/owned", "");
    assert_eq!(inspect["state"], "killed");
    assert_eq!(inspect["kill"]["reason"], "api kill");
}

#[test]
fn the_openapi_document_lists_every_route() {
    let a = admin();
    let reply = support::block_on(send_with(a.addr, "GET", "/openapi.json", "", &[]));
    let doc: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    for path in [
        "/v1/apps",
        "/v1/apps/{app}",
        "/v1/apps/{app}/kill",
        "/v1/apps/{app}/unkill",
        "/v1/audit",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from openapi.json"
        );
    }
}
