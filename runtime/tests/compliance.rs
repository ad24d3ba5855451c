//! Compliance scopes (`[app] compliance`): listed, filtered and shown by
//! `GET /v1/apps`, `warden apps --compliance` (through a host, and from the
//! data directory) and `warden inspect`.

use crate::support;
use support::admin_api::deploy_body;
use support::library::LibHost;

fn names(rows: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn apps_are_listed_and_filtered_by_compliance_scope() {
    let data = tempfile::tempdir().unwrap();
    let creator = support::process::token(data.path(), "cora", "creator");
    let auditor = support::process::token(data.path(), "aud", "auditor");
    let host = LibHost::start(data.path(), None, &[]);
    let call = |token: &str, method: &str, path: &str, body: &str| {
        support::admin_api::call_as(host.admin_addr(), token, method, path, body)
    };
    for (name, extra) in [
        (
            "payroll",
            "compliance = [\"GDPR\", \"SOC2\"]\nrunbook = { contact = \"oncall@example.com\", rollback = \"deploy the version before\" }\n[http]\nroute = \"/payroll\"\n",
        ),
        ("lunch", "[http]\nroute = \"/lunch\"\n"),
    ] {
        let body = deploy_body(name, "1.0.0", &support::fixture("noop_handler"), extra);
        let (status, out) = call(&creator, "POST", "/v1/apps", &body);
        assert_eq!(status, 201, "{out}");
    }
    let (status, all) = call(&auditor, "GET", "/v1/apps", "");
    assert_eq!(status, 200, "{all}");
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(names(&all["apps"]), ["lunch", "payroll"]);
    let (status, gdpr) = call(&auditor, "GET", "/v1/apps?compliance=gdpr", "");
    assert_eq!(status, 200, "{gdpr}");
    let gdpr: serde_json::Value = serde_json::from_str(&gdpr).unwrap();
    assert_eq!(names(&gdpr["apps"]), ["payroll"]);
    assert_eq!(
        gdpr["apps"][0]["compliance"],
        serde_json::json!(["GDPR", "SOC2"])
    );

    let warden = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .env("WARDEN_DATA_DIR", data.path())
            .env("WARDEN_TOKEN", &auditor)
            .env_remove("WARDEN_SERVER")
            .output()
            .unwrap()
    };
    let out = warden(&[
        "apps",
        "--compliance",
        "SOC2",
        "--json",
        "--server",
        &host.admin,
    ]);
    assert!(out.status.success(), "{}", support::said(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("payroll") && !listed.contains("lunch"),
        "{listed}"
    );
    let out = warden(&["inspect", "payroll", "--server", &host.admin]);
    assert!(out.status.success(), "{}", support::said(&out));
    assert!(
        support::said(&out).contains("compliance GDPR, SOC2  cost center cc-1"),
        "{}",
        support::said(&out)
    );
    host.stop();

    // From the data directory, with no host running.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["apps", "--compliance", "gdpr"])
        .env("WARDEN_DATA_DIR", data.path())
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SERVER")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::said(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("payroll") && listed.contains("GDPR; SOC2") && !listed.contains("lunch"),
        "{listed}"
    );
}
