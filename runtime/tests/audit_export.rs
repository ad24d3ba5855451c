//! An app's audit export, end to end: made by a host (admin API and CLI),
//! checked on its own with `warden audit verify-export --key`, and every
//! change to it caught — any byte of any file, an entry taken out.

use crate::support;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use support::admin_api::deploy_body;
use support::library::LibHost;
use support::process::warden_with as warden;

/// The archive's files, in order.
fn unpack(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in tar::Archive::new(archive).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        out.push((path, bytes));
    }
    out
}

fn pack(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap()
}

/// `warden audit verify-export` of `archive` with `key`: exit code, words.
fn verify(dir: &Path, archive: &[u8], key: &Path) -> (Option<i32>, String) {
    let file = dir.join("check.tar");
    std::fs::write(&file, archive).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["audit", "verify-export"])
        .arg(&file)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap();
    (out.status.code(), support::said(&out))
}

#[test]
fn an_export_verifies_anywhere_and_any_change_to_it_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let key = dir.path().join("master.key");
    std::fs::write(&key, hex::encode([6u8; 32])).unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!("[secrets]\nmaster_key_file = \"{}\"\n", key.display()),
    )
    .unwrap();
    let creator = support::process::token(&data, "cora", "creator");
    let auditor = support::process::token(&data, "aud", "auditor");
    let admin = support::process::token(&data, "ops", "admin");
    let host = LibHost::start(&data, Some(&config), &[]);
    let call = |token: &str, method: &str, path: &str, body: &str| {
        support::admin_api::call_as(host.admin_addr(), token, method, path, body)
    };
    for (name, extra) in [
        (
            "expense-bot",
            "compliance = [\"SOX\"]\n[http]\nroute = \"/expenses\"\n",
        ),
        ("lunch", "[http]\nroute = \"/lunch\"\n"),
    ] {
        let body = deploy_body(name, "1.0.0", &support::fixture("noop_handler"), extra);
        let (status, out) = call(&creator, "POST", "/v1/apps", &body);
        assert_eq!(status, 201, "{out}");
    }
    for path in ["/v1/apps/expense-bot/kill", "/v1/apps/expense-bot/unkill"] {
        let (status, out) = call(&admin, "POST", path, r#"{"reason":"drill"}"#);
        assert_eq!(status, 200, "{out}");
    }
    // Creators may not export; auditors may.
    assert_eq!(
        call(&creator, "GET", "/v1/apps/expense-bot/export", "").0,
        403
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["audit", "export", "expense-bot", "--out"])
        .arg(dir.path().join("api.tar"))
        .args(["--server", &host.admin])
        .env("WARDEN_TOKEN", &auditor)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::said(&out));
    host.stop();
    // And on the host, from the data directory.
    let file = dir.path().join("expense-bot.tar");
    let out = warden(
        &config,
        &data,
        &[
            "audit",
            "export",
            "expense-bot",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", support::said(&out));
    let archive = std::fs::read(&file).unwrap();

    // The key to pin, as `audit keys` gives it.
    let out = warden(&config, &data, &["audit", "keys", "--json"]);
    let keys: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let pem = dir.path().join("audit-key.pem");
    std::fs::write(&pem, keys[0]["public_key_pem"].as_str().unwrap()).unwrap();
    // From the first checkpoint's time on: the range starts at a
    // checkpoint, and what follows it is proved from there.
    let log: Vec<serde_json::Value> = std::fs::read_to_string(data.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first_checkpoint = log
        .iter()
        .find(|e| e["kind"] == "audit.checkpoint")
        .unwrap()["time"]
        .as_str()
        .unwrap()
        .to_string();
    let since = dir.path().join("since.tar");
    let out = warden(
        &config,
        &data,
        &[
            "audit",
            "export",
            "expense-bot",
            "--since",
            &first_checkpoint,
            "--out",
            since.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", support::said(&out));
    for exported in [
        archive.clone(),
        std::fs::read(dir.path().join("api.tar")).unwrap(),
        std::fs::read(&since).unwrap(),
    ] {
        let (code, said) = verify(dir.path(), &exported, &pem);
        assert_eq!(code, Some(0), "{said}");
        assert!(said.contains("proved by"), "{said}");
    }

    // What it holds: the app's entries only, its versions and attestation,
    // its kill and unkill, a page a person reads without a script.
    let files: BTreeMap<String, Vec<u8>> = unpack(&archive).into_iter().collect();
    for path in [
        "MANIFEST.json",
        "index.html",
        "app.json",
        "versions.json",
        "versions/1.0.0/app.toml",
        "attestations/1.0.0.json",
        "audit/entries.jsonl",
        "audit/checkpoints.jsonl",
        "audit/keys.json",
        "events.json",
        "usage.json",
        "traces.json",
    ] {
        assert!(files.contains_key(path), "{path} in {:?}", files.keys());
    }
    let entries = String::from_utf8(files["audit/entries.jsonl"].clone()).unwrap();
    assert!(entries.lines().count() >= 3);
    assert!(
        entries
            .lines()
            .all(|l| l.contains("\"app\":\"expense-bot\"")),
        "{entries}"
    );
    let events = String::from_utf8_lossy(&files["events.json"]);
    assert!(
        events.contains("app.killed") && events.contains("app.unkilled"),
        "{events}"
    );
    assert!(String::from_utf8_lossy(&files["app.json"]).contains("SOX"));
    let page = String::from_utf8_lossy(&files["index.html"]);
    assert!(
        page.contains("expense-bot") && !page.contains("<script"),
        "{page}"
    );

    // Any byte of any file changed is caught (the page is made from the
    // files for people, and is not evidence).
    let unpacked = unpack(&archive);
    for (i, (path, bytes)) in unpacked.iter().enumerate() {
        if path == "index.html" {
            continue;
        }
        let mut changed = unpacked.clone();
        let mut flipped = bytes.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        changed[i].1 = flipped;
        let (code, said) = verify(dir.path(), &pack(&changed), &pem);
        assert_eq!(code, Some(1), "{path}: {said}");
        assert!(said.contains("NOT SOUND"), "{path}: {said}");
    }
    // An entry taken out, its file's listed digest made to match: the
    // manifest's signature no longer holds.
    let mut cut = unpacked.clone();
    let at = cut
        .iter()
        .position(|(p, _)| p == "audit/entries.jsonl")
        .unwrap();
    let text = String::from_utf8(cut[at].1.clone()).unwrap();
    let shorter: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let old_digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    let new_digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(shorter.as_bytes()));
    cut[at].1 = shorter.into_bytes();
    let manifest = cut.iter().position(|(p, _)| p == "MANIFEST.json").unwrap();
    cut[manifest].1 = String::from_utf8(cut[manifest].1.clone())
        .unwrap()
        .replace(&old_digest, &new_digest)
        .into_bytes();
    let (code, said) = verify(dir.path(), &pack(&cut), &pem);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("signature"), "{said}");
    // Pinned to another key, even the untouched export is refused.
    let stranger = dir.path().join("stranger.pem");
    std::fs::write(&stranger, hex::encode([9u8; 32])).unwrap();
    let (code, said) = verify(dir.path(), &archive, &stranger);
    assert_eq!(code, Some(1), "{said}");
}
