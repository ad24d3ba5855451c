//! One audit entry and how it is hashed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every kind of event Warden writes to the audit log, each with its one
/// spelling (dotted: `app.killed`). Entries read back keep their kind as
/// text, so a log written by another version still reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    AppDeployed,
    /// A deploy the publish policy refused.
    AppRefused,
    AppApproved,
    AppRejected,
    AppDeleted,
    AppKilled,
    AppUnkilled,
    SecretSet,
    SecretRotated,
    TemplateSet,
    QuotaSet,
    TokenCreated,
    TokenRevoked,
    ConfigChanged,
    SloBurn,
    ContainmentTriggered,
    PolicyDenied,
    AuditRepaired,
    StorageAppDeleted,
    /// A deployed version's files no longer match what was deployed.
    DeployTampered,
    /// A live version replaced by a newer one going live.
    VersionSuperseded,
    /// An app's live version retired: not served, data kept.
    AppRetired,
    /// A retired version put back live.
    AppUnretired,
    /// A single node's embedded state copied into the shared database
    /// (`warden state copy`): the first entry the chain gains there.
    StateCopied,
    /// A signed checkpoint of the chain (`crate::audit::checkpoint`).
    AuditCheckpoint,
    /// The checkpoint key replaced (`warden audit rotate-key`).
    AuditKeyRotated,
    /// A periodic review of a live app recorded (`crate::lifecycle`).
    AppReviewed,
    /// An incident drill of the kill switch, with its results
    /// (`crate::serve::drill`).
    AppDrilled,
    /// A team's or cost center's spend crossed 80% or 100% of its monthly
    /// budget (`crate::costs`).
    BudgetCrossed,
    /// A person added to Warden's list by the identity provider (SCIM).
    PersonCreated,
    /// A person's record changed (SCIM), reactivation included.
    PersonUpdated,
    /// A person deactivated (SCIM): their tokens revoked, their apps
    /// orphaned.
    PersonDeactivated,
    /// A person deleted (SCIM): as a deactivation, and gone from the list.
    PersonDeleted,
    /// An app given a new owner (`warden apps transfer`).
    AppTransferred,
    /// A connector's credential past its `rotate_every`
    /// (`crate::lifecycle::credentials`).
    CredentialStale,
    /// An app's egress departed from its learned baseline
    /// (`crate::anomaly`).
    AnomalyDetected,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::AppDeployed => "app.deployed",
            AuditKind::AppRefused => "app.refused",
            AuditKind::AppApproved => "app.approved",
            AuditKind::AppRejected => "app.rejected",
            AuditKind::AppDeleted => "app.deleted",
            AuditKind::AppKilled => "app.killed",
            AuditKind::AppUnkilled => "app.unkilled",
            AuditKind::SecretSet => "secret.set",
            AuditKind::SecretRotated => "secret.rotated",
            AuditKind::TemplateSet => "template.set",
            AuditKind::QuotaSet => "quota.set",
            AuditKind::TokenCreated => "token.created",
            AuditKind::TokenRevoked => "token.revoked",
            AuditKind::ConfigChanged => "config.changed",
            AuditKind::SloBurn => "slo.burn",
            AuditKind::ContainmentTriggered => "containment.triggered",
            AuditKind::PolicyDenied => "policy.denied",
            AuditKind::AuditRepaired => "audit.repaired",
            AuditKind::StorageAppDeleted => "storage.app-deleted",
            AuditKind::DeployTampered => "deploy.tampered",
            AuditKind::VersionSuperseded => "version.superseded",
            AuditKind::AppRetired => "app.retired",
            AuditKind::AppUnretired => "app.unretired",
            AuditKind::StateCopied => "state.copied",
            AuditKind::AuditCheckpoint => "audit.checkpoint",
            AuditKind::AuditKeyRotated => "audit.key-rotated",
            AuditKind::AppReviewed => "app.reviewed",
            AuditKind::AppDrilled => "app.drilled",
            AuditKind::BudgetCrossed => "budget.crossed",
            AuditKind::PersonCreated => "person.created",
            AuditKind::PersonUpdated => "person.updated",
            AuditKind::PersonDeactivated => "person.deactivated",
            AuditKind::PersonDeleted => "person.deleted",
            AuditKind::AppTransferred => "app.transferred",
            AuditKind::CredentialStale => "credential.stale",
            AuditKind::AnomalyDetected => "anomaly.detected",
        }
    }
}

/// What happened, before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub kind: AuditKind,
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
    pub(crate) fn seal(seq: u64, prev: String, event: AuditEvent) -> AuditEntry {
        let time = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
        let mut entry = AuditEntry {
            seq,
            time,
            kind: event.kind.as_str().to_string(),
            app: event.app,
            actor: event.actor,
            details: event.details,
            prev,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// An entry sealed after `prev` with its own `time` (RFC 3339): for
    /// tools that write a log themselves (benches, imports); a host seals
    /// through [`super::AuditBackend::append`].
    #[allow(clippy::too_many_arguments)]
    pub fn chained(
        seq: u64,
        prev: String,
        time: String,
        kind: &str,
        app: Option<String>,
        actor: &str,
        details: serde_json::Value,
    ) -> AuditEntry {
        let mut entry = AuditEntry {
            seq,
            time,
            kind: kind.to_string(),
            app,
            actor: actor.to_string(),
            details,
            prev,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// SHA-256 over `prev`, a newline and the canonical JSON of the content.
    pub(crate) fn compute_hash(&self) -> String {
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

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn each_kind_has_one_dotted_spelling_of_its_own() {
        let all = [
            AuditKind::AppDeployed,
            AuditKind::AppApproved,
            AuditKind::AppRejected,
            AuditKind::AppDeleted,
            AuditKind::AppKilled,
            AuditKind::AppUnkilled,
            AuditKind::SecretSet,
            AuditKind::SecretRotated,
            AuditKind::TemplateSet,
            AuditKind::QuotaSet,
            AuditKind::TokenCreated,
            AuditKind::TokenRevoked,
            AuditKind::ConfigChanged,
            AuditKind::SloBurn,
            AuditKind::ContainmentTriggered,
            AuditKind::PolicyDenied,
            AuditKind::AuditRepaired,
            AuditKind::StorageAppDeleted,
            AuditKind::DeployTampered,
            AuditKind::VersionSuperseded,
            AuditKind::AppRefused,
            AuditKind::AppRetired,
            AuditKind::AppUnretired,
            AuditKind::StateCopied,
            AuditKind::AuditCheckpoint,
            AuditKind::AuditKeyRotated,
            AuditKind::AppReviewed,
            AuditKind::AppDrilled,
            AuditKind::BudgetCrossed,
            AuditKind::PersonCreated,
            AuditKind::PersonUpdated,
            AuditKind::PersonDeactivated,
            AuditKind::PersonDeleted,
            AuditKind::AppTransferred,
            AuditKind::CredentialStale,
            AuditKind::AnomalyDetected,
        ];
        let spellings: std::collections::HashSet<&str> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(spellings.len(), all.len(), "two kinds share a spelling");
        for kind in all {
            let text = kind.as_str();
            assert!(
                text.contains('.')
                    && text
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '-'),
                "{text}"
            );
        }
    }
}
