//! Signed checkpoints of the audit log, done to the file: a serving host
//! signs at start and at shutdown; `warden audit verify` tells an edited
//! entry (exit 1), a chain rewritten with recomputed hashes (exit 4) and a
//! tail cut after the last checkpoint (exit 5) apart; a rotated key keeps
//! the old checkpoints verifying.

use crate::support;
use std::path::Path;
use support::admin_api::deploy_body;
use support::audit_files::{entries, rewrite};
use support::library::LibHost;
use support::process::warden_with as warden;

/// What `audit verify` says of `n` signed checkpoints that verify.
fn signed_verify(n: usize) -> String {
    match n {
        1 => "1 signed checkpoint verify".into(),
        n => format!("{n} signed checkpoints verify"),
    }
}

/// `warden audit verify` with `config`: its exit code and what it said.
fn verify(config: &Path, data: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = warden(config, data, &args);
    (out.status.code(), support::said(&out))
}

#[test]
fn checkpoints_catch_a_rewritten_chain_and_a_cut_tail_and_survive_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let key = dir.path().join("master.key");
    std::fs::write(&key, hex::encode([5u8; 32])).unwrap();
    let config = dir.path().join("warden.toml");
    let settings = |interval: &str| {
        format!(
            "[secrets]\nmaster_key_file = \"{}\"\n[audit]\ncheckpoint_interval = \"{interval}\"\n",
            key.display()
        )
    };
    std::fs::write(&config, settings("1h")).unwrap();
    let creator = support::process::token(&data, "cora", "creator");
    let auditor = support::process::token(&data, "aud", "auditor");

    // A host signs what came before it at start, and everything at
    // shutdown; its deploys in between wait for the shutdown checkpoint.
    let host = LibHost::start(&data, Some(&config), &[]);
    let body = deploy_body(
        "ledger",
        "1.0.0",
        &support::fixture("noop_handler"),
        "[http]\nroute = \"/ledger\"\n",
    );
    let call = |token: &str, method: &str, path: &str, body: &str| {
        support::admin_api::call_as(host.admin_addr(), token, method, path, body)
    };
    let (status, out) = call(&creator, "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    let (status, keys) = call(&auditor, "GET", "/v1/audit/keys", "");
    assert_eq!(status, 200, "{keys}");
    host.stop();
    let signed = entries(&data);
    let checkpoints: Vec<&serde_json::Value> = signed
        .iter()
        .filter(|e| e["kind"] == "audit.checkpoint")
        .collect();
    let reasons: Vec<&str> = checkpoints
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap())
        .collect();
    // The start checkpoint comes as the host takes its lease (before or
    // after the deploy); nothing is left unsigned at shutdown.
    assert_eq!(reasons.first(), Some(&"start"), "{signed:?}");
    assert_eq!(signed.last().unwrap()["kind"], "audit.checkpoint");
    assert!(
        keys.contains(
            checkpoints[0]["details"]["checkpoint"]["keyid"]
                .as_str()
                .unwrap()
        ),
        "{}",
        keys
    );
    let (code, said) = verify(&config, &data, &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains(&signed_verify(checkpoints.len())), "{said}");
    // A command-line writer while no host runs: its entry waits for a
    // checkpoint, which `audit checkpoint` signs.
    support::process::token(&data, "late", "auditor");
    let out = warden(&config, &data, &["audit", "checkpoint"]);
    assert!(out.status.success(), "{}", support::said(&out));
    assert!(
        support::said(&out).contains("checkpoint signed"),
        "{}",
        support::said(&out)
    );
    let signed = entries(&data);
    let log = std::fs::read(data.join("audit.jsonl")).unwrap();
    let head = std::fs::read(data.join("audit.head")).unwrap();
    let restore = || {
        std::fs::write(data.join("audit.jsonl"), &log).unwrap();
        std::fs::write(data.join("audit.head"), &head).unwrap();
    };

    // An entry edited in place breaks the chain.
    let text = String::from_utf8(log.clone()).unwrap();
    std::fs::write(
        data.join("audit.jsonl"),
        text.replacen("\"cora\"", "\"mallory\"", 1),
    )
    .unwrap();
    let (code, said) = verify(&config, &data, &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("TAMPERED"), "{said}");
    restore();

    // The same edit with every hash recomputed: the chain holds, the
    // signatures do not.
    let mut rewritten = signed.clone();
    let deploy = rewritten
        .iter_mut()
        .find(|e| e["kind"] == "app.deployed")
        .unwrap();
    deploy["actor"] = "mallory".into();
    rewrite(&data, &mut rewritten);
    let (code, said) = verify(&config, &data, &[]);
    assert_eq!(code, Some(4), "{said}");
    assert!(
        said.contains("REWRITTEN") && said.contains("recomputed hashes"),
        "{said}"
    );
    restore();

    // Cuts (the head made to agree each time). Where the master key is,
    // the last checkpoint signed is known, so any cut that takes it is
    // caught at once: the last checkpoint itself, everything after an
    // earlier checkpoint (nothing left unsigned), every checkpoint.
    let keys_out = warden(&config, &data, &["audit", "keys", "--json"]);
    let keys_only = dir.path().join("keys-before.json");
    std::fs::write(&keys_only, &keys_out.stdout).unwrap();
    let checkpoint_at: Vec<usize> = signed
        .iter()
        .enumerate()
        .filter(|(_, e)| e["kind"] == "audit.checkpoint")
        .map(|(i, _)| i)
        .collect();
    let mut last_cut = signed.clone();
    last_cut.pop();
    let mut after_first = signed[..=checkpoint_at[0]].to_vec();
    let mut none: Vec<serde_json::Value> = signed
        .iter()
        .filter(|e| e["kind"] != "audit.checkpoint")
        .cloned()
        .collect();
    for (i, e) in none.iter_mut().enumerate() {
        e["seq"] = (i as u64 + 1).into();
    }
    for (what, cut) in [
        ("the last checkpoint", &mut last_cut),
        ("all after the first checkpoint", &mut after_first),
        ("every checkpoint", &mut none),
    ] {
        rewrite(&data, cut);
        let (code, said) = verify(&config, &data, &[]);
        assert_eq!(code, Some(5), "{what}: {said}");
        assert!(said.contains("TAIL CUT"), "{what}: {said}");
        restore();
    }
    // Without the master key (another key; only the keys file, as an
    // auditor holds it), the cut shows by time: the token's entry has
    // waited unsigned longer than a 1 s interval and its grace (2 s) allow.
    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, hex::encode([8u8; 32])).unwrap();
    let stranger = dir.path().join("stranger.toml");
    let stranger_with = |interval: &str| {
        format!(
            "[secrets]\nmaster_key_file = \"{}\"\n[audit]\ncheckpoint_interval = \"{interval}\"\n",
            other_key.display()
        )
    };
    rewrite(&data, &mut last_cut);
    std::fs::write(&stranger, stranger_with("1s")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3_200));
    let (code, said) = verify(&stranger, &data, &["--keys", keys_only.to_str().unwrap()]);
    assert_eq!(code, Some(5), "{said}");
    assert!(
        said.contains("TAIL CUT") && said.contains("waited"),
        "{said}"
    );
    restore();
    // With neither the master key nor --keys, signed checkpoints are not
    // reported as fine.
    std::fs::write(&stranger, stranger_with("1h")).unwrap();
    let (code, said) = verify(&stranger, &data, &[]);
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("NOT CHECKED"), "{said}");

    // A rotation is audited and sealed with the new key; the checkpoints
    // before it verify with the old one, also from a keys file alone.
    let out = warden(&config, &data, &["audit", "rotate-key"]);
    assert!(out.status.success(), "{}", support::said(&out));
    let all = entries(&data);
    let n = all.len();
    assert_eq!(all[n - 2]["kind"], "audit.key-rotated");
    assert_eq!(all[n - 1]["details"]["reason"], "key-rotated");
    let out = warden(&config, &data, &["audit", "keys", "--json"]);
    assert!(out.status.success(), "{}", support::said(&out));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 2);
    let keys_file = dir.path().join("audit-keys.json");
    std::fs::write(&keys_file, &out.stdout).unwrap();
    let (code, said) = verify(&config, &data, &["--keys", keys_file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(&signed_verify(checkpoints.len() + 2)),
        "{said}"
    );
}
