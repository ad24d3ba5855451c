//! `config.changed`: the platform settings that decide what apps may do —
//! the connector catalog and its rules, egress and address rules, storage
//! class rules, DLP, maximums and quota ceilings, containment, templates
//! from the file, admin sign-in, audit signing and forwarding, review
//! intervals — are digested at every start of `warden
//! serve`; when the digest differs from the previous start's, the change is
//! audited with the digest and, path by path, what changed. A platform
//! setting that widens what apps may do is a governance event like a grant.
//!
//! The previous start's view is kept in `<data_dir>/config.governance.json`.

use crate::audit::{AuditBackend, AuditEntry, AuditEvent};
use crate::config::PlatformConfig;
use crate::registry::compare;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

/// At most this many changed paths are listed in one entry (the digest
/// covers all of them).
const MAX_LISTED: usize = 100;

/// The governance-relevant settings, as one JSON document with sorted
/// keys (so equal settings give equal digests). Connectors are keyed by
/// name, so a change to one connector is a change at its path.
pub fn governance_view(platform: &PlatformConfig) -> Value {
    let connectors: serde_json::Map<String, Value> = platform
        .connectors
        .iter()
        .map(|c| (c.name.clone(), json!(c)))
        .collect();
    let mut view = json!({
        "connectors": connectors,
        "connector_rules": platform.connector_rules,
        "egress": platform.egress,
        "storage": platform.storage,
        "dlp": platform.dlp,
        "maximums": platform.maximums,
        "quotas": platform.quotas,
        "containment": platform.containment,
        "templates": platform.templates,
        "admin": platform.admin,
        "audit": audit_view(&platform.audit),
        "lifecycle": platform.lifecycle,
        "costs": platform.costs,
        "anomaly": platform.anomaly,
    });
    // Whatever else a capability's rules hold (e.g. `config`), as it says.
    crate::capabilities::Capabilities::add_rules_views(platform, &mut view);
    view
}

/// `[audit]` as governed: how often the chain is signed and where it is
/// forwarded — a sink removed is a witness gone. Header values are left
/// out (they may hold a receiver's key); their names are kept.
fn audit_view(audit: &crate::config::audit::AuditSettings) -> Value {
    let sinks: serde_json::Map<String, Value> = audit
        .sinks
        .iter()
        .map(|s| {
            let mut sink = json!(s);
            sink["headers"] = json!(s.headers.keys().collect::<Vec<_>>());
            (s.name.clone(), sink)
        })
        .collect();
    json!({ "checkpoint_interval": audit.checkpoint_interval, "sinks": sinks })
}

/// Audits a change of the governance settings since the previous start,
/// if there is one; returns the entry written.
pub(crate) fn audit_changes(
    platform: &PlatformConfig,
    data_dir: &Path,
    audit: &dyn AuditBackend,
) -> anyhow::Result<Option<AuditEntry>> {
    let view = governance_view(platform);
    let digest = hex::encode(Sha256::digest(view.to_string().as_bytes()));
    let seen_path = data_dir.join("config.governance.json");
    let previous: Option<Value> = std::fs::read(&seen_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let previous_digest = previous
        .as_ref()
        .and_then(|p| p["digest"].as_str())
        .map(str::to_string);
    if previous_digest.as_deref() == Some(digest.as_str()) {
        return Ok(None);
    }
    let mut before = previous
        .as_ref()
        .map(|p| p["view"].clone())
        .unwrap_or_else(|| json!({}));
    // Settings an older Warden did not govern were at their defaults as
    // far as it knew: only a value other than the default is a change
    // (an upgrade alone is not one).
    if previous.is_some()
        && let (Some(was), Value::Object(now)) = (before.as_object_mut(), &view)
    {
        let defaults = governance_view(&PlatformConfig::builtin());
        for key in now.keys() {
            if !was.contains_key(key) {
                was.insert(key.clone(), defaults[key].clone());
            }
        }
    }
    let changes = compare::diff(&before, &view);
    if previous.is_some() && changes.is_empty() {
        let seen = json!({ "digest": digest, "view": view });
        crate::fsutil::write_atomically(&seen_path, seen.to_string().as_bytes())?;
        return Ok(None);
    }
    let listed: Vec<Value> = changes
        .iter()
        .take(MAX_LISTED)
        .map(|c| json!({ "path": c.path, "change": c.change }))
        .collect();
    let entry = audit.append_blocking(AuditEvent {
        kind: crate::audit::AuditKind::ConfigChanged,
        app: None,
        actor: "warden".into(),
        details: json!({
            "digest": digest,
            "previous": previous_digest,
            "first_start": previous.is_none(),
            "changes": listed,
            "more": changes.len().saturating_sub(MAX_LISTED),
        }),
    })?;
    let seen = json!({ "digest": digest, "view": view });
    if let Err(e) = crate::fsutil::write_atomically(&seen_path, seen.to_string().as_bytes()) {
        // Audited already; the next start will audit the same change again.
        tracing::warn!(
            "{} could not be written ({e}); the next start audits this change again",
            seen_path.display()
        );
    }
    Ok(Some(entry))
}
