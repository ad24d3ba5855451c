//! `[policy]` in `warden.toml`: which Rego policies decide every publish,
//! how strictly each rule is enforced, and the exceptions the platform
//! team has granted. How a decision is made is `crate::policy`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[policy]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySettings {
    /// Files and directories of Rego policies (`*.rego`) and data
    /// (`*.json`, `*.toml`), relative to `warden.toml`. Directories are
    /// read recursively, in name order.
    pub paths: Vec<PathBuf>,
    /// Whether Warden's default bundle is evaluated too (default: yes).
    pub use_default: bool,
    /// Per rule id: `deny` (as the rule says), `warn` (its findings are
    /// warnings) or `dryrun` (evaluated and recorded, deciding nothing).
    pub enforcement: BTreeMap<String, Enforcement>,
    /// Findings the platform team has waived for one app, until a date.
    pub exceptions: Vec<PolicyException>,
    /// Data the policies read as `data.*` (e.g. `[policy.data.thresholds]`).
    pub data: toml::Table,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            paths: Vec::new(),
            use_default: true,
            enforcement: BTreeMap::new(),
            exceptions: Vec::new(),
            data: toml::Table::new(),
        }
    }
}

/// How a rule's findings count.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// As the rule says: a `deny` refuses, a `needs_approval` holds.
    Deny,
    /// Shown and stored as a warning; decides nothing.
    Warn,
    /// Evaluated and recorded only: how a new rule is shadow-run.
    Dryrun,
}

/// One `[[policy.exceptions]]` entry: rule `rule` does not count for app
/// `app` until `expires`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyException {
    pub app: String,
    /// The finding id it waives (`sensitive-write`).
    pub rule: String,
    /// Who answers for the exception.
    pub owner: String,
    pub reason: String,
    /// The ticket that granted it.
    pub ticket: Option<String>,
    /// RFC 3339 time after which it no longer applies
    /// (`2027-03-31T00:00:00Z`).
    pub expires: String,
}

impl PolicyException {
    /// When it stops applying, or why `expires` cannot be read.
    pub fn expiry(&self) -> Result<chrono::DateTime<chrono::Utc>, String> {
        chrono::DateTime::parse_from_rfc3339(&self.expires)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| format!("`{}` is not an RFC 3339 time ({e})", self.expires))
    }
}
