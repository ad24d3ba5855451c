//! `warden state copy`: a single node's embedded state moved into an
//! empty PostgreSQL database, then served from there by a node on shared
//! state as it was served before — and refused, with nothing written,
//! where it cannot be copied as it is.

use crate::support;
use std::path::Path;
use support::admin_api::deploy_body;
use support::library::LibHost;
use support::process::{set_secret, warden_with as warden};
use support::serving::send;

/// Calls `host`'s admin API with `token`.
fn call(host: &LibHost, token: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    support::admin_api::call_as(host.admin_addr(), token, method, path, body)
}

/// Runs `warden state copy` into `url` and checks that it is refused
/// (exit 1) saying `says`.
fn copy_refused(config: &Path, data: &Path, url: &str, says: &str) {
    let out = warden(config, data, &["state", "copy", "--to", url]);
    assert_eq!(out.status.code(), Some(1), "{}", support::said(&out));
    assert!(
        support::said(&out).contains(says),
        "{}",
        support::said(&out)
    );
}

/// A single node's warden.toml (embedded store) with its master key file.
fn single_node(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("master.key");
    std::fs::write(&key, hex::encode([42u8; 32])).unwrap();
    let config = dir.join("single.toml");
    std::fs::write(
        &config,
        format!("[secrets]\nmaster_key_file = \"{}\"\n", key.display()),
    )
    .unwrap();
    config
}

fn kv(op: &str) -> String {
    match op {
        "put" => r#"[{"op":"put","bucket":"notes","key":"k","value":"kept sealed"}]"#.into(),
        _ => r#"[{"op":"get","bucket":"notes","key":"k"}]"#.into(),
    }
}

/// Rows in `table` of the database at `url` (none when a refused copy
/// did not even create the schema).
fn count(url: &str, table: &str) -> i64 {
    let exists: bool =
        support::postgres::rows(url, &format!("SELECT to_regclass('{table}') IS NOT NULL"))[0]
            .get(0);
    if !exists {
        return 0;
    }
    support::postgres::rows(url, &format!("SELECT count(*) FROM {table}"))[0].get(0)
}

/// Everything a single node holds — a version held and approved, a
/// killed app, a sealed value, a secret, tokens, a quota override, a
/// template, attestations and the audit chain — is, after the copy, what
/// a node on PostgreSQL serves, with every audit hash as it was. A copy
/// while the node runs, and a second copy into the now full database,
/// are refused.
#[test]
fn a_single_nodes_state_copied_into_postgres_is_served_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("single");
    std::fs::create_dir_all(&data).unwrap();
    let config = single_node(dir.path());
    let url = support::postgres::fresh_database();
    let creator = support::process::token(&data, "cora", "creator");
    let reviewer = support::process::token(&data, "rey", "reviewer");
    let admin = support::process::token(&data, "ops", "admin");
    set_secret(&data, Some(&config), "crm-token", "s3cr3t-value");

    let host = LibHost::start(&data, Some(&config), &[]);
    let ledger = |version: &str, extra: &str| {
        deploy_body("ledger", version, &support::fixture("noop_handler"), extra)
    };
    let (status, out) = call(
        &host,
        &creator,
        "POST",
        "/v1/apps",
        &ledger("1.0.0", "[http]\nroute = \"/ledger/one\"\n"),
    );
    assert_eq!(status, 201, "{out}");
    // A new grant waits for a reviewer, who approves it.
    let (status, out) = call(
        &host,
        &creator,
        "POST",
        "/v1/apps",
        &ledger(
            "1.1.0",
            "[http]\nroute = \"/ledger/two\"\n[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
        ),
    );
    assert_eq!(status, 202, "{out}");
    let (status, out) = call(
        &host,
        &reviewer,
        "POST",
        "/v1/apps/ledger/approve",
        r#"{"note":"the vendor's API"}"#,
    );
    assert_eq!(status, 200, "{out}");
    let notes = deploy_body(
        "notes",
        "1.0.0",
        &support::fixture("kv_app"),
        "[http]\nroute = \"/kv\"\n[[storage]]\nbucket = \"notes\"\nclass = \"confidential\"\n",
    );
    let (status, out) = call(&host, &creator, "POST", "/v1/apps", &notes);
    assert!(status == 201 || status == 202, "{out}");
    if status == 202 {
        let (status, out) = call(
            &host,
            &reviewer,
            "POST",
            "/v1/apps/notes/approve",
            r#"{"note":"notes stay inside"}"#,
        );
        assert_eq!(status, 200, "{out}");
    }
    let put = support::block_on(send(host.app_addr, "POST", "/kv", &kv("put")));
    assert_eq!(put.body, r#"["ok"]"#);
    for (method, path, body) in [
        (
            "PUT",
            "/v1/apps/notes/quota",
            r#"{"requests_per_minute":3}"#,
        ),
        ("PUT", "/v1/templates/matrix", r#"{"max_class":"internal"}"#),
        (
            "POST",
            "/v1/apps/ledger/kill",
            r#"{"reason":"before the move"}"#,
        ),
    ] {
        let (status, out) = call(&host, &admin, method, path, body);
        assert_eq!(status, 200, "{method} {path}: {out}");
    }
    // Under the override, a request takes a lease of the minute's units.
    let got = support::block_on(send(host.app_addr, "POST", "/kv", &kv("get")));
    assert_eq!(got.body, r#"["kept sealed"]"#);

    // A periodic review, which the nodes must keep to know when the next
    // one is due.
    let (status, out) = call(
        &host,
        &reviewer,
        "POST",
        "/v1/apps/notes/review",
        r#"{"note":"bucket still needed"}"#,
    );
    assert_eq!(status, 200, "{out}");
    // Someone the identity provider deactivated, whose name must stay
    // refused on the nodes.
    let okta = support::process::token(&data, "okta", "scim");
    let (status, out) = call(
        &host,
        &okta,
        "POST",
        "/scim/v2/Users",
        r#"{"userName":"gone@example.com","active":false}"#,
    );
    assert_eq!(status, 201, "{out}");
    // Not while the node serves: the copy would miss its later writes.
    copy_refused(&config, &data, &url, "stop it, then copy");
    assert_eq!(count(&url, "deployments"), 0, "nothing was written");
    host.stop();
    // An audit sink had delivered up to entry 3 (its position, as a host
    // forwarding to it keeps it).
    std::fs::write(
        data.join("audit.forward.json"),
        r#"{"siem": {"seq": 3, "hash": "abc"}}"#,
    )
    .unwrap();

    let before: Vec<serde_json::Value> = std::fs::read_to_string(data.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let copied = warden(&config, &data, &["state", "copy", "--to", &url]);
    assert!(copied.status.success(), "{}", support::said(&copied));
    let said = support::said(&copied);
    assert!(said.contains("hash chain intact"), "{said}");
    assert!(said.contains("deployments"), "{said}");
    // Counters, quota windows and SLO tallies came along, the tallies as
    // the single node's rows.
    for table in ["usage_counters", "quota_leases", "storage_data_keys"] {
        assert!(count(&url, table) >= 1, "{table} was copied");
    }
    let fuel = support::postgres::rows(
        &url,
        "SELECT sum(fuel)::bigint FROM usage_counters WHERE scope = '*'",
    );
    assert!(fuel[0].get::<_, i64>(0) > 0, "the fuel counted came along");
    let people = support::postgres::rows(&url, "SELECT user_name, active FROM people");
    assert_eq!(people.len(), 1);
    assert_eq!(
        (people[0].get::<_, String>(0), people[0].get::<_, bool>(1)),
        ("gone@example.com".to_string(), false)
    );
    let reviews = support::postgres::rows(&url, "SELECT app, reviewer, note FROM app_reviews");
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].get::<_, String>(2), "bucket still needed");
    // The sink goes on from there on the nodes, not from the first entry.
    let positions = support::postgres::rows(&url, "SELECT sink, seq, hash FROM audit_forward");
    assert_eq!(positions.len(), 1);
    assert_eq!(
        (
            positions[0].get::<_, String>(0),
            positions[0].get::<_, i64>(1),
            positions[0].get::<_, String>(2)
        ),
        ("siem".to_string(), 3, "abc".to_string())
    );
    let node_id = std::fs::read_to_string(data.join("node.id")).unwrap();
    let nodes = support::postgres::rows(&url, "SELECT DISTINCT node FROM slo_tallies");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].get::<_, String>(0), node_id.trim());
    // So did the DLP salt, sealed: every node redacts as the single node
    // did, and a node given another key cannot open it.
    {
        use warden_host_apis::secrets::MasterKey;
        use warden_runtime::wait::Wait as _;
        let pg = support::postgres::pool(&url);
        let salt = pg
            .dlp_salt(&MasterKey::from_bytes([42; 32]))
            .wait()
            .unwrap();
        assert_eq!(
            salt.as_slice(),
            std::fs::read(data.join("dlp.salt")).unwrap()
        );
        assert!(pg.dlp_salt(&MasterKey::from_bytes([7; 32])).wait().is_err());
        let sealed: Vec<u8> =
            support::postgres::rows(&url, "SELECT sealed FROM dlp_salt")[0].get(0);
        assert!(
            !sealed.windows(32).any(|w| w == salt.as_slice()),
            "stored sealed"
        );
    }

    // Copied once: a second copy finds the database full, and says so.
    copy_refused(&config, &data, &url, "already holds Warden state");

    // A node on the database (its own, empty data directory; the same
    // master key) serves what the single node served.
    let node_data = dir.path().join("node");
    std::fs::create_dir_all(&node_data).unwrap();
    let node_config = dir.path().join("node.toml");
    std::fs::write(
        &node_config,
        format!(
            "[state]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 4\n{}",
            std::fs::read_to_string(&config).unwrap()
        ),
    )
    .unwrap();
    let node = LibHost::start(&node_data, Some(&node_config), &[]);
    // The sealed value opens under the copied data key.
    let got = support::block_on(send(node.app_addr, "POST", "/kv", &kv("get")));
    assert_eq!(got.body, r#"["kept sealed"]"#);
    // The kill holds; the copied admin token lifts it.
    assert_eq!(
        support::block_on(send(node.app_addr, "GET", "/ledger/two", "")).status,
        503
    );
    let (status, out) = call(&node, &admin, "POST", "/v1/apps/ledger/unkill", "{}");
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        support::block_on(send(node.app_addr, "GET", "/ledger/two", "")).status,
        200
    );
    // The approval and its history, the override, the template and the
    // signed decision came along.
    let (status, versions) = call(&node, &reviewer, "GET", "/v1/apps/ledger/versions", "");
    assert_eq!(status, 200, "{versions}");
    assert!(versions.contains("the vendor's API"), "{versions}");
    assert!(versions.contains("superseded"), "{versions}");
    let (status, templates) = call(&node, &creator, "GET", "/v1/templates", "");
    assert_eq!(status, 200, "{templates}");
    assert!(templates.contains("matrix"), "{templates}");
    let (status, envelope) = call(
        &node,
        &creator,
        "GET",
        "/v1/apps/ledger/versions/1.1.0/attestation",
        "",
    );
    assert_eq!(status, 200, "{envelope}");
    assert!(envelope.contains("payloadType"), "{envelope}");
    // New deploys number on from the copied ones.
    let (status, out) = call(
        &node,
        &creator,
        "POST",
        "/v1/apps",
        &ledger("1.2.0", "[http]\nroute = \"/ledger/three\"\n"),
    );
    assert_eq!(status, 201, "{out}");
    let deployed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let copied_ids: i64 =
        support::postgres::rows(&url, "SELECT count(*) FROM deployments WHERE id < 4")[0].get(0);
    assert_eq!(copied_ids, 3, "three deploys were copied");
    assert!(deployed["deploy"].as_i64().unwrap() > 3, "{out}");
    node.stop();

    // The secret opens on the node under the shared key.
    let platform = warden_runtime::config::PlatformConfig::load(&node_config).unwrap();
    let secrets = warden_runtime::runtime::open_secrets(&platform, &node_data).unwrap();
    assert_eq!(secrets.get("crm-token").unwrap().expose(), b"s3cr3t-value");
    // One chain: every entry of the single node's log, hash for hash,
    // then the copy's own entry and what the node did after.
    let verify = warden(&node_config, &node_data, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", support::said(&verify));
    let shown = warden(&node_config, &node_data, &["audit", "show", "--json"]);
    let after: Vec<serde_json::Value> = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(after.len() > before.len());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old["hash"], new["hash"]);
    }
    assert_eq!(after[before.len()]["kind"], "state.copied");
}

/// A data directory whose audit chain is broken, or whose stored manifest
/// changed after its deploy, is not copied: the copy would carry the
/// break into the shared chain. The database is left empty.
#[test]
fn a_copy_refuses_a_broken_chain_or_a_changed_manifest_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("single");
    std::fs::create_dir_all(&data).unwrap();
    let config = single_node(dir.path());
    let creator = support::process::token(&data, "cora", "creator");
    let host = LibHost::start(&data, Some(&config), &[]);
    let body = deploy_body(
        "ledger",
        "1.0.0",
        &support::fixture("noop_handler"),
        "[http]\nroute = \"/ledger\"\n",
    );
    let (status, out) = call(&host, &creator, "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    host.stop();

    // The stored manifest edited after the deploy.
    let manifest = data.join("deploys/1/app.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, original.replace("ledger", "l3dger")).unwrap();
    let url = support::postgres::fresh_database();
    copy_refused(&config, &data, &url, "changed after the deploy");
    std::fs::write(&manifest, original).unwrap();
    // The manifest as sent, which the deploy's digest speaks of.
    let sent = data.join("deploys/1/sent.toml");
    let as_sent = std::fs::read_to_string(&sent).unwrap();
    std::fs::write(&sent, format!("{as_sent}\n# edited\n")).unwrap();
    copy_refused(&config, &data, &url, "was sent");
    std::fs::write(&sent, as_sent).unwrap();

    // An audit entry edited in place.
    let log = data.join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("\"cora\"", "\"mallory\"", 1)).unwrap();
    copy_refused(&config, &data, &url, "does not verify");
    for table in ["deployments", "audit_log", "tokens", "components"] {
        assert_eq!(count(&url, table), 0, "nothing was written to {table}");
    }

    // Put right, it copies.
    std::fs::write(&log, text).unwrap();
    let copied = warden(&config, &data, &["state", "copy", "--to", &url]);
    assert!(copied.status.success(), "{}", support::said(&copied));
    assert_eq!(count(&url, "deployments"), 1);
}
