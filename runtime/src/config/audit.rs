//! `[audit]` in `warden.toml`: how often the audit chain is sealed with a
//! signed checkpoint (see `crate::audit::checkpoint`).

use serde::{Deserialize, Serialize};
use std::time::Duration;
use warden_host_apis::units::Dur;

/// `[audit]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// The longest a serving host lets new entries go unsigned: it signs
    /// a checkpoint of the chain at most this often (when something was
    /// appended since the last), at start-up and at shutdown. `audit
    /// verify` reports entries left unsigned for longer as a possible cut.
    pub checkpoint_interval: Dur,
    /// Where entries are forwarded (`[[audit.sinks]]`), each at least once
    /// and in order.
    pub sinks: Vec<super::audit_sinks::SinkSettings>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            checkpoint_interval: Dur(Duration::from_secs(3600)),
            sinks: Vec::new(),
        }
    }
}

impl AuditSettings {
    /// What is wrong with the settings, as (field, problem, fix).
    pub fn problem(&self) -> Option<(String, String, String)> {
        if self.checkpoint_interval.get() < Duration::from_secs(1) {
            return Some((
                "audit.checkpoint_interval".into(),
                format!("{} is shorter than a second", self.checkpoint_interval),
                "use 1s or more (1h is the default)".into(),
            ));
        }
        self.sinks
            .iter()
            .enumerate()
            .find_map(|(i, sink)| sink.problem(i))
            .or_else(|| super::audit_sinks::duplicate(&self.sinks))
    }
}
