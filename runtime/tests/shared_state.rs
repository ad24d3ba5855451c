//! Shared state files lose no write: kills and tokens made by many
//! processes at once are all kept, and a serving host never revives a
//! killed app without an unkill on record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;
use warden_runtime::wait::Wait as _;

use std::process::Command;
use std::time::{Duration, Instant};
use support::process::{Host, noop_app};
use support::serving::request;

fn warden(data: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("WARDEN_DATA_DIR", data)
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SERVER")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn ten_kills_at_once_are_all_kept_and_audited() {
    let data = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..10).map(|i| format!("k{i:02}")).collect();
    // The input: a host serving the ten apps, killed from ten
    // processes at once.
    let manifests: Vec<String> = names
        .iter()
        .map(|n| noop_app(data.path(), n, "").display().to_string())
        .collect();
    let args: Vec<&str> = manifests
        .iter()
        .flat_map(|m| ["--app", m.as_str()])
        .collect();
    let host = Host::start(data.path(), &args);
    let children: Vec<_> = names
        .iter()
        .map(|n| warden(data.path(), &["kill", n, "--reason", "drill"]))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.path().join("killed.json")).unwrap())
            .unwrap();
    for name in &names {
        assert!(state.get(name).is_some(), "{name} missing from {state}");
    }
    let audit = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    assert_eq!(audit.matches("\"app.killed\"").count(), 10);
    for name in &names {
        let deadline = Instant::now() + Duration::from_secs(10);
        while request(host.app_addr, "POST", &format!("/{name}"), "x").status != 503
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            request(host.app_addr, "POST", &format!("/{name}"), "x").status,
            503,
            "{name} is stopped"
        );
    }
}

#[test]
fn ten_tokens_created_at_once_all_work() {
    let data = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..10)
        .map(|i| {
            warden(
                data.path(),
                &[
                    "tokens",
                    "create",
                    "--name",
                    &format!("t{i}"),
                    "--role",
                    "auditor",
                ],
            )
        })
        .collect();
    let store = warden_runtime::admin::tokens::TokenStore::new(data.path());
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(store.verify(&token).map(|p| p.name), Ok(format!("t{i}")));
    }
    assert_eq!(store.list().unwrap().len(), 10);
}

#[test]
fn a_kill_lost_from_the_state_file_does_not_revive_the_app_but_an_unkill_does() {
    let data = tempfile::tempdir().unwrap();
    let app = noop_app(data.path(), "noop", "");
    let mut host = Host::start(data.path(), &["--app", app.to_str().unwrap()]);
    let addr = host.app_addr;
    let status = |want: u16| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = request(addr, "POST", "/noop", "x").status;
            if got == want || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(status(200), 200);
    let out = warden(data.path(), &["kill", "noop", "--reason", "drill"])
        .wait_with_output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(status(503), 503);
    // The entry disappears from the file without an unkill (a restore, a
    // hand edit, a lost write): the host keeps the app stopped.
    std::fs::write(data.path().join("killed.json"), "{}").unwrap();
    assert!(
        host.wait_line("no app.unkilled is on record", Duration::from_secs(10)),
        "the host saw the change and kept the app stopped"
    );
    assert_eq!(request(addr, "POST", "/noop", "x").status, 503);
    // An unkill still finds the kill on record and brings the app back.
    let out = warden(data.path(), &["unkill", "noop"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = std::fs::read_to_string(data.path().join("audit.jsonl")).unwrap();
    assert_eq!(audit.matches("\"app.unkilled\"").count(), 1);
    assert_eq!(status(200), 200);
    drop(host);
}

fn set_secret(data: &std::path::Path, name: &str) {
    support::process::set_secret(data, None, name, "s3cr3t-value");
}

#[test]
fn a_torn_last_audit_line_is_cut_audited_and_the_next_entry_chains() {
    let data = tempfile::tempdir().unwrap();
    set_secret(data.path(), "first");
    let log = data.path().join("audit.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"seq\":2,\"time\"");
    std::fs::write(&log, text).unwrap();
    set_secret(data.path(), "second");
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["secret.set", "audit.repaired", "secret.set"],
        "{entries:?}"
    );
    assert_eq!(entries[1]["seq"], 2);
    assert_eq!(entries[1]["prev"], entries[0]["hash"]);
    assert_eq!(entries[2]["seq"], 3);
    let out = warden(data.path(), &["audit", "verify"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let shown = warden(data.path(), &["audit", "show", "--json"])
        .wait_with_output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).contains("second"));
}

#[test]
fn the_data_directory_and_its_files_are_private_and_looser_ones_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let out = warden(
        &data,
        &["tokens", "create", "--name", "ops", "--role", "admin"],
    )
    .wait_with_output()
    .unwrap();
    assert!(out.status.success());
    let app = noop_app(parent.path(), "x", "");
    let host = Host::start(&data, &["--app", app.to_str().unwrap()]);
    let out = warden(&data, &["kill", "x", "--reason", "drill"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    host.stop();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        let path = entry.path();
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), want, "{}", path.display());
    }
    // A file made looser by hand is named at start-up.
    let audit = data.join("audit.jsonl");
    std::fs::set_permissions(&audit, std::fs::Permissions::from_mode(0o644)).unwrap();
    let host = Host::start(&data, &[]);
    let lines = host.stop();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("open to other users") && l.contains("audit.jsonl (644)")),
        "{lines:?}"
    );
}

#[test]
fn a_missing_master_key_is_never_silently_replaced_while_sealed_data_exists() {
    let data = tempfile::tempdir().unwrap();
    set_secret(data.path(), "crm-token");
    let key = data.path().join("master.key");
    std::fs::rename(&key, data.path().join("master.key.moved")).unwrap();
    for args in [&["secrets", "list"][..], &["secrets", "set", "other"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .env("WARDEN_DATA_DIR", data.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must refuse");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("master.key") && err.contains("missing"),
            "{args:?}: {err}"
        );
        assert!(!key.exists(), "{args:?} created a new key");
    }
    // Restored, everything reads again.
    std::fs::rename(data.path().join("master.key.moved"), &key).unwrap();
    let out = warden(data.path(), &["secrets", "list"])
        .wait_with_output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("crm-token"));
}

#[test]
fn a_wrong_master_key_is_refused_naming_the_key_and_seals_nothing() {
    let data = tempfile::tempdir().unwrap();
    set_secret(data.path(), "crm-token");
    let key = data.path().join("master.key");
    let right = std::fs::read_to_string(&key).unwrap();
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let before = std::fs::read(data.path().join("secrets.json")).unwrap();
    for args in [&["secrets", "list"][..], &["secrets", "set", "other"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .env("WARDEN_DATA_DIR", data.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must refuse");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("master.key") && err.contains("not the key"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::read(data.path().join("secrets.json")).unwrap(),
        before,
        "nothing was sealed under the wrong key"
    );
    // The same through the environment variable.
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["secrets", "list"])
        .env("WARDEN_DATA_DIR", data.path())
        .env("WARDEN_MASTER_KEY", "22".repeat(32))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARDEN_MASTER_KEY"));
    std::fs::write(&key, right).unwrap();
    let out = warden(data.path(), &["secrets", "list"])
        .wait_with_output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn a_wrong_master_key_is_refused_when_only_storage_is_sealed() {
    use warden_host_apis::secrets::MasterKey;
    use warden_host_apis::storage::store::{KvStore, SqliteKv};
    let data = tempfile::tempdir().unwrap();
    let right = MasterKey::from_bytes([7; 32]);
    let store = SqliteKv::open(&data.path().join("storage.db")).unwrap();
    let context = warden_host_apis::storage::data_key_context("notes");
    store
        .put_data_key("notes", &right.wrap(&[1; 32], context.as_bytes()).unwrap())
        .wait()
        .unwrap();
    drop(store);
    std::fs::write(data.path().join("master.key"), "33".repeat(32)).unwrap();
    let platform = warden_runtime::config::PlatformConfig::default();
    let err = warden_runtime::runtime::master_key(&platform, data.path())
        .expect_err("a wrong key is refused");
    assert!(
        err.to_string().contains("not the key") && err.to_string().contains("storage.db"),
        "{err}"
    );
    std::fs::write(data.path().join("master.key"), hex::encode([7u8; 32])).unwrap();
    warden_runtime::runtime::master_key(&platform, data.path()).expect("the right key opens");
}
