//! Checkpoints signed by several nodes at once: exports through every
//! node's admin API and `warden audit checkpoint` race with audited
//! changes, and the chain of checkpoints still verifies — the nodes take
//! turns through the database.

use crate::nodes::{Node, shared_token};
use crate::support;
use support::library::LibHost;
use support::process::warden_with as warden;

fn bare_node(state: &str) -> Node {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(&config, state).unwrap();
    let host = LibHost::start(data.path(), Some(&config), &[]);
    Node { host, data }
}

#[test]
fn nodes_exporting_and_a_command_signing_at_once_leave_checkpoints_that_verify() {
    let (state, _key) = support::postgres::cluster_config();
    let (a, b) = (bare_node(&state), bare_node(&state));
    race(&a, &b);
}

/// The same on one host (the embedded store, or one node on the
/// database in `scripts/test.sh`'s second pass): exports through its
/// admin API, its own timer and a command on its data directory.
#[test]
fn exports_and_a_command_signing_at_once_on_one_host_leave_checkpoints_that_verify() {
    let a = bare_node(&support::shared_state());
    race(&a, &a);
}

/// Four threads change `ledger`'s quota and export it, through `a` and
/// `b` in turn, while `warden audit checkpoint` signs on `a`'s settings;
/// then the chain and its checkpoints must verify.
fn race(a: &Node, b: &Node) {
    let creator = shared_token(a, "cora", "creator");
    let admin = shared_token(a, "ops", "admin");
    let body = support::admin_api::deploy_body(
        "ledger",
        "1.0.0",
        &support::fixture("noop_handler"),
        "[http]\nroute = \"/ledger\"\n",
    );
    let (status, out) =
        support::admin_api::call_as(a.host.admin_addr(), &creator, "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    let config = a.data.path().join("warden.toml");
    std::thread::scope(|s| {
        for (i, node) in [a, b, a, b].into_iter().enumerate() {
            let admin = admin.clone();
            s.spawn(move || {
                for round in 0..4 {
                    // Something new to seal, then an export that seals it.
                    let quota = format!(r#"{{"requests_per_minute":{}}}"#, 100 + i * 10 + round);
                    let (status, out) = support::admin_api::call_as(
                        node.host.admin_addr(),
                        &admin,
                        "PUT",
                        "/v1/apps/ledger/quota",
                        &quota,
                    );
                    assert_eq!(status, 200, "{out}");
                    let (status, out) = support::admin_api::call_as(
                        node.host.admin_addr(),
                        &admin,
                        "GET",
                        "/v1/apps/ledger/export",
                        "",
                    );
                    assert_eq!(status, 200, "{out}");
                }
            });
        }
        s.spawn(|| {
            for _ in 0..4 {
                let out = warden(&config, a.data.path(), &["audit", "checkpoint"]);
                assert!(out.status.success(), "{}", support::said(&out));
            }
        });
    });
    let out = warden(&config, a.data.path(), &["audit", "verify"]);
    let said = support::said(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("signed checkpoints verify"), "{said}");
    let out = warden(&config, a.data.path(), &["audit", "verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Each thread's four changes are each sealed before its export reads
    // the log (by it or another signer): four checkpoints at least.
    assert!(
        report["checkpoints"]["checkpoints"].as_u64() >= Some(4),
        "{report}"
    );
}

/// The sinks' telemetry of one node, by name.
fn audit_sinks(node: &Node, token: &str) -> Vec<serde_json::Value> {
    let (status, body) =
        support::admin_api::call_as(node.host.admin_addr(), token, "GET", "/v1/telemetry", "");
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    report["audit_sinks"].as_array().unwrap().clone()
}

/// Two nodes with one sink: one forwards it, and both report the same
/// position, the other read from the database.
#[test]
fn one_node_forwards_a_sink_and_every_node_reports_where_it_stands() {
    let hook = support::siem::Siem::up(support::siem::Protocol::Webhook, None);
    let (state, _key) = support::postgres::cluster_config();
    let state = format!(
        "{state}\n[[audit.sinks]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{}/audit\"\n",
        hook.port
    );
    let (a, b) = (bare_node(&state), bare_node(&state));
    let admin = shared_token(&a, "ops", "admin");
    let config = a.data.path().join("warden.toml");
    let settled = || {
        let head = support::audit_files::entries_of(&config, a.data.path()).len() as u64;
        let rows: Vec<_> = [&a, &b]
            .iter()
            .map(|n| audit_sinks(n, &admin)[0].clone())
            .collect();
        let here = rows.iter().filter(|r| r["forwarding_here"] == true).count();
        (here == 1
            && rows
                .iter()
                .all(|r| r["delivered_seq"] == head && r["lag_entries"] == 0))
        .then_some(rows)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let rows = loop {
        if let Some(rows) = settled() {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?} {:?}",
            audit_sinks(&a, &admin),
            audit_sinks(&b, &admin)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        rows.iter().all(|r| r["target"] == hook_url(&hook)),
        "{rows:?}"
    );
    let seqs = hook.seqs();
    assert_eq!(
        support::siem::first_seen(&seqs),
        (1..=seqs.iter().copied().max().unwrap()).collect::<Vec<_>>()
    );
}

fn hook_url(hook: &support::siem::Siem) -> String {
    format!("http://127.0.0.1:{}/audit", hook.port)
}
