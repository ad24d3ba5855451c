//! The host's own log records deploys, approvals, rejections, kills,
//! deletes and route changes as they happen, one `tracing` line each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::admin_api::deploy_body;
use support::fixture;
use support::process::{Host, token};
use support::serving::send_with;

#[test]
fn governance_events_are_in_the_host_log_as_they_happen() {
    let data = tempfile::tempdir().unwrap();
    let creator = token(data.path(), "cora", "creator");
    let reviewer = token(data.path(), "rita", "reviewer");
    let admin_token = token(data.path(), "ada", "admin");
    let mut host = Host::start(data.path(), &[]);
    let admin = host.admin_addr();
    let call = |token: &str, method: &str, path: &str, body: &str| {
        let auth = format!("Bearer {token}");
        support::block_on(send_with(
            admin,
            method,
            path,
            body,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
        ))
        .status
    };
    let held = deploy_body(
        "notes",
        "1.0.0",
        &fixture("noop_handler"),
        "[http]\nroute = \"/notes\"\n[egress]\nallowed_hosts = [\"https://api.example.com\"]",
    );
    assert_eq!(call(&creator, "POST", "/v1/apps", &held), 202);
    assert_eq!(call(&reviewer, "POST", "/v1/apps/notes/approve", "{}"), 200);
    assert_eq!(
        call(
            &admin_token,
            "POST",
            "/v1/apps/notes/kill",
            r#"{"reason":"drill"}"#
        ),
        200
    );
    assert_eq!(call(&admin_token, "DELETE", "/v1/apps/notes", ""), 200);
    let wait = std::time::Duration::from_secs(10);
    for needle in [
        "app deployed app=\"notes\" version=\"1.0.0\" deploy=1 actor=\"token:cora\" status=\"pending\"",
        "route changed app=\"notes\" from=\"-\" to=\"/notes\"",
        "app approved app=\"notes\" version=\"1.0.0\" deploy=1 actor=\"token:rita\"",
        "app killed app=\"notes\" actor=\"token:ada\" reason=\"drill\"",
        "route changed app=\"notes\" from=\"/notes\" to=\"-\"",
        "app deleted app=\"notes\" deploys=1 actor=\"token:ada\"",
    ] {
        assert!(host.wait_line(needle, wait), "`{needle}` in the host log");
    }
}
