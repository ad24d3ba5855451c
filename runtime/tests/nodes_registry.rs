//! The deploy registry shared by nodes: a deploy, an approval or a
//! retirement on one node is what every node serves within 2 s.

use crate::nodes::{Node, node, shared_token};
use crate::support;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::admin_api::deploy_body;
use support::serving::send;

/// How soon every node must follow a change made on one.
const FOLLOW: Duration = Duration::from_secs(2);

/// Calls `node`'s admin API with `token`.
fn call(node: &Node, token: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    support::admin_api::call_as(node.host.admin_addr(), token, method, path, body)
}

/// Waits up to [`FOLLOW`] for `path` on every node of `nodes` to answer
/// `status`; says how long the slowest took, or which did not.
fn all_answer(nodes: &[(&str, SocketAddr)], path: &str, status: u16) -> Result<Duration, String> {
    let since = Instant::now();
    support::block_on(async {
        let mut waiting: Vec<(&str, SocketAddr)> = nodes.to_vec();
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for (name, addr) in waiting {
                if send(addr, "GET", path, "").await.status != status {
                    still.push((name, addr));
                }
            }
            waiting = still;
            if waiting.is_empty() {
                break;
            }
            if since.elapsed() > FOLLOW {
                let names: Vec<&str> = waiting.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "{path} did not answer {status} on {} within {FOLLOW:?}",
                    names.join(", ")
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(since.elapsed())
    })
}

/// Three nodes on one database: a version deployed on A goes live on B
/// and C; a version held for review is served nowhere until a reviewer
/// approves it on B, and then everywhere; an operator's quota override on
/// A holds on B; retired on C, it leaves every node, as does an app
/// deleted on C. Each within 2 s.
#[test]
fn a_deploy_an_approval_and_a_retirement_on_one_node_reach_every_node_within_two_seconds() {
    let (state, _key) = support::postgres::cluster_config();
    let (a, b, c) = (node(&state), node(&state), node(&state));
    let creator = shared_token(&a, "cora", "creator");
    let reviewer = shared_token(&b, "rey", "reviewer");
    let admin = shared_token(&c, "ops", "admin");
    let (a_app, b_app, c_app) = (a.host.app_addr, b.host.app_addr, c.host.app_addr);
    let deploy = |version: &str, extra: &str| {
        let body = deploy_body("ledger", version, &support::fixture("noop_handler"), extra);
        call(&a, &creator, "POST", "/v1/apps", &body)
    };

    let (status, out) = deploy("1.0.0", "[http]\nroute = \"/ledger/one\"\n");
    assert_eq!(status, 201, "{out}");
    let took = all_answer(
        &[("A", a_app), ("B", b_app), ("C", c_app)],
        "/ledger/one",
        200,
    );
    took.unwrap_or_else(|e| panic!("a live deploy on A: {e}"));

    // A new grant waits for a reviewer: served nowhere meanwhile.
    let (status, out) = deploy(
        "1.1.0",
        "[http]\nroute = \"/ledger/two\"\n[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
    );
    assert_eq!(status, 202, "{out}");
    std::thread::sleep(Duration::from_millis(500));
    for addr in [a_app, b_app, c_app] {
        assert_eq!(
            support::block_on(send(addr, "GET", "/ledger/two", "")).status,
            404
        );
        assert_eq!(
            support::block_on(send(addr, "GET", "/ledger/one", "")).status,
            200
        );
    }
    // B's reviewer sees what A holds, and approves it.
    let (status, pending) = call(&b, &reviewer, "GET", "/v1/reviews", "");
    assert_eq!(status, 200, "{pending}");
    assert!(pending.contains("1.1.0"), "{pending}");
    let (status, out) = call(
        &b,
        &reviewer,
        "POST",
        "/v1/apps/ledger/approve",
        r#"{"note":"the vendor's API"}"#,
    );
    assert_eq!(status, 200, "{out}");
    all_answer(
        &[("A", a_app), ("B", b_app), ("C", c_app)],
        "/ledger/two",
        200,
    )
    .unwrap_or_else(|e| panic!("an approval on B: {e}"));
    all_answer(
        &[("A", a_app), ("B", b_app), ("C", c_app)],
        "/ledger/one",
        404,
    )
    .unwrap_or_else(|e| panic!("the version the approval replaced: {e}"));
    // C serves the decision B signed.
    let (status, envelope) = call(
        &c,
        &creator,
        "GET",
        "/v1/apps/ledger/versions/1.1.0/attestation",
        "",
    );
    assert_eq!(status, 200, "{envelope}");
    let statement = support::attested_envelope(&envelope);
    assert_eq!(
        statement["predicate"]["warden"]["result"], "approved",
        "{statement}"
    );

    // An operator's quota override on A holds on B: two requests a
    // minute, on every node together.
    let (status, out) = call(
        &a,
        &admin,
        "PUT",
        "/v1/apps/ledger/quota",
        r#"{"requests_per_minute":2}"#,
    );
    assert_eq!(status, 200, "{out}");
    let since = Instant::now();
    while support::block_on(send(b_app, "GET", "/ledger/two", "")).status != 429 {
        assert!(
            since.elapsed() < FOLLOW,
            "B does not apply A's quota override within {FOLLOW:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }

    // Retired on C: gone from A and B too.
    let (status, out) = call(
        &c,
        &admin,
        "POST",
        "/v1/apps/ledger/retire",
        r#"{"reason":"no longer needed"}"#,
    );
    assert_eq!(status, 200, "{out}");
    all_answer(
        &[("A", a_app), ("B", b_app), ("C", c_app)],
        "/ledger/two",
        404,
    )
    .unwrap_or_else(|e| panic!("a retirement on C: {e}"));

    // Deleted on C: gone from A and B too.
    let memo = deploy_body(
        "memo",
        "1.0.0",
        &support::fixture("noop_handler"),
        "[http]\nroute = \"/memo\"\n",
    );
    let (status, out) = call(&a, &creator, "POST", "/v1/apps", &memo);
    assert_eq!(status, 201, "{out}");
    let all = [("A", a_app), ("B", b_app), ("C", c_app)];
    all_answer(&all, "/memo", 200).unwrap_or_else(|e| panic!("a second deploy on A: {e}"));
    let (status, out) = call(&c, &admin, "DELETE", "/v1/apps/memo", "");
    assert_eq!(status, 200, "{out}");
    all_answer(&all, "/memo", 404).unwrap_or_else(|e| panic!("a deletion on C: {e}"));
}

/// A node's copy of a deployed manifest changed in its data directory is
/// put back from the record within 2 s, and the change is audited as
/// `deploy.tampered`; the version stays served.
#[test]
fn a_changed_local_copy_is_put_back_from_the_record_and_audited() {
    let (state, _key) = support::postgres::cluster_config();
    let (a, b) = (node(&state), node(&state));
    let creator = shared_token(&a, "cora", "creator");
    let auditor = shared_token(&a, "aud", "auditor");
    let body = deploy_body(
        "ledger",
        "1.0.0",
        &support::fixture("noop_handler"),
        "[http]\nroute = \"/ledger\"\n",
    );
    let (status, out) = call(&a, &creator, "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    let deploy = serde_json::from_str::<serde_json::Value>(&out).unwrap()["deploy"]
        .as_i64()
        .unwrap();
    all_answer(&[("B", b.host.app_addr)], "/ledger", 200).unwrap();
    let copy = b.data.path().join(format!("deploys/{deploy}/app.toml"));
    let recorded = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(&copy, recorded.replace("ledger", "l3dger")).unwrap();
    let since = Instant::now();
    while std::fs::read_to_string(&copy).unwrap() != recorded {
        assert!(since.elapsed() < FOLLOW, "the copy was not put back");
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(
        support::block_on(send(b.host.app_addr, "GET", "/ledger", "")).status,
        200
    );
    // The entry is appended once the file is back: it may follow a moment
    // after.
    let audited = || {
        let (status, audit) = call(&b, &auditor, "GET", "/v1/audit?app=ledger", "");
        assert_eq!(status, 200, "{audit}");
        (audit.contains("deploy.tampered") && audit.contains("from the shared registry"))
            .then_some(())
            .ok_or(audit)
    };
    let since = Instant::now();
    while let Err(audit) = audited() {
        assert!(since.elapsed() < FOLLOW, "{audit}");
        std::thread::sleep(Duration::from_millis(25));
    }
}
