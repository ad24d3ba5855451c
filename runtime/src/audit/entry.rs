//! One audit entry and how it is hashed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What happened, before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Dotted event kind, e.g. `policy.denied`, `app.deployed`, `app.killed`.
    pub kind: String,
    pub app: Option<String>,
    /// Who caused it: a user, a token's name, or `warden` for the host.
    pub actor: String,
    /// Event-specific facts. Never secrets or payloads.
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    pub kind: String,
    pub app: Option<String>,
    pub actor: String,
    pub details: serde_json::Value,
    pub prev: String,
    pub hash: String,
}

/// The hashed part of an entry, in a fixed field order.
#[derive(Serialize)]
struct Content<'a> {
    seq: u64,
    time: &'a str,
    kind: &'a str,
    app: &'a Option<String>,
    actor: &'a str,
    details: &'a serde_json::Value,
}

impl AuditEntry {
    pub(super) fn seal(seq: u64, prev: String, event: AuditEvent) -> AuditEntry {
        let time = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
        let mut entry = AuditEntry {
            seq,
            time,
            kind: event.kind,
            app: event.app,
            actor: event.actor,
            details: event.details,
            prev,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// SHA-256 over `prev`, a newline and the canonical JSON of the content.
    pub fn compute_hash(&self) -> String {
        let content = Content {
            seq: self.seq,
            time: &self.time,
            kind: &self.kind,
            app: &self.app,
            actor: &self.actor,
            details: &self.details,
        };
        let json = serde_json::to_vec(&content).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(self.prev.as_bytes());
        hasher.update(b"\n");
        hasher.update(&json);
        hex::encode(hasher.finalize())
    }
}
