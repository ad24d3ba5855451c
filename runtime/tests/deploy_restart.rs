//! The `warden` binary as an operator runs it: `warden serve` with nothing
//! configured, apps deployed with `warden deploy`, reviewed with `warden
//! approve`, and the same apps served after a restart from the artifact
//! cache.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::path::Path;
use std::process::Command;
use support::example;
use support::process::{Host, token};
use support::serving::request;

fn warden(data_dir: &Path, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args(args).env("WARDEN_DATA_DIR", data_dir);
    if let Some(token) = token {
        cmd.env("WARDEN_TOKEN", token);
    }
    cmd.output().expect("run warden")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json answer")
}

#[test]
fn deployed_apps_are_served_again_after_a_restart_without_recompiling() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let creator = token(data, "alice@example.com", "creator");
    let reviewer = token(data, "bob", "reviewer");

    let host = Host::start(data, &[]);
    assert_eq!(request(host.app_addr, "GET", "/hello/ada", "").status, 404);

    let manifest = example("hello-http");
    let deployed = json(&warden(
        data,
        Some(&creator),
        &[
            "deploy",
            manifest.to_str().unwrap(),
            "--server",
            &host.admin,
        ],
    ));
    assert_eq!(deployed["status"], "active", "{deployed}");
    assert_eq!(deployed["artifact"], "compiled");
    let reply = request(host.app_addr, "GET", "/hello/ada", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("ada"), "{}", reply.body);

    // A version that asks for an egress host waits for a reviewer.
    let bigger = dir.path().join("hello-2.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace(
            "component = \"../",
            &format!(
                "component = \"{}/",
                manifest.parent().unwrap().parent().unwrap().display()
            ),
        )
        + "\n[egress]\nallowed_hosts = [\"https://api.example.com\"]\n";
    std::fs::write(&bigger, text).unwrap();
    let held = json(&warden(
        data,
        Some(&creator),
        &["deploy", bigger.to_str().unwrap(), "--server", &host.admin],
    ));
    assert_eq!(held["status"], "pending", "{held}");
    let queue = json(&warden(
        data,
        Some(&reviewer),
        &["reviews", "--server", &host.admin, "--json"],
    ));
    assert_eq!(queue["version"], "1.1.0", "{queue}");
    let table = warden(data, Some(&reviewer), &["reviews", "--server", &host.admin]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.starts_with("APP") && table.contains("hello-http") && table.contains("1.1.0"),
        "{table}"
    );
    assert!(
        held["reasons"][0]
            .as_str()
            .unwrap()
            .contains("api.example.com")
    );
    let approved = json(&warden(
        data,
        Some(&reviewer),
        &[
            "approve",
            "hello-http",
            "--note",
            "host checked",
            "--server",
            &host.admin,
        ],
    ));
    assert_eq!(approved["version"], "1.1.0");
    let stderr = host.stop();
    assert!(stderr.iter().any(|l| l.contains("stopped")), "{stderr:?}");

    // Restart: the approved version is served, from the cached artifact.
    let host = Host::start(data, &[]);
    let reply = request(host.app_addr, "GET", "/hello/grace", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let inspected = json(&warden(
        data,
        Some(&reviewer),
        &["inspect", "hello-http", "--json", "--server", &host.admin],
    ));
    assert_eq!(inspected["version"], "1.1.0", "{inspected}");
    assert_eq!(inspected["artifact"], "cached", "{inspected}");
    assert_eq!(inspected["approved"], true);
    let versions = warden(
        data,
        Some(&creator),
        &["versions", "hello-http", "--server", &host.admin, "--json"],
    );
    let versions: Vec<serde_json::Value> = String::from_utf8_lossy(&versions.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(versions[1]["status"], "superseded", "{versions:?}");
    host.stop();

    let audit = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    for kind in ["\"app.deployed\"", "\"app.approved\""] {
        assert!(audit.contains(kind), "{kind} audited");
    }
    assert!(audit.contains("token:bob") && audit.contains("token:alice@example.com"));
}

/// A host on `data` with `hello-http` deployed by a creator through it:
/// the host and the deploy's answer.
fn hello_deployed(data: &Path) -> (support::library::LibHost, serde_json::Value) {
    let creator = token(data, "alice@example.com", "creator");
    let host = support::library::LibHost::start(data, None, &[]);
    let manifest = example("hello-http");
    let deployed = json(&warden(
        data,
        Some(&creator),
        &[
            "deploy",
            manifest.to_str().unwrap(),
            "--server",
            &host.admin,
        ],
    ));
    assert_eq!(deployed["status"], "active", "{deployed}");
    (host, deployed)
}

/// The `deploy.tampered` entry of `hello-http` in `data`'s audit log.
fn tampered_entry(data: &Path) -> serde_json::Value {
    let audit = warden(
        data,
        None,
        &["audit", "show", "--app", "hello-http", "--json"],
    );
    let entries: Vec<serde_json::Value> = String::from_utf8_lossy(&audit.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    entries
        .into_iter()
        .find(|e| e["kind"] == "deploy.tampered")
        .unwrap_or_else(|| panic!("deploy.tampered audited"))
}

/// The bytes a deploy was approved for are the bytes served: a component
/// swapped on disk while the host was down is not served again, and the
/// audit log says which file and which digests.
#[test]
fn a_component_changed_on_disk_is_not_served_after_a_restart_and_is_audited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let (host, deployed) = hello_deployed(data);
    let digest = deployed["component_sha256"].as_str().unwrap().to_string();
    assert_eq!(request(host.app_addr, "GET", "/hello/ada", "").status, 200);
    host.stop();

    // Someone with the disk swaps in other code.
    let component = data.join("components").join(format!("{digest}.wasm"));
    std::fs::copy(support::fixture("noop_handler"), &component).unwrap();
    let host = support::library::LibHost::start(data, None, &[]);
    assert_eq!(request(host.app_addr, "GET", "/hello/ada", "").status, 404);
    host.stop();
    // A strict host refuses to start without it, saying which and why.
    let mut platform = warden_runtime::config::PlatformConfig::builtin();
    platform.data_dir = Some(data.to_path_buf());
    let strict = warden_runtime::host::HostOptions {
        listen: Some("127.0.0.1:0".into()),
        admin_listen: Some("127.0.0.1:0".into()),
        strict: true,
        ..warden_runtime::host::HostOptions::new(platform)
    };
    let refused = tokio::runtime::Runtime::new()
        .expect("tokio")
        .block_on(warden_runtime::host::Host::start(strict))
        .err()
        .expect("a strict host does not start");
    let said = refused.to_string();
    assert!(said.contains("hello-http@1.0.0"), "{said}");
    assert!(said.contains("is not served"), "{said}");
    assert!(said.contains("without --strict"), "{said}");
    let tampered = tampered_entry(data);
    assert_eq!(tampered["details"]["expected_sha256"], digest.as_str());
    assert_ne!(tampered["details"]["found_sha256"], digest.as_str());
    assert!(
        tampered["details"]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with(&format!("{digest}.wasm"))),
        "{tampered}"
    );
}

/// A compiled artifact changed on disk is never loaded: the restarted host
/// compiles the (verified) component again, serves it, and audits the
/// artifact as tampered.
#[test]
fn a_compiled_artifact_changed_on_disk_is_not_loaded_and_is_audited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    let (host, _) = hello_deployed(data);
    host.stop();

    let artifacts: Vec<_> = std::fs::read_dir(data.join("artifacts"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let mut bytes = std::fs::read(&artifacts[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&artifacts[0], &bytes).unwrap();

    let host = support::library::LibHost::start(data, None, &[]);
    assert_eq!(request(host.app_addr, "GET", "/hello/ada", "").status, 200);
    host.stop();
    let tampered = tampered_entry(data);
    assert_eq!(
        tampered["details"]["file"].as_str(),
        artifacts[0].to_str(),
        "{tampered}"
    );
    assert!(
        std::fs::read(&artifacts[0]).unwrap() != bytes,
        "the artifact was replaced"
    );
}
