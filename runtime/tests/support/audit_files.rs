//! The audit log's files as someone holding them (but not the key) can
//! change them: entries read and rewritten with every hash recomputed.
#![allow(dead_code)]

use sha2::Digest as _;
use std::path::Path;

/// The hashed part of an entry, in the order Warden hashes it.
#[derive(serde::Serialize)]
struct Content<'a> {
    seq: u64,
    time: &'a str,
    kind: &'a str,
    app: &'a serde_json::Value,
    actor: &'a str,
    details: &'a serde_json::Value,
}

/// Writes `entries` as the log with every hash recomputed and a head
/// that agrees: what someone holding the files (but not the key) can do.
pub fn rewrite(data: &Path, entries: &mut [serde_json::Value]) {
    let mut prev = "0".repeat(64);
    let mut text = String::new();
    for entry in entries.iter_mut() {
        entry["prev"] = prev.clone().into();
        let content = Content {
            seq: entry["seq"].as_u64().unwrap(),
            time: entry["time"].as_str().unwrap(),
            kind: entry["kind"].as_str().unwrap(),
            app: &entry["app"],
            actor: entry["actor"].as_str().unwrap(),
            details: &entry["details"],
        };
        let mut hasher = sha2::Sha256::new();
        hasher.update(prev.as_bytes());
        hasher.update(b"\n");
        hasher.update(serde_json::to_vec(&content).unwrap());
        prev = hex::encode(hasher.finalize());
        entry["hash"] = prev.clone().into();
        text += &(serde_json::to_string(entry).unwrap() + "\n");
    }
    std::fs::write(data.join("audit.jsonl"), &text).unwrap();
    let last = entries.last().unwrap();
    std::fs::write(
        data.join("audit.head"),
        serde_json::json!({ "seq": last["seq"], "hash": last["hash"], "len": text.len() })
            .to_string(),
    )
    .unwrap();
}

/// The log's entries, as JSON.
pub fn entries(data: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(data.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
