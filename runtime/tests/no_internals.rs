//! Nothing internal in an answer: no host paths in deploy errors, no
//! secret values echoed, random request ids, one Authorization header,
//! range-checked durations, roles checked before bodies are parsed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::admin_api::{admin_with, deploy_body};
use support::fixture;
use support::serving::send_with;
use warden_runtime::admin::tokens::Role;

#[test]
fn a_failed_deploy_names_the_manifest_field_without_the_hosts_data_directory() {
    let admin = admin_with("", &[]);
    let data = admin
        .running
        .server
        .runtime()
        .data_dir()
        .display()
        .to_string();
    let body = deploy_body("vault", "1.0.0", &fixture("unsatisfiable"), "");
    let (status, answer) = admin.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 400);
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("app.component"), "{error}");
    assert!(!error.contains(&data), "{error}");
    let (_, versions) = admin.call(Some(Role::Creator), "GET", "/v1/apps/vault/versions", "");
    assert!(!versions.to_string().contains(&data), "{versions}");
}

#[test]
fn a_secret_body_of_the_wrong_type_is_refused_without_echoing_it_and_roles_come_first() {
    let admin = admin_with("", &[]);
    let (status, answer) = admin.call(
        Some(Role::Admin),
        "PUT",
        "/v1/secrets/crm",
        r#"{"value": 918273645}"#,
    );
    assert_eq!(status, 422);
    assert!(!answer.to_string().contains("918273645"), "{answer}");
    let (status, _) = admin.call(
        Some(Role::Auditor),
        "PUT",
        "/v1/secrets/crm",
        "not json at all",
    );
    assert_eq!(status, 403, "the role is checked before the body");
    let (status, _) = admin.call(Some(Role::Auditor), "POST", "/v1/apps", "not json at all");
    assert_eq!(status, 403, "the role is checked before the body");
}

#[test]
fn every_change_checks_the_role_before_it_reads_the_body() {
    let admin = admin_with(
        "",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let junk = "{ not json";
    // (role without the right, method, path): each would be a 422 for the
    // role that has it, and is a 403 before the body is looked at.
    let cases = [
        (Role::Auditor, "POST", "/v1/apps/noop/kill"),
        (Role::Creator, "POST", "/v1/apps/noop/kill"),
        (Role::Auditor, "POST", "/v1/apps/noop/approve"),
        (Role::Creator, "POST", "/v1/apps/noop/reject"),
        (Role::Reviewer, "PUT", "/v1/apps/noop/quota"),
        (Role::Creator, "PUT", "/v1/templates/t"),
        (Role::Reviewer, "PUT", "/v1/secrets/s"),
        (Role::Reviewer, "POST", "/v1/apps"),
        (Role::Auditor, "DELETE", "/v1/apps/noop"),
    ];
    for (role, method, path) in cases {
        let (status, answer) = admin.call(Some(role), method, path, junk);
        assert_eq!(status, 403, "{role:?} {method} {path}: {answer}");
    }
    for (role, method, path) in [
        (Role::Admin, "POST", "/v1/apps/noop/kill"),
        (Role::Admin, "PUT", "/v1/apps/noop/quota"),
        (Role::Admin, "PUT", "/v1/templates/t"),
        (Role::Reviewer, "POST", "/v1/apps/noop/reject"),
    ] {
        let (status, answer) = admin.call(Some(role), method, path, junk);
        assert_eq!(status, 422, "{role:?} {method} {path}: {answer}");
    }
    assert_eq!(
        support::serving::request(admin.running.addr, "GET", "/noop", "").status,
        200,
        "nothing was killed"
    );
}

#[test]
fn two_authorization_headers_are_refused() {
    let admin = admin_with("", &[]);
    let token = admin.token_of(Role::Admin);
    let auth = format!("Bearer {token}");
    let reply = support::block_on(send_with(
        admin.addr,
        "GET",
        "/v1/apps",
        "",
        &[
            ("authorization", &auth),
            ("authorization", "Bearer wdn_other"),
        ],
    ));
    assert_eq!(reply.status, 400, "{}", reply.body);
}

#[test]
fn an_enormous_since_reads_as_everything_and_does_not_panic() {
    let admin = admin_with(
        "",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    for since in ["9223372036855s", "1000000000y"] {
        let (status, answer) = admin.call(
            Some(Role::Auditor),
            "GET",
            &format!("/v1/apps/noop/traces?since={since}"),
            "",
        );
        assert_eq!(status, 200, "{since}: {answer}");
    }
}

#[test]
fn request_ids_reveal_neither_the_process_nor_a_count() {
    let running = support::serving::start("", &[]);
    let ids: Vec<String> = (0..3)
        .map(|_| {
            support::serving::request(running.addr, "GET", "/nothing", "").headers["x-request-id"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let pid = format!("{:08x}", std::process::id());
    for id in &ids {
        assert_eq!(id.len(), 16, "{id}");
        assert!(!id.contains(&pid), "{id}");
    }
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
}

#[test]
fn a_shared_traceparent_does_not_show_one_owner_the_other_owners_spans() {
    let data = tempfile::tempdir().unwrap();
    let app = |name: &str, owner: &str| {
        let path = data.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[app]\nname = \"{name}\"\nversion = \"1.0.0\"\nowner = \"{owner}\"\ncomponent = \"{}\"\n[http]\nroute = \"/{name}\"\n",
                fixture("noop_handler").display()
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let (mine, theirs) = (app("mine", "alice"), app("theirs", "bob"));
    let host = support::library::LibHost::start(
        data.path(),
        None,
        &[std::path::Path::new(&mine), std::path::Path::new(&theirs)],
    );
    let alice = support::process::token(data.path(), "alice", "creator");
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for path in ["/mine", "/theirs"] {
        let reply = support::block_on(send_with(
            host.app_addr,
            "POST",
            path,
            "x",
            &[("traceparent", parent)],
        ));
        assert_eq!(reply.status, 200);
    }
    let auth = format!("Bearer {alice}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Both apps' spans are stored before alice looks (else the check below
    // could pass only because bob's had not arrived yet).
    let ops = format!(
        "Bearer {}",
        support::process::token(data.path(), "ops", "auditor")
    );
    loop {
        let reply = support::block_on(send_with(
            host.admin_addr(),
            "GET",
            "/v1/apps/theirs/traces",
            "",
            &[("authorization", &ops)],
        ));
        let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
        if answer["traces"].as_array().is_some_and(|t| !t.is_empty()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob's trace was never stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let spans = loop {
        let reply = support::block_on(send_with(
            host.admin_addr(),
            "GET",
            "/v1/apps/mine/traces",
            "",
            &[("authorization", &auth)],
        ));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        let spans = answer["traces"][0]["spans"].clone();
        if spans.as_array().is_some_and(|s| !s.is_empty()) || std::time::Instant::now() > deadline {
            break spans;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let apps: Vec<&str> = spans
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["app"].as_str())
        .collect();
    assert!(apps.contains(&"mine"), "{spans}");
    assert!(
        !apps.contains(&"theirs"),
        "bob's span leaked to alice: {spans}"
    );
}
