//! Credentials that age visibly: a connector in the catalog may say how
//! old its secret may grow (`rotate_every = "90d"`). A secret older than
//! that — counted from when the value in use was set, its last
//! `warden secrets set` or rotation — is flagged in `warden inspect`, the
//! admin API and the dashboard, and alerted once per value (audit
//! `credential.stale`, an ALERT line, the alert webhook) by the host that
//! runs the schedules. Setting a new value ends it.

use crate::runtime::Runtime;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

/// One connector's credential, and how old it is.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CredentialAge {
    pub connector: String,
    /// The secret's name in the secret store.
    pub secret: String,
    /// The version in use (1, then one more per rotation); `None` when
    /// the secret is not set.
    pub version: Option<u32>,
    /// When the value in use was set (RFC 3339).
    pub set_at: Option<String>,
    /// Whole days since then.
    pub age_days: Option<u64>,
    /// The catalog's `rotate_every`, as written; `None`: no limit.
    pub rotate_every: Option<String>,
    /// When it is due for rotation (RFC 3339).
    pub due_at: Option<String>,
    /// Older than `rotate_every`.
    pub stale: bool,
}

/// The credential of each connector named in `connectors` that has a
/// secret, at `now`. A secret store that cannot be read gives ages of
/// nothing (`version` `None`), said on the host's log.
pub fn ages<'a>(
    runtime: &Runtime,
    connectors: impl IntoIterator<Item = &'a str>,
    now: SystemTime,
) -> Vec<CredentialAge> {
    // The store the connectors' credentials come from, open already (no
    // master key read per question).
    let listed = match runtime.credentials().store() {
        Some(store) => store.list().map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    };
    let set: BTreeMap<String, (u32, String)> = match listed {
        Ok(list) => list
            .into_iter()
            .map(|i| (i.name, (i.version, i.rotated.unwrap_or(i.created))))
            .collect(),
        Err(e) => {
            tracing::warn!("credential ages not read: {e:#}");
            BTreeMap::new()
        }
    };
    let catalog = &runtime.platform().connectors;
    let mut out = Vec::new();
    for name in connectors {
        let Some(spec) = catalog.iter().find(|c| c.name == name) else {
            continue;
        };
        let Some(secret) = spec.auth.secret_name() else {
            continue;
        };
        let found = set.get(secret);
        let since = found.and_then(|(_, at)| humantime::parse_rfc3339(at).ok());
        let age = since.and_then(|s| now.duration_since(s).ok());
        let limit = spec.rotate_every.map(|d| d.get());
        let due = since.zip(limit).map(|(s, l)| s + l);
        out.push(CredentialAge {
            connector: spec.name.clone(),
            secret: secret.to_string(),
            version: found.map(|(v, _)| *v),
            set_at: found.map(|(_, at)| at.clone()),
            age_days: age.map(|a| a.as_secs() / 86_400),
            rotate_every: spec.rotate_every.map(|d| d.to_string()),
            due_at: due.map(|d| humantime::format_rfc3339_seconds(d).to_string()),
            stale: age.zip(limit).is_some_and(|(a, l)| a > l),
        });
    }
    out
}

/// Every stale credential of the catalog, with the live apps granted its
/// connector.
pub fn stale(
    runtime: &Runtime,
    granted: &BTreeMap<String, Vec<String>>,
) -> Vec<(CredentialAge, Vec<String>)> {
    let names: Vec<&str> = runtime
        .platform()
        .connectors
        .iter()
        .filter(|c| c.rotate_every.is_some())
        .map(|c| c.name.as_str())
        .collect();
    ages(runtime, names, SystemTime::now())
        .into_iter()
        .filter(|a| a.stale)
        .map(|a| {
            let apps = granted.get(&a.connector).cloned().unwrap_or_default();
            (a, apps)
        })
        .collect()
}

/// Whether the catalog asks for any rotation (else nothing to watch).
pub fn watched(runtime: &Runtime) -> bool {
    runtime
        .platform()
        .connectors
        .iter()
        .any(|c| c.rotate_every.is_some() && c.auth.secret_name().is_some())
}

/// Alerts each stale credential once per value: (secret, version) keys
/// raised by this host, or found on the chain. Blocking.
pub fn alert(
    runtime: &Runtime,
    granted: &BTreeMap<String, Vec<String>>,
    raised: &mut HashSet<(String, u32)>,
) {
    let mut chain = crate::alert::Chain::new(runtime);
    for (age, apps) in stale(runtime, granted) {
        let Some(version) = age.version else {
            continue;
        };
        let key = (age.secret.clone(), version);
        if raised.contains(&key) {
            continue;
        }
        let on_chain = chain.holds(crate::audit::AuditKind::CredentialStale, |d| {
            d["secret"] == key.0.as_str() && d["version"] == key.1
        });
        raised.insert(key);
        if on_chain {
            continue;
        }
        tracing::warn!(
            "ALERT: the credential `{}` of connector `{}` is {} days old, past its rotate_every of {}; set a new value with `warden secrets set {}`",
            age.secret,
            age.connector,
            age.age_days.unwrap_or(0),
            age.rotate_every.as_deref().unwrap_or("?"),
            age.secret
        );
        let mut details = json!(age);
        details["apps"] = json!(apps);
        crate::alert::raise(
            runtime,
            crate::audit::AuditKind::CredentialStale,
            "warden:lifecycle",
            None,
            details,
            runtime.platform().containment.alert_webhook.as_deref(),
        );
    }
}
