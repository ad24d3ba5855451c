//! Review is not blind: a version shows its full manifest, why it is held,
//! what changed from the live version and what its template allows —
//! over the API and in `warden review show` — and apps held at their first
//! deploy are listed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use sha2::{Digest, Sha256};
use support::admin_api::{admin_with, deploy_body};
use support::fixture;
use warden_runtime::admin::tokens::Role;

#[test]
fn a_reviewer_sees_the_manifest_the_reasons_and_the_changes_from_the_live_version() {
    let a = admin_with("", &[]);
    let first = deploy_body(
        "kv",
        "1.0.0",
        &fixture("noop_handler"),
        "[http]\nroute = \"/kv\"\n[[storage]]\nbucket = \"notes\"\nclass = \"internal\"",
    );
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &first);
    assert_eq!(status, 201, "{out}");
    let second = deploy_body(
        "kv",
        "1.0.1",
        &fixture("noop_handler"),
        "[http]\nroute = \"/kv\"\n[[storage]]\nbucket = \"notes\"\nclass = \"confidential\"\n[egress]\nallowed_hosts = [\"https://exfil.example.com\"]",
    );
    let (status, held) = a.call(Some(Role::Creator), "POST", "/v1/apps", &second);
    assert_eq!(status, 202, "{held}");
    let sent: serde_json::Value = serde_json::from_str(&second).unwrap();
    let manifest_sha256 = hex::encode(Sha256::digest(sent["manifest"].as_str().unwrap()));
    assert_eq!(held["manifest_sha256"], manifest_sha256.as_str());

    let (status, shown) = a.call(
        Some(Role::Reviewer),
        "GET",
        "/v1/apps/kv/versions/1.0.1",
        "",
    );
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["live"]["version"], "1.0.0");
    assert_eq!(shown["manifest_sha256"], manifest_sha256.as_str());
    assert_eq!(
        shown["manifest"]["app"]["component"],
        format!("sha256:{}", shown["component_sha256"].as_str().unwrap())
    );
    let data = a.running.server.runtime().data_dir().display().to_string();
    assert!(!shown.to_string().contains(&data), "no host paths: {shown}");
    let changes: Vec<(String, String)> = shown["changes_from_live"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["change"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("allowed_hosts".to_string(), "changed".to_string()),
            ("storage.notes.class".to_string(), "changed".to_string()),
        ],
        "{shown}"
    );
    assert!(!shown["reasons"].as_array().unwrap().is_empty());
    assert_eq!(shown["grants"]["storage"]["notes"]["class"], "confidential");

    // Another creator does not see it; the audit names both digests.
    let other = a.token("mallory", Role::Creator);
    let (status, _) = a.call_with(Some(&other), "GET", "/v1/apps/kv/versions/1.0.1", "");
    assert_eq!(status, 404);
    let (_, audit) = a.call(Some(Role::Auditor), "GET", "/v1/audit?app=kv", "");
    let deployed: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "app.deployed")
        .collect();
    assert_eq!(deployed.len(), 2);
    assert_eq!(
        deployed[1]["details"]["manifest_sha256"],
        manifest_sha256.as_str()
    );
    assert_eq!(
        deployed[1]["details"]["component_sha256"],
        shown["component_sha256"]
    );

    // The CLI shows the same, and the command that approves exactly it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "review",
            "show",
            "kv",
            "--server",
            &format!("http://{}", a.addr),
        ])
        .env("WARDEN_TOKEN", a.token_of(Role::Reviewer))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("kv 1.0.1  [pending]"), "{text}");
    assert!(text.contains("held because:"), "{text}");
    assert!(text.contains("changes from live 1.0.0:"), "{text}");
    assert!(
        text.contains("~ storage.notes.class: internal -> confidential"),
        "{text}"
    );
    assert!(
        text.contains("~ allowed_hosts: added https://exfil.example.com"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "warden approve kv --deploy {} --digest {}",
            shown["deploy"],
            shown["component_sha256"].as_str().unwrap()
        )),
        "{text}"
    );
}

#[test]
fn an_app_held_at_its_first_deploy_is_listed_and_inspected_as_pending() {
    let a = admin_with("", &[]);
    let body = deploy_body(
        "fresh",
        "0.1.0",
        &fixture("noop_handler"),
        "[egress]\nallowed_hosts = [\"https://api.example.com\"]",
    );
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 202, "{out}");
    // Without a template the answer reads sensibly and says how to go live.
    assert_eq!(
        out["reasons"][0],
        "egress host `https://api.example.com` needs a reviewer: the app names no template that allows it"
    );
    let next = out["next"].as_str().unwrap();
    assert!(
        next.contains("warden review show fresh 0.1.0") && next.contains("name a template"),
        "{next}"
    );
    let (_, apps) = a.call(Some(Role::Creator), "GET", "/v1/apps", "");
    let listed = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "fresh")
        .cloned()
        .unwrap_or_else(|| panic!("listed: {apps}"));
    assert_eq!(listed["state"], "pending");
    let (status, inspected) = a.call(Some(Role::Creator), "GET", "/v1/apps/fresh", "");
    assert_eq!(status, 200, "{inspected}");
    assert_eq!(inspected["state"], "pending");
    assert!(
        inspected["next"]
            .as_str()
            .unwrap()
            .contains("warden review show fresh"),
        "{inspected}"
    );
    let other = a.token("mallory", Role::Creator);
    let (status, _) = a.call_with(Some(&other), "GET", "/v1/apps/fresh", "");
    assert_eq!(status, 404, "not someone else's to see");
}

/// Every status a version takes is in its history, written by the
/// registry itself: who moved it, when, why, and the policy revision its
/// decision rests on.
#[test]
fn a_versions_history_says_who_moved_it_when_why_and_on_which_policy_revision() {
    let a = support::admin_api::admin_with("", &[]);
    let deploy = |version: &str, extra: &str| {
        let body = support::admin_api::deploy_body(
            "ledger",
            version,
            &support::fixture("noop_handler"),
            &format!("[http]\nroute = \"/ledger\"\n{extra}"),
        );
        a.call(Some(Role::Creator), "POST", "/v1/apps", &body)
    };
    let (status, first) = deploy("1.0.0", "");
    assert_eq!(status, 201, "{first}");
    let (status, held) = deploy(
        "1.1.0",
        "[egress]\nallowed_hosts = [\"https://api.example.com\"]",
    );
    assert_eq!(status, 202, "{held}");
    let (status, out) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/ledger/approve",
        r#"{"note":"the vendor's API"}"#,
    );
    assert_eq!(status, 200, "{out}");
    let history = |version: &str| {
        let (status, shown) = a.call(
            Some(Role::Auditor),
            "GET",
            &format!("/v1/apps/ledger/versions/{version}"),
            "",
        );
        assert_eq!(status, 200, "{shown}");
        shown["history"].as_array().cloned().unwrap_or_default()
    };
    let steps = |h: &[serde_json::Value]| -> Vec<(String, String)> {
        h.iter()
            .map(|t| {
                (
                    t["from"].as_str().unwrap_or("-").to_string(),
                    t["to"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let newer = history("1.1.0");
    assert_eq!(
        steps(&newer),
        [
            ("-", "pending"),
            ("pending", "approved"),
            ("approved", "active")
        ]
        .map(|(f, t)| (f.to_string(), t.to_string()))
    );
    assert_eq!(newer[0]["by"], "creator-user");
    assert_eq!(newer[1]["by"], "reviewer-user");
    assert_eq!(newer[1]["why"], "the vendor's API");
    assert_eq!(newer[1]["revision"], held["policy"]["revision"]);
    assert_eq!(newer[2]["by"], "warden");
    assert!(
        newer
            .iter()
            .all(|t| t["at"].as_str().is_some_and(|at| at.ends_with('Z')))
    );
    let older = history("1.0.0");
    assert_eq!(
        steps(&older),
        [
            ("-", "pending"),
            ("pending", "active"),
            ("active", "superseded")
        ]
        .map(|(f, t)| (f.to_string(), t.to_string()))
    );
    assert_eq!(older[1]["by"], "creator-user");
    assert_eq!(older[1]["revision"], first["policy"]["revision"]);
    assert_eq!(
        older[2]["why"],
        format!("replaced by deploy {}", held["deploy"])
    );
    // Audited too, by whoever put the newer version live.
    let (_, audit) = a.call(Some(Role::Auditor), "GET", "/v1/audit?app=ledger", "");
    let superseded: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["kind"] == "version.superseded")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(superseded.len(), 1, "{audit}");
    assert_eq!(superseded[0]["details"]["version"], "1.0.0");
    assert_eq!(superseded[0]["details"]["by_version"], "1.1.0");
    assert_eq!(superseded[0]["actor"], "token:reviewer-user");
}

/// A kill is a step of the live version's history (`active → killed`,
/// who and why), an unkill the way back; a version deployed while its app
/// is killed goes live killed.
#[test]
fn a_kill_and_an_unkill_are_steps_of_the_live_versions_history() {
    let a = support::admin_api::admin_with("", &[]);
    let deploy = |version: &str| {
        let body = support::admin_api::deploy_body(
            "ledger",
            version,
            &support::fixture("noop_handler"),
            "[http]\nroute = \"/ledger\"",
        );
        a.call(Some(Role::Creator), "POST", "/v1/apps", &body)
    };
    let status_of = |version: &str| {
        let (_, shown) = a.call(
            Some(Role::Auditor),
            "GET",
            &format!("/v1/apps/ledger/versions/{version}"),
            "",
        );
        (
            shown["status"].as_str().unwrap_or_default().to_string(),
            shown["history"].as_array().cloned().unwrap_or_default(),
        )
    };
    assert_eq!(deploy("1.0.0").0, 201);
    let (status, out) = a.call(
        Some(Role::Admin),
        "POST",
        "/v1/apps/ledger/kill",
        r#"{"reason":"sends data to the wrong place"}"#,
    );
    assert_eq!(status, 200, "{out}");
    let (status, history) = status_of("1.0.0");
    assert_eq!(status, "killed");
    let last = history.last().cloned().unwrap_or_default();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("active"), Some("killed"))
    );
    assert_eq!(last["by"], "token:admin-user");
    assert_eq!(last["why"], "sends data to the wrong place");

    // Deployed while killed: live, and killed, and said so.
    let (status, out) = deploy("1.0.1");
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["status"], "killed", "{out}");
    assert_eq!(status_of("1.0.0").0, "superseded");
    let (status, history) = status_of("1.0.1");
    assert_eq!(status, "killed", "{history:?}");
    let last = history.last().cloned().unwrap_or_default();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("active"), Some("killed"))
    );
    assert_eq!(last["by"], "warden");
    assert_eq!(
        support::serving::request(a.running.addr, "POST", "/ledger", "x").status,
        503,
        "a killed app is refused"
    );

    let (status, out) = a.call(Some(Role::Admin), "POST", "/v1/apps/ledger/unkill", "");
    assert_eq!(status, 200, "{out}");
    let (status, history) = status_of("1.0.1");
    assert_eq!(status, "active");
    let last = history.last().cloned().unwrap_or_default();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("killed"), Some("active"))
    );
    assert_eq!(
        support::serving::request(a.running.addr, "POST", "/ledger", "x").status,
        200
    );
}
