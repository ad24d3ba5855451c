//! Who holds an app's name, versions and routes: a failed deploy claims
//! nothing, an admin can delete an app (its deploys, data and quota
//! override) and free its name, two deploys of one version at once record
//! one, and a route is checked against other owners' when it goes live.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;
use warden_runtime::wait::Wait as _;

use support::admin_api::{Admin, admin_with, deploy_body};
use support::fixture;
use support::serving::request;
use warden_runtime::admin::tokens::Role;

fn junk_component(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("junk.wasm");
    std::fs::write(&path, b"this is not a component").unwrap();
    path
}

fn route(path: &str) -> String {
    format!("[http]\nroute = \"{path}\"")
}

fn deploy(a: &Admin, token: &str, name: &str, version: &str, path: &str) -> (u16, String) {
    let body = deploy_body(name, version, &fixture("noop_handler"), &route(path));
    let (status, out) = a.call_with(Some(token), "POST", "/v1/apps", &body);
    (status, out.to_string())
}

#[test]
fn a_failed_deploy_claims_no_name() {
    let a = admin_with("", &[]);
    let dir = tempfile::tempdir().unwrap();
    let mallory = a.token("mallory", Role::Creator);
    let junk = deploy_body("payroll", "1.0.0", &junk_component(dir.path()), "");
    let (status, out) = a.call_with(Some(&mallory), "POST", "/v1/apps", &junk);
    assert_eq!(status, 400, "{out}");
    let erin = a.token("erin", Role::Creator);
    let (status, out) = deploy(&a, &erin, "payroll", "1.0.0", "/payroll");
    assert_eq!(status, 201, "the junk deploy held nothing: {out}");
    // Now the name is erin's.
    let (status, out) = deploy(&a, &mallory, "payroll", "1.0.1", "/payroll2");
    assert_eq!(status, 403, "{out}");
    assert!(out.contains("belongs to someone else"), "{out}");
}

#[test]
fn an_admin_deletes_an_app_its_data_and_quota_and_frees_its_name() {
    let a = admin_with("", &[]);
    let erin = a.token("erin", Role::Creator);
    let (status, out) = deploy(&a, &erin, "payroll", "1.0.0", "/payroll");
    assert_eq!(status, 201, "{out}");
    let (status, out) = a.call(
        Some(Role::Admin),
        "PUT",
        "/v1/apps/payroll/quota",
        r#"{"requests_per_minute": 7}"#,
    );
    assert_eq!(status, 200, "{out}");
    let runtime = a.running.server.runtime().clone();
    runtime
        .storage()
        .set(
            "payroll",
            "salaries",
            "ada",
            b"sealed or not, hers",
            u64::MAX,
            warden_host_apis::storage::store::WriteCaps::default(),
        )
        .wait()
        .unwrap();
    assert_eq!(request(a.running.addr, "GET", "/payroll", "").status, 200);

    let (status, out) = a.call(Some(Role::Creator), "DELETE", "/v1/apps/payroll", "");
    assert_eq!(status, 403, "creators do not delete: {out}");
    let (status, out) = a.call(Some(Role::Admin), "DELETE", "/v1/apps/payroll", "");
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["deploys_deleted"], 1, "{out}");
    assert_eq!(out["storage_rows_deleted"], 1, "{out}");

    assert_eq!(
        request(a.running.addr, "GET", "/payroll", "").status,
        404,
        "no longer served"
    );
    assert_eq!(
        runtime
            .storage()
            .get("payroll", "salaries", "ada", 0)
            .wait()
            .unwrap(),
        None,
        "its data went with it"
    );
    assert_eq!(runtime.registry().quota("payroll").wait().unwrap(), None);
    let (_, versions) = a.call(Some(Role::Auditor), "GET", "/v1/apps/payroll/versions", "");
    assert_eq!(versions["versions"][0]["status"], "deleted", "{versions}");
    let (_, audit) = a.call(Some(Role::Auditor), "GET", "/v1/audit?app=payroll", "");
    let deleted = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "app.deleted")
        .cloned()
        .unwrap_or_else(|| panic!("audited: {audit}"));
    assert_eq!(deleted["actor"], "token:admin-user");

    // Repeating it is safe (a delete that failed part way finishes so).
    let (status, again) = a.call(Some(Role::Admin), "DELETE", "/v1/apps/payroll", "");
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["deploys_deleted"], 0, "{again}");
    assert_eq!(again["killed"], false, "{again}");

    // Another creator may now take the name, even its old version string.
    let frank = a.token("frank", Role::Creator);
    let (status, out) = deploy(&a, &frank, "payroll", "1.0.0", "/payroll");
    assert_eq!(status, 201, "{out}");
    let (status, _) = a.call(Some(Role::Admin), "DELETE", "/v1/apps/nothing-here", "");
    assert_eq!(status, 404);
}

#[test]
fn an_app_from_a_local_manifest_is_not_deleted_through_the_api() {
    let a = admin_with("", &[("local", fixture("noop_handler"), &route("/local"))]);
    let (status, out) = a.call(Some(Role::Admin), "DELETE", "/v1/apps/local", "");
    assert_eq!(status, 409, "{out}");
    assert_eq!(request(a.running.addr, "GET", "/local", "").status, 200);
}

#[test]
fn two_deploys_of_one_version_at_once_record_exactly_one() {
    use warden_runtime::registry::{NewDeploy, Refusal, Registry, RegistryBackend, RegistryError};
    let dir = tempfile::tempdir().unwrap();
    let component = std::fs::read(fixture("noop_handler")).unwrap();
    let digest = "ab".repeat(32);
    // Two registries on one directory: as two processes would be.
    let outcomes: Vec<Result<i64, String>> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|i| {
                let (dir, component, digest) = (dir.path(), &component, &digest);
                scope.spawn(move || {
                    let registry = Registry::open(dir).unwrap();
                    let manifest: toml::Table = toml::from_str(&format!(
                        "[app]\nname = \"kv\"\nversion = \"1.0.0\"\ncomponent = \"x.wasm\"\n[egress]\nallowed_hosts = [\"https://h{i}.example.com\"]\n"
                    ))
                    .unwrap();
                    registry
                        .stage(NewDeploy {
                            app: "kv".into(),
                            version: "1.0.0".into(),
                            owner: Some("erin".into()),
                            deployed_by: "erin".into(),
                            deployed_as: "creator".into(),
                            deployed_team: None,
                            manifest_sha256: "00".into(),
                            owner_must_match: true,
                            manifest,
                            sent_text: String::new(),
                            component: Some(component.clone()),
                            digest: digest.clone(),
                        })
                        .wait()
                        .map(|d| d.id)
                        .map_err(|e| {
                            assert!(
                                matches!(e, RegistryError::Refused(Refusal::VersionTaken(_))),
                                "{e}"
                            );
                            e.to_string()
                        })
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let recorded = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(recorded, 1, "{outcomes:?}");
    let versions = Registry::open(dir.path())
        .unwrap()
        .versions("kv")
        .wait()
        .unwrap();
    assert_eq!(versions.len(), 1);
}

#[test]
fn an_approval_cannot_put_a_route_over_an_app_another_owner_made_live_meanwhile() {
    let a = admin_with("", &[]);
    let alice = a.token("alice", Role::Creator);
    let held = deploy_body(
        "hello",
        "1.0.0",
        &fixture("noop_handler"),
        &format!(
            "{}\n[egress]\nallowed_hosts = [\"https://api.example.com\"]",
            route("/hello/...")
        ),
    );
    let (status, out) = a.call_with(Some(&alice), "POST", "/v1/apps", &held);
    assert_eq!(status, 202, "{out}");
    // While alice's deploy waits, mallory takes a path inside it.
    let mallory = a.token("mallory", Role::Creator);
    let (status, out) = deploy(&a, &mallory, "ada", "1.0.0", "/hello/ada");
    assert_eq!(status, 201, "{out}");
    let (status, out) = a.call(Some(Role::Reviewer), "POST", "/v1/apps/hello/approve", "{}");
    assert_eq!(status, 403, "{out}");
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("belongs to someone else"),
        "{out}"
    );
    let (_, versions) = a.call_with(Some(&alice), "GET", "/v1/apps/hello/versions", "");
    assert_eq!(versions["versions"][0]["status"], "pending", "{versions}");
}

#[test]
fn a_delete_racing_a_deploy_leaves_what_is_served_matching_what_is_recorded() {
    let a = admin_with("", &[]);
    let erin = a.token("erin", Role::Creator);
    let (status, out) = deploy(&a, &erin, "payroll", "1.0.0", "/payroll");
    assert_eq!(status, 201, "{out}");
    std::thread::scope(|scope| {
        let deploying = scope.spawn(|| deploy(&a, &erin, "payroll", "1.0.1", "/payroll"));
        let (status, out) = a.call(Some(Role::Admin), "DELETE", "/v1/apps/payroll", "");
        assert_eq!(status, 200, "{out}");
        let (status, out) = deploying.join().unwrap();
        // Either order is fine; what is served must match the record.
        assert!(matches!(status, 201 | 403), "{status} {out}");
    });
    let (_, versions) = a.call(Some(Role::Auditor), "GET", "/v1/apps/payroll/versions", "");
    let active = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["status"] == "active");
    let served = request(a.running.addr, "GET", "/payroll", "").status == 200;
    assert_eq!(served, active, "{versions}");
}
