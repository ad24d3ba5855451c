//! Data loss prevention: finding sensitive values in data about to leave
//! (outbound bodies) or about to be written somewhere less protected, and
//! allowing, redacting or blocking it.
//!
//! Threat model: a micro app copying customer emails, card numbers or keys
//! to a destination not meant to hold them — by mistake or on purpose.
//! The platform chooses the action by the destination's clearance (the
//! connector's `max_class`, `public` for plain hosts, the bucket's class).
//! Findings are reported by pattern name and count only; a value is never
//! logged, traced or returned. Redaction replaces each value with a stable
//! token `[REDACTED:<pattern>:<8 hex>]` — the first bytes of an HMAC-style
//! SHA-256 over a per-host salt and the value — so equal values map to equal
//! tokens (joins still work) but the value cannot be recovered or guessed
//! offline without the salt.
//!
//! Fail-closed: a pattern that matched but fails its checksum (Luhn, IBAN
//! mod 97, SSN ranges) is not a finding; everything else that matches is.

pub mod patterns;

use crate::classes::DataClass;
use patterns::Pattern;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Redact,
    Block,
}

/// Actions by destination clearance.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionByClass {
    pub public: Action,
    pub internal: Action,
    pub confidential: Action,
    pub regulated: Action,
}

impl ActionByClass {
    pub fn for_class(&self, class: DataClass) -> Action {
        match class {
            DataClass::Public => self.public,
            DataClass::Internal => self.internal,
            DataClass::Confidential => self.confidential,
            DataClass::Regulated => self.regulated,
        }
    }
}

impl Default for ActionByClass {
    /// Public destinations get redacted data; cleared destinations get it
    /// as is (their clearance was an explicit decision).
    fn default() -> Self {
        ActionByClass {
            public: Action::Redact,
            internal: Action::Allow,
            confidential: Action::Allow,
            regulated: Action::Allow,
        }
    }
}

/// `[dlp]` in `warden.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlpRules {
    /// Outbound request bodies, by the destination's clearance.
    pub outbound: ActionByClass,
    /// Values written to storage, by the bucket's class.
    pub storage: ActionByClass,
}

/// The patterns that find credentials (rather than personal data): a
/// private key, an API key, a JWT. Containment kills an app that prints
/// one; configuration refuses to hand one to a guest as a readable value.
pub const CREDENTIAL_PATTERNS: [&str; 3] = ["private-key", "api-key", "jwt"];

impl Scanner {
    /// The credential patterns found in `data` (see
    /// [`CREDENTIAL_PATTERNS`]), in order of appearance.
    pub fn credentials(&self, data: &[u8]) -> Vec<&'static str> {
        self.scan(data)
            .into_iter()
            .map(|f| f.pattern)
            .filter(|p| CREDENTIAL_PATTERNS.contains(p))
            .collect()
    }
}

/// One sensitive value found: where, and which pattern. Never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub pattern: &'static str,
    pub start: usize,
    pub end: usize,
}

/// Counts by pattern name.
pub type Hits = BTreeMap<&'static str, u32>;

pub fn hits(findings: &[Finding]) -> Hits {
    let mut hits = Hits::new();
    for f in findings {
        *hits.entry(f.pattern).or_default() += 1;
    }
    hits
}

/// What applying an action produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found, or found and allowed: send as is.
    Pass(Hits),
    /// Sensitive values replaced by tokens.
    Redacted(Vec<u8>, Hits),
    /// Refused.
    Blocked(Hits),
}

/// The patterns, compiled once per process when something is first
/// scanned: most `warden` commands scan nothing, and compiling them was a
/// thirteenth of a `warden run`.
static PATTERNS: std::sync::LazyLock<Result<Vec<Pattern>, regex::Error>> =
    std::sync::LazyLock::new(patterns::all);

/// What a scan reports, fail-closed, if the pattern table did not compile
/// (it is fixed and its tests compile it, so this is never expected).
pub const UNSCANNED: &str = "unscanned";

pub struct Scanner {
    salt: [u8; 32],
}

impl Scanner {
    /// A scanner whose redaction tokens are keyed by `salt`.
    pub const fn new(salt: [u8; 32]) -> Scanner {
        Scanner { salt }
    }

    /// Non-overlapping findings in order; earlier patterns in the table win
    /// overlaps (a key inside a JWT is reported once, as the JWT).
    pub fn scan(&self, data: &[u8]) -> Vec<Finding> {
        let patterns = match &*PATTERNS {
            Ok(patterns) => patterns,
            // Fail closed: all of `data` counts as found, so every action
            // redacts or blocks it instead of letting it pass unscanned.
            Err(_) if data.is_empty() => return Vec::new(),
            Err(_) => {
                return vec![Finding {
                    pattern: UNSCANNED,
                    start: 0,
                    end: data.len(),
                }];
            }
        };
        let mut found: Vec<Finding> = Vec::new();
        for p in patterns {
            for m in p.regex.find_iter(data) {
                if (p.check)(m.as_bytes())
                    && !found.iter().any(|f| m.start() < f.end && f.start < m.end())
                {
                    found.push(Finding {
                        pattern: p.name,
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        }
        found.sort_by_key(|f| f.start);
        found
    }

    /// The stable token that replaces `value`.
    pub fn token(&self, pattern: &str, value: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(value);
        let digest = h.finalize();
        format!("[REDACTED:{pattern}:{}]", hex::encode(&digest[..4]))
    }

    pub fn redact(&self, data: &[u8], findings: &[Finding]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        let mut at = 0;
        for f in findings {
            out.extend_from_slice(&data[at..f.start]);
            out.extend_from_slice(self.token(f.pattern, &data[f.start..f.end]).as_bytes());
            at = f.end;
        }
        out.extend_from_slice(&data[at..]);
        out
    }

    /// Scans `data` and applies `action`. Allowed data is not scanned.
    pub fn apply(&self, data: &[u8], action: Action) -> Verdict {
        if action == Action::Allow || data.is_empty() {
            return Verdict::Pass(Hits::new());
        }
        let findings = self.scan(data);
        if findings.is_empty() {
            return Verdict::Pass(Hits::new());
        }
        let counts = hits(&findings);
        match action {
            Action::Allow => Verdict::Pass(counts),
            Action::Redact => Verdict::Redacted(self.redact(data, &findings), counts),
            Action::Block => Verdict::Blocked(counts),
        }
    }
}

/// `email=2, card=1` for messages and traces.
pub fn describe(hits: &Hits) -> String {
    hits.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
