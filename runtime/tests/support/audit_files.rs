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

/// Recomputes every entry's `prev` and `hash`, in order.
pub fn rehash(entries: &mut [serde_json::Value]) {
    let mut prev = "0".repeat(64);
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
    }
}

/// Writes `entries` as the log with every hash recomputed and a head
/// that agrees: what someone holding the files (but not the key) can do.
pub fn rewrite(data: &Path, entries: &mut [serde_json::Value]) {
    rehash(entries);
    let text: String = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
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

/// The `url` of `[state]` in the warden.toml at `config`, when it puts
/// the state in PostgreSQL.
fn shared_url(config: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let state = table.get("state")?;
    (state.get("backend")?.as_str()? == "postgres")
        .then(|| state.get("url")?.as_str().map(str::to_string))
        .flatten()
}

/// The log's entries, wherever the settings at `config` keep it.
pub fn entries_of(config: &Path, data: &Path) -> Vec<serde_json::Value> {
    match shared_url(config) {
        None => entries(data),
        Some(url) => super::postgres::rows(&url, "SELECT line FROM audit_log ORDER BY seq")
            .iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
            .collect(),
    }
}

/// [`rewrite`], wherever the settings at `config` keep the log: on
/// PostgreSQL, every row and the head, as someone with the database's
/// password can.
pub fn rewrite_of(config: &Path, data: &Path, entries: &mut [serde_json::Value]) {
    let Some(url) = shared_url(config) else {
        return rewrite(data, entries);
    };
    rehash(entries);
    let quote = |s: String| format!("'{}'", s.replace('\'', "''"));
    let mut sql = String::from("BEGIN;\n");
    for e in entries.iter() {
        sql += &format!(
            "UPDATE audit_log SET line = {} WHERE seq = {};\n",
            quote(serde_json::to_string(e).unwrap()),
            e["seq"]
        );
    }
    let last = entries.last().unwrap();
    sql += &format!(
        "UPDATE audit_head SET seq = {}, hash = {} WHERE id = 1;\nCOMMIT;\n",
        last["seq"],
        quote(last["hash"].as_str().unwrap().to_string())
    );
    super::postgres::execute(&url, &sql);
}
