//! The admin API over real HTTP on loopback: the role × endpoint matrix,
//! 401 and 403, and audited actions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::admin_api::{Admin, admin_with, deploy_body};
use support::fixture;
use support::serving::send_with;
use warden_runtime::admin::tokens::Role;

fn admin() -> Admin {
    // `owned` belongs to the creator token's holder (by name), `other` not.
    admin_with(
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
    )
}

fn call(
    a: &Admin,
    role: Option<Role>,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    a.call(role, method, path, body)
}

/// Method, path, body and the status each role gets.
type Case<'a> = (&'a str, &'a str, &'a str, Vec<(Role, u16)>);

#[test]
fn every_role_gets_exactly_its_endpoints() {
    let a = admin();
    use Role::*;
    let all = [Creator, Reviewer, Admin, Auditor];
    let deploy = deploy_body(
        "deployed",
        "1.0.0",
        &fixture("noop_handler"),
        "owner = \"creator-user\"",
    );
    let everyone = || all.iter().map(|r| (*r, 200)).collect::<Vec<_>>();
    // State-changing calls: the admin goes last, after the refusals.
    let admin_only = || {
        vec![
            (Creator, 403),
            (Reviewer, 403),
            (Auditor, 403),
            (Admin, 200),
        ]
    };
    // Another owner's app does not exist for a creator.
    let all_but_creators = || {
        vec![
            (Creator, 404),
            (Reviewer, 200),
            (Admin, 200),
            (Auditor, 200),
        ]
    };
    let cases: Vec<Case> = vec![
        ("GET", "/v1/apps", "", everyone()),
        ("GET", "/v1/apps/owned", "", everyone()),
        ("GET", "/v1/apps/other", "", all_but_creators()),
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
            admin_only(),
        ),
        ("POST", "/v1/apps/other/unkill", "", admin_only()),
        ("GET", "/v1/reviews", "", everyone()),
        ("GET", "/v1/top", "", everyone()),
        ("GET", "/v1/telemetry", "", everyone()),
        ("GET", "/v1/apps/other/traces", "", all_but_creators()),
        ("GET", "/v1/apps/owned/usage", "", everyone()),
        ("GET", "/v1/templates", "", everyone()),
        (
            "PUT",
            "/v1/templates/matrix",
            r#"{"max_class":"internal"}"#,
            admin_only(),
        ),
        (
            "PUT",
            "/v1/apps/other/quota",
            r#"{"requests_per_minute":1000}"#,
            admin_only(),
        ),
        (
            "GET",
            "/v1/secrets",
            "",
            vec![
                (Creator, 403),
                (Reviewer, 403),
                (Auditor, 200),
                (Admin, 200),
            ],
        ),
        (
            "PUT",
            "/v1/secrets/matrix-secret",
            r#"{"value":"s3cret"}"#,
            admin_only(),
        ),
        (
            "POST",
            "/v1/apps",
            deploy.as_str(),
            vec![
                (Reviewer, 403),
                (Auditor, 403),
                (Creator, 201),
                // Past the role check; the same version cannot be deployed twice.
                (Admin, 409),
            ],
        ),
        ("GET", "/v1/apps/deployed/versions", "", everyone()),
        (
            "POST",
            "/v1/policy/check",
            r#"{"manifest":"[app]\nname = \"checked\"\nversion = \"1.0.0\"\ncomponent = \"app.wasm\"\nowner = \"creator-user\"\n"}"#,
            vec![
                (Reviewer, 403),
                (Auditor, 403),
                (Creator, 200),
                (Admin, 200),
            ],
        ),
        (
            "POST",
            "/v1/apps/deployed/approve",
            "{}",
            // No deploy is pending: the reviewer gets past the role check.
            vec![
                (Creator, 403),
                (Auditor, 403),
                (Admin, 403),
                (Reviewer, 404),
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
    // Every route the router declares (read from its source), but the
    // document itself and the dashboard's script.
    let router = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/admin/mod.rs"))
        .expect("the router's source");
    let routes: Vec<&str> = router
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .filter(|path| !matches!(*path, "/openapi.json" | "/dashboard.js"))
        .collect();
    assert!(routes.len() > 30, "{routes:?}");
    for path in routes {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from openapi.json"
        );
    }
}
