//! Rego decides every publish: deploys through the admin API judged by the
//! default bundle and by a platform's own policies (enforcement levels,
//! exceptions, data), a host that does not start on a broken policy, and
//! `warden policy check|test` offline.

use crate::support;
use std::path::Path;
use std::process::Command;
use support::admin_api::{Admin, admin_with};
use support::library::LibHost;
use support::said as text;
use support::{example, fixture};
use warden_runtime::admin::tokens::Role;
use warden_runtime::config::PlatformConfig;
use warden_runtime::config::policy::PolicySettings;
use warden_runtime::host::{Host, HostOptions, StartError};

/// A deploy body with exactly this manifest (no fields added).
fn raw_deploy(manifest: &str) -> String {
    use base64::Engine as _;
    let bytes = std::fs::read(fixture("noop_handler")).expect("component");
    serde_json::json!({
        "manifest": manifest,
        "component": base64::engine::general_purpose::STANDARD.encode(bytes),
    })
    .to_string()
}

fn manifest(name: &str, app_lines: &str, rest: &str) -> String {
    format!(
        "[app]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"app.wasm\"\n{app_lines}[http]\nroute = \"/{name}\"\n{rest}"
    )
}

const ACCOUNTABLE: &str =
    "team = \"tools\"\ncost_center = \"cc-1\"\nrunbook = { contact = \"oncall@example.com\" }\n";

fn audit_of(a: &Admin, app: &str) -> Vec<serde_json::Value> {
    let (_, audit) = a.call(
        Some(Role::Auditor),
        "GET",
        &format!("/v1/audit?app={app}"),
        "",
    );
    audit["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_deploy_missing_what_the_policy_requires_is_refused_field_by_field_and_audited() {
    let a = admin_with("", &[]);
    let body = raw_deploy(&manifest(
        "expenses",
        "team = \"tools\"\nrunbook = { contact = \"oncall@example.com\" }\n",
        "",
    ));
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 422, "{out}");
    let error = out["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("app.cost_center") && error.contains("fix: set app.cost_center"),
        "{error}"
    );
    assert!(!error.contains("app.team"), "team is set: {error}");
    assert_eq!(
        support::serving::request(a.running.addr, "POST", "/expenses", "x").status,
        404,
        "a refused app is not served"
    );
    let entries = audit_of(&a, "expenses");
    let refused = entries
        .iter()
        .find(|e| e["kind"] == "app.refused")
        .unwrap_or_else(|| panic!("app.refused audited: {entries:?}"));
    let policy = &refused["details"]["policy"];
    assert_eq!(policy["verdict"], "refused");
    assert_eq!(policy["revision"].as_str().map(str::len), Some(64));
    assert_eq!(policy["deny"][0]["path"], "app.cost_center");
    assert_eq!(refused["actor"], "token:creator-user");
    assert!(entries.iter().all(|e| e["kind"] != "app.deployed"));
}

#[test]
fn a_platforms_policies_decide_with_enforcement_levels_exceptions_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("house.rego"),
        r#"package warden.publish

import rego.v1

deny contains {"id": "no-beta", "msg": "beta apps are not published", "remediation": "drop -beta from the name", "path": "app.name"} if {
	endswith(input.app.name, "-beta")
}

needs_approval contains {"id": "big-component", "msg": sprintf("component is %d bytes, above %d", [input.component.size, data.house.max_component]), "remediation": "make it smaller", "path": "app.component"} if {
	input.component.size > data.house.max_component
}

warn contains {"id": "no-description", "msg": "app.description is missing", "remediation": "say what the app does", "path": "app.description"} if {
	not input.app.description
}
"#,
    )
    .unwrap();
    std::fs::write(
        policies.join("house.json"),
        r#"{"house": {"max_component": 10}}"#,
    )
    .unwrap();
    let config = format!(
        r#"[policy]
paths = ["{}"]

[policy.enforcement]
big-component = "dryrun"

[[policy.exceptions]]
app = "shiny-beta"
rule = "no-beta"
owner = "security"
reason = "pilot with the sales team"
ticket = "SEC-7"
expires = "2099-01-01T00:00:00Z"

[[policy.exceptions]]
app = "old-beta"
rule = "no-beta"
owner = "security"
reason = "last year's pilot"
expires = "2020-01-01T00:00:00Z"
"#,
        policies.display()
    );
    let a = admin_with(&config, &[]);
    let deploy = |name: &str| {
        a.call(
            Some(Role::Creator),
            "POST",
            "/v1/apps",
            &raw_deploy(&manifest(name, ACCOUNTABLE, "")),
        )
    };

    // A rule in dryrun decides nothing but is recorded; a warning is kept.
    let (status, out) = deploy("plain");
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["policy"]["dryrun"][0]["finding"]["id"], "big-component");
    assert_eq!(out["policy"]["dryrun"][0]["set"], "needs_approval");
    assert_eq!(out["policy"]["warn"][0]["id"], "no-description");
    let deployed = audit_of(&a, "plain");
    let entry = deployed
        .iter()
        .find(|e| e["kind"] == "app.deployed")
        .expect("deployed entry");
    assert_eq!(
        entry["details"]["policy"]["warn"][0]["id"],
        "no-description"
    );

    // An unexpired exception suppresses the finding and is named.
    let (status, out) = deploy("shiny-beta");
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["policy"]["exempted"][0]["finding"]["id"], "no-beta");
    assert_eq!(out["policy"]["exempted"][0]["exception"]["ticket"], "SEC-7");

    // An expired one suppresses nothing, and says it ran out.
    let (status, out) = deploy("old-beta");
    assert_eq!(status, 422, "{out}");
    assert!(
        out["error"]
            .as_str()
            .is_some_and(|e| e.contains("beta apps are not published")),
        "{out}"
    );
    let refused = audit_of(&a, "old-beta");
    let policy = &refused
        .iter()
        .find(|e| e["kind"] == "app.refused")
        .expect("refused entry")["details"]["policy"];
    assert!(
        policy["warn"]
            .as_array()
            .is_some_and(|w| w.iter().any(|f| f["id"] == "exception-expired")),
        "{policy}"
    );
    assert!(policy["exempted"].as_array().is_some_and(Vec::is_empty));
}

fn start_with_policy(dir: &Path, rego: &str) -> Result<(), String> {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("broken.rego"), rego).unwrap();
    let platform = PlatformConfig {
        data_dir: Some(dir.join("data")),
        policy: PolicySettings {
            paths: vec![policies],
            ..PolicySettings::default()
        },
        ..PlatformConfig::builtin()
    };
    let options = HostOptions {
        listen: Some("127.0.0.1:0".into()),
        admin_listen: Some("127.0.0.1:0".into()),
        ..HostOptions::new(platform)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        match Host::start(options).await {
            Ok(host) => {
                host.stop();
                let _ = host.stopped().await;
                Ok(())
            }
            Err(StartError::Config(message)) => Err(message),
            Err(other) => Err(format!("not a configuration error: {other}")),
        }
    })
}

#[test]
fn a_host_does_not_start_on_a_policy_that_does_not_compile_or_fails() {
    let dir = tempfile::tempdir().unwrap();
    let error = start_with_policy(
        dir.path(),
        "package warden.publish\n\ndeny contains x if {\n  x := \n}\n",
    )
    .expect_err("a policy that does not parse stops start-up");
    assert!(error.contains("broken.rego"), "{error}");
    assert!(
        error.contains(":4:") || error.contains(":5:"),
        "names the line: {error}"
    );
    assert!(error.contains("fix:"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let error = start_with_policy(
        dir.path(),
        "package warden.publish\n\nlevel := 1\nlevel := 2\n\nwarn contains \"x\" if level > 0\n",
    )
    .expect_err("a policy that fails on every publish stops start-up");
    assert!(error.contains("evaluation failed"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    start_with_policy(
        dir.path(),
        "package warden.publish\n\nwarn contains \"fine\" if true\n",
    )
    .expect("a working policy starts");
}

fn warden(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("USER", "ada")
        .output()
        .expect("run warden")
}

#[test]
fn policy_check_says_live_held_or_refused_with_each_finding_and_its_own_exit_code() {
    let example_manifest = example("hello-http");
    let live = warden(&["policy", "check", example_manifest.to_str().unwrap()]);
    assert!(live.status.success(), "{}", text(&live));
    assert!(
        text(&live).contains("hello-http 1.0.0: would go live"),
        "{}",
        text(&live)
    );

    let dir = tempfile::tempdir().unwrap();
    let held = dir.path().join("held.toml");
    std::fs::write(
        &held,
        manifest(
            "held",
            ACCOUNTABLE,
            "[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
        ),
    )
    .unwrap();
    let out = warden(&["policy", "check", held.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(decision["decision"]["verdict"], "held");
    assert_eq!(
        decision["decision"]["needs_approval"][0]["path"],
        "egress.allowed_hosts[0]"
    );

    let refused = dir.path().join("refused.toml");
    std::fs::write(&refused, manifest("refused", "", "")).unwrap();
    let out = warden(&["policy", "check", refused.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let said = text(&out);
    for field in ["app.team", "app.cost_center", "app.runbook.contact"] {
        assert!(said.contains(field), "{field}: {said}");
    }
    assert!(said.contains("fix: "), "{said}");
    assert!(!said.contains("app.owner"), "the creator owns it: {said}");

    // An admin's deploy names its owner; a malformed --as is a usage error.
    let out = warden(&[
        "policy",
        "check",
        refused.to_str().unwrap(),
        "--as",
        "ops:admin",
    ]);
    assert!(text(&out).contains("app.owner"), "{}", text(&out));
    let out = warden(&["policy", "check", refused.to_str().unwrap(), "--as", "ops"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn policy_test_reports_each_test_and_coverage_and_fails_on_a_failure_or_threshold() {
    let ok = warden(&["policy", "test"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let said = text(&ok);
    assert!(
        said.contains("PASS  data.warden.publish_test.test_regulated_storage_needs_approval"),
        "{said}"
    );
    assert!(
        said.contains("warden-default/publish.rego"),
        "coverage per file: {said}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("house_test.rego"),
        "package house_test\n\nimport rego.v1\n\nimport data.warden.publish\n\ntest_holds if { count(publish.deny) == 0 with input as {\"app\": {\"owner\": \"a\", \"team\": \"t\", \"cost_center\": \"c\", \"runbook\": {\"contact\": \"x\"}, \"compliance\": []}, \"grants\": {\"connectors\": [], \"hosts\": [], \"storage\": [], \"limits\": {}, \"quota\": {}}, \"secrets\": [], \"platform\": {\"connector_rules\": {\"require_dpa\": false, \"allowed_residency\": [], \"require_incident_notification\": false}}} }\n\ntest_fails if { 1 == 2 }\n",
    )
    .unwrap();
    let out = warden(&["policy", "test", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("PASS  data.house_test.test_holds"), "{said}");
    assert!(said.contains("FAIL  data.house_test.test_fails"), "{said}");

    let out = warden(&["policy", "test", "--threshold", "100.5"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("under --threshold"), "{}", text(&out));
}

#[test]
fn the_clean_examples_and_the_python_and_javascript_components_have_no_secrets() {
    use warden_runtime::policy::secrets::scan_component;
    let mut components: Vec<std::path::PathBuf> =
        ["hello-http", "oncall-picker", "report-formatter"]
            .iter()
            .map(|name| {
                let manifest = example(name);
                warden_runtime::config::AppManifest::load(&manifest)
                    .unwrap()
                    .component_path(&manifest)
            })
            .collect();
    for name in ["hello-py", "hello-js"] {
        let manifest = support::guests::foreign_example(name);
        components.push(
            warden_runtime::config::AppManifest::load(&manifest)
                .unwrap()
                .component_path(&manifest),
        );
    }
    for path in components {
        let bytes = std::fs::read(&path).unwrap();
        let found = scan_component(&bytes).unwrap();
        assert!(found.is_empty(), "{}: {found:#?}", path.display());
    }
}

/// The fake credentials `runtime/tests/fixtures/planted-secrets` bakes in.
const PLANTED_RULES: [&str; 3] = ["aws-access-key-id", "github-token", "slack-webhook"];
const PLANTED_TOKEN: &str = "ghp_q8ZtR2vXw5LmN7pK3sJ9fH4dG6bC1yT0uEoA";

fn planted_foreign(file: &str) -> std::path::PathBuf {
    // Built with the foreign examples (scripts/build-foreign-examples.sh).
    support::guests::foreign_example("hello-py");
    support::guests::examples_dir()
        .join("target/foreign")
        .join(file)
}

#[test]
fn secrets_planted_in_rust_python_and_javascript_components_are_found_by_section_and_offset() {
    use warden_runtime::policy::secrets::scan_component;
    for path in [
        fixture("planted_secrets"),
        planted_foreign("planted_py.wasm"),
        planted_foreign("planted_js.wasm"),
    ] {
        let bytes = std::fs::read(&path).unwrap();
        let found = scan_component(&bytes).unwrap();
        for rule in PLANTED_RULES {
            let f = found
                .iter()
                .find(|f| f.rule == rule)
                .unwrap_or_else(|| panic!("{}: no {rule} in {found:#?}", path.display()));
            assert!(
                f.section.contains("data segment") || f.section.contains("custom section"),
                "{f:?}"
            );
            assert!((f.offset as usize) < bytes.len(), "{f:?}");
        }
        let token = found.iter().find(|f| f.rule == "github-token").unwrap();
        let at = token.offset as usize;
        assert_eq!(
            &bytes[at..at + PLANTED_TOKEN.len()],
            PLANTED_TOKEN.as_bytes()
        );
        assert_eq!(token.preview, "ghp_…(40 chars)");
    }
}

#[test]
fn a_deploy_carrying_a_secret_is_refused_without_repeating_it() {
    use base64::Engine as _;
    let a = admin_with("", &[]);
    let bytes = std::fs::read(fixture("planted_secrets")).unwrap();
    let body = serde_json::json!({
        "manifest": manifest("planted", ACCOUNTABLE, ""),
        "component": base64::engine::general_purpose::STANDARD.encode(bytes),
    })
    .to_string();
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 422, "{out}");
    let error = out["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("github-token") && error.contains("ghp_…"),
        "{error}"
    );
    assert!(
        !error.contains(PLANTED_TOKEN),
        "the secret is never repeated: {error}"
    );
    let entries = audit_of(&a, "planted");
    let refused = entries
        .iter()
        .find(|e| e["kind"] == "app.refused")
        .expect("refused entry");
    assert!(!refused.to_string().contains(PLANTED_TOKEN));
    assert_eq!(
        refused["details"]["policy"]["deny"][0]["id"],
        "secret-in-artifact"
    );

    // A credential in the manifest text is found there, by line.
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("app.toml");
    std::fs::write(
        &manifest_path,
        manifest(
            "leaky",
            ACCOUNTABLE,
            "[config]\nnote = \"see https://hooks.slack.com/services/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\"\n",
        ),
    )
    .unwrap();
    let out = warden(&["policy", "check", manifest_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("slack-webhook in app.toml line"),
        "{}",
        text(&out)
    );
    let out = warden(&[
        "policy",
        "check",
        manifest_path.to_str().unwrap(),
        "--component",
        planted_foreign("planted_py.wasm").to_str().unwrap(),
    ]);
    assert!(text(&out).contains("github-token in "), "{}", text(&out));
    assert!(!text(&out).contains(PLANTED_TOKEN), "{}", text(&out));
}

/// Regulated storage waits for a reviewer even when the platform's
/// settings waive every policy rule that would hold it: what goes live
/// without a reviewer is served unapproved.
#[test]
fn regulated_storage_waits_for_a_reviewer_whatever_the_policy_waives() {
    let config = r#"[policy.enforcement]
regulated-storage = "warn"
class-needs-approval = "warn"
outside-template = "warn"
"#;
    let a = admin_with(config, &[]);
    let body = raw_deploy(&manifest(
        "payroll",
        ACCOUNTABLE,
        "[[storage]]\nbucket = \"pay\"\nclass = \"regulated\"\nttl = \"1d\"\n",
    ));
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 202, "{out}");
    assert!(
        out["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("a reviewer must approve it")),
        "{out}"
    );
    assert_eq!(
        support::serving::request(a.running.addr, "POST", "/payroll", "x").status,
        404
    );
}

/// An approval is made on the decision of the moment: an exception that
/// ran out since the deploy leaves a deny standing, and the version
/// cannot be approved. The host restarts on settings whose exception has
/// ended, so the test waits for no clock.
#[test]
fn an_approval_is_refused_when_the_policy_refuses_the_version_by_then() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let rules = data.join("house.rego");
    std::fs::write(
        &rules,
        "package warden.publish\n\nimport rego.v1\n\ndeny contains {\"id\": \"no-beta\", \"msg\": \"beta apps are not published\", \"remediation\": \"rename it\", \"path\": \"app.name\"} if endswith(input.app.name, \"-beta\")\n",
    )
    .unwrap();
    let config = data.join("warden.toml");
    let exception_ending = |at: chrono::DateTime<chrono::Utc>| {
        let toml = format!(
            "[policy]\npaths = [\"{}\"]\n\n[[policy.exceptions]]\napp = \"trial-beta\"\nrule = \"no-beta\"\nowner = \"security\"\nreason = \"a short pilot\"\nexpires = \"{}\"\n",
            rules.display(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        std::fs::write(&config, toml).unwrap();
    };
    let creator = support::admin_api::create_token(data, "creator-user", Role::Creator);
    let reviewer = support::admin_api::create_token(data, "reviewer-user", Role::Reviewer);
    let call = |host: &LibHost, token: &str, method: &str, path: &str, body: &str| {
        let auth = format!("Bearer {token}");
        let reply = support::block_on(support::serving::send_with(
            host.admin_addr(),
            method,
            path,
            body,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
        ));
        let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
        (reply.status, json)
    };

    exception_ending(chrono::Utc::now() + chrono::Duration::days(1));
    let host = LibHost::start(data, Some(&config), &[]);
    let body = raw_deploy(&manifest(
        "trial-beta",
        ACCOUNTABLE,
        "[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
    ));
    let (status, out) = call(&host, &creator, "POST", "/v1/apps", &body);
    assert_eq!(status, 202, "{out}");
    assert_eq!(out["policy"]["exempted"][0]["finding"]["id"], "no-beta");
    host.stop();

    // By the time the reviewer looks, the exception has ended.
    exception_ending(chrono::Utc::now() - chrono::Duration::days(1));
    let host = LibHost::start(data, Some(&config), &[]);
    let (status, out) = call(
        &host,
        &reviewer,
        "POST",
        "/v1/apps/trial-beta/approve",
        r#"{"note":"looks fine"}"#,
    );
    assert_eq!(status, 422, "{out}");
    assert!(
        out["error"]
            .as_str()
            .is_some_and(|e| e.contains("now refuses") && e.contains("beta apps are not published")),
        "{out}"
    );
    let (_, versions) = call(&host, &reviewer, "GET", "/v1/apps/trial-beta/versions", "");
    assert_eq!(versions["versions"][0]["status"], "pending", "{versions}");
}

/// An approval judges the manifest exactly as it was published, not the
/// host's stored copy (whose component path and owner it filled in).
#[test]
fn an_approval_judges_the_manifest_as_it_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sent.rego"),
        "package warden.publish\n\nimport rego.v1\n\ndeny contains {\"id\": \"component-name\", \"msg\": sprintf(\"component is %v\", [input.manifest.app.component]), \"remediation\": \"name it app.wasm\", \"path\": \"app.component\"} if input.manifest.app.component != \"app.wasm\"\n",
    )
    .unwrap();
    let config = format!("[policy]\npaths = [\"{}\"]\n", dir.path().display());
    let a = admin_with(&config, &[]);
    let body = raw_deploy(&manifest(
        "sent",
        ACCOUNTABLE,
        "[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
    ));
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 202, "{out}");
    let (status, out) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/sent/approve",
        r#"{"note":"fine"}"#,
    );
    assert_eq!(status, 200, "{out}");
}

/// A publish that fails its compile check is on record too, with why, and
/// without the host's paths.
#[test]
fn a_deploy_that_fails_its_checks_is_audited_as_refused() {
    use base64::Engine as _;
    let a = admin_with("", &[]);
    let body = serde_json::json!({
        "manifest": manifest("broken", ACCOUNTABLE, ""),
        "component": base64::engine::general_purpose::STANDARD.encode(b"\0asm\x01\0\0\0garbage"),
    })
    .to_string();
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 400, "{out}");
    let entries = audit_of(&a, "broken");
    let refused = entries
        .iter()
        .find(|e| e["kind"] == "app.refused")
        .unwrap_or_else(|| panic!("app.refused audited: {entries:?}"));
    let error = refused["details"]["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "{refused}");
    let data_dir = a.running.server.runtime().data_dir().display().to_string();
    assert!(!error.contains(&data_dir), "no host paths: {error}");
}

/// `input.request.team` is the team the deployer's credential names: a
/// rule may keep an app to one team. An approval judges the deployer's
/// request, team included, and `policy check --team` answers the same.
#[test]
fn a_rule_on_the_deployers_team_decides_deploys_approvals_and_checks_alike() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("teams.rego");
    std::fs::write(
        &rules,
        "package warden.publish\n\nimport rego.v1\n\ndeny contains {\"id\": \"payroll-only\", \"msg\": sprintf(\"payslips is deployed by payroll, not %v\", [object.get(input.request, \"team\", \"no team\")]), \"remediation\": \"ask payroll to deploy it\", \"path\": \"app.name\"} if {\n  input.app.name == \"payslips\"\n  not input.request.team == \"payroll\"\n}\n",
    )
    .unwrap();
    let config = format!("[policy]\npaths = [\"{}\"]\n", rules.display());
    let a = admin_with(&config, &[]);
    let body = raw_deploy(&manifest(
        "payslips",
        ACCOUNTABLE,
        "[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
    ));
    for (name, team, said) in [
        ("ivan", Some("it"), "not it"),
        ("nora", None, "not no team"),
    ] {
        let token = support::admin_api::runtime_token(
            a.running.server.runtime(),
            name,
            Role::Creator,
            team,
        );
        let (status, out) = a.call_with(Some(&token), "POST", "/v1/apps", &body);
        assert_eq!(status, 422, "{out}");
        assert!(
            out["error"].as_str().is_some_and(|e| e.contains(said)),
            "{out}"
        );
    }
    let paula = support::admin_api::runtime_token(
        a.running.server.runtime(),
        "paula",
        Role::Creator,
        Some("payroll"),
    );
    let (status, out) = a.call_with(Some(&paula), "POST", "/v1/apps", &body);
    assert_eq!(status, 202, "held for its egress host: {out}");
    // The reviewer has no team; the decision is still the deployer's.
    let (status, out) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/payslips/approve",
        r#"{"note":"fine"}"#,
    );
    assert_eq!(status, 200, "{out}");

    let app = dir.path().join("payslips.toml");
    std::fs::write(&app, manifest("payslips", ACCOUNTABLE, "")).unwrap();
    let settings = dir.path().join("warden.toml");
    std::fs::write(&settings, &config).unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec![
            "policy",
            "check",
            app.to_str().unwrap(),
            "--config",
            settings.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        warden(&args)
    };
    let out = check(&["--team", "payroll"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("not no team"), "{}", text(&out));
}

/// `policy check --server` asks the host: its templates set through the
/// API and the caller's token count, the component is judged, and nothing
/// is deployed.
#[test]
fn policy_check_against_a_host_knows_its_templates_and_deploys_nothing() {
    let a = admin_with("", &[]);
    let (status, out) = a.call(
        Some(Role::Admin),
        "PUT",
        "/v1/templates/partner-feed",
        r#"{"allowed_hosts":["https://api.example.com"]}"#,
    );
    assert_eq!(status, 200, "{out}");
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.toml");
    std::fs::write(
        &app,
        manifest(
            "feed",
            &format!("template = \"partner-feed\"\n{ACCOUNTABLE}"),
            "[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
        ),
    )
    .unwrap();
    std::fs::copy(fixture("noop_handler"), dir.path().join("app.wasm")).unwrap();
    let server = format!("http://{}", a.addr);
    let check = |extra: &[&str]| {
        let mut args = vec!["policy", "check", app.to_str().unwrap()];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(&args)
            .env("WARDEN_TOKEN", a.token_of(Role::Creator))
            .env_remove("WARDEN_SERVER")
            .output()
            .expect("run warden")
    };
    // Offline the template is unknown, so the host is outside it.
    let out = check(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("would be held"), "{}", text(&out));
    let out = check(&["--server", &server, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["decision"]["verdict"], "live", "{answer}");
    assert_eq!(
        answer["component"].as_str().map(str::len),
        Some(64),
        "the component was judged: {answer}"
    );
    let (status, _) = a.call(Some(Role::Auditor), "GET", "/v1/apps/feed/versions", "");
    assert_eq!(status, 404, "a check deploys nothing");
    assert!(
        audit_of(&a, "feed").is_empty(),
        "a check is not on record as a publish"
    );
    let out = check(&["--server", &server, "--as", "ada:creator"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// A creator's check of an app another owner holds is refused like their
/// deploy would be: it must not read that app's live grants.
#[test]
fn a_creator_cannot_check_an_app_another_owner_holds() {
    let a = admin_with(
        "",
        &[(
            "payroll",
            fixture("noop_handler"),
            "owner = \"someone-else\"\n[http]\nroute = \"/payroll\"",
        )],
    );
    let body = raw_deploy(&manifest("payroll", ACCOUNTABLE, ""));
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/policy/check", &body);
    assert_eq!(status, 403, "{out}");
    assert!(
        out["error"].as_str().is_some_and(|e| e.contains("payroll")),
        "{out}"
    );
    assert!(out.get("decision").is_none(), "{out}");
    let (status, out) = a.call(Some(Role::Admin), "POST", "/v1/policy/check", &body);
    assert_eq!(status, 200, "an admin may check any app: {out}");
}
