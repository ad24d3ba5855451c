//! The one input document every publish is judged on (`input` in Rego).
//! Its shape is documented, with an example, in README.md ("Policies").

use super::component::ComponentFacts;
use crate::config::{AppManifest, PlatformConfig};
use crate::registry::Template;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Who publishes, and when.
#[derive(Debug, Clone, Serialize)]
pub struct PublishRequest {
    /// The principal's name (`ops`, `ada@example.com`).
    pub who: String,
    /// `admin`, `creator`, ...
    pub role: String,
    /// The principal's team, when their credential names one (a token's
    /// `--team`, the OIDC `team_claim`); absent otherwise.
    pub team: Option<String>,
    /// RFC 3339, UTC.
    pub time: String,
    /// `warden policy check`: nothing is deployed.
    pub dry_run: bool,
}

/// Everything a decision reads besides the platform configuration.
pub struct Publish<'a> {
    pub request: PublishRequest,
    pub manifest: &'a AppManifest,
    /// The manifest as written (every field, also those Warden has no
    /// type for yet).
    pub manifest_table: &'a toml::Table,
    /// The owner the deploy records (a creator's deploy: the creator).
    pub owner: Option<&'a str>,
    pub component: Option<&'a ComponentFacts>,
    /// The named template, if the platform has it.
    pub template: Option<&'a Template>,
    /// Secret-scan findings.
    pub secrets: &'a [Value],
    /// The app's current version, if it has one.
    pub previous: Option<Previous<'a>>,
}

/// The version a publish would replace: the live one, or a retired one.
#[derive(Clone, Copy)]
pub struct Previous<'a> {
    pub version: &'a str,
    /// `active`, `killed` or `retired`.
    pub status: &'a str,
    pub manifest: &'a AppManifest,
}

/// Builds `input`. Fields the manifest leaves out are absent, never
/// `null`, so a policy tests them the Rego way: `not input.app.team`.
pub fn build(publish: &Publish<'_>, platform: &PlatformConfig) -> Value {
    let mut document = document(publish, platform);
    strip_nulls(&mut document);
    document
}

/// Removes every `null` member of every object (array elements stay).
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn document(publish: &Publish<'_>, platform: &PlatformConfig) -> Value {
    let manifest = publish.manifest;
    let app = &manifest.app;
    let runbook = app.runbook.as_ref();
    let template_bounds = publish.template.cloned().unwrap_or_default();
    json!({
        "request": publish.request,
        "app": {
            "name": app.name,
            "version": app.version,
            "owner": publish.owner,
            "team": app.team,
            "cost_center": app.cost_center,
            "runbook": {
                "contact": runbook.and_then(|r| r.contact.as_deref()),
                "kill_switch": runbook.and_then(|r| r.kill_switch.as_deref()),
                "rollback": runbook.and_then(|r| r.rollback.as_deref()),
            },
            "template": app.template,
            "compliance": app.compliance,
            "description": app.description,
        },
        "manifest": publish.manifest_table,
        "component": publish.component,
        "grants": grants(manifest),
        "template": {
            "name": app.template,
            "exists": publish.template.is_some(),
            "bounds": {
                "connectors": template_bounds.connectors,
                "allowed_hosts": template_bounds.allowed_hosts,
                "max_class": template_bounds.max_class().to_string(),
            },
        },
        "catalog": catalog(manifest, platform),
        "secrets": publish.secrets,
        "previous": publish.previous.map(|p| json!({
            "version": p.version,
            "status": p.status,
            "grants": grants(p.manifest),
        })),
        "platform": platform_facts(platform),
    })
}

/// What the manifest asks for, in plain units (bytes, milliseconds).
pub fn grants(manifest: &AppManifest) -> Value {
    let limits = &manifest.limits;
    let mut asked = BTreeMap::new();
    if let Some(fuel) = limits.fuel {
        asked.insert("fuel", fuel);
    }
    if let Some(memory) = limits.memory {
        asked.insert("memory", memory.bytes());
    }
    if let Some(timeout) = limits.timeout {
        asked.insert("timeout", timeout.get().as_millis() as u64);
    }
    if let Some(output) = limits.max_output {
        asked.insert("max_output", output.bytes());
    }
    if let Some(bytes) = limits.hostcall_bytes {
        asked.insert("hostcall_bytes", bytes.bytes());
    }
    json!({
        "connectors": manifest.connectors,
        "hosts": manifest.egress.allowed_hosts,
        "storage": manifest.storage.iter().map(|b| json!({
            "bucket": b.bucket,
            "class": b.class.to_string(),
            "ttl": b.ttl.map(|t| t.to_string()),
        })).collect::<Vec<_>>(),
        "limits": asked,
        "quota": quota_numbers(&manifest.quota),
        "config_keys": manifest.config.as_ref().map(|c| c.0.keys().cloned().collect::<Vec<_>>()).unwrap_or_default(),
    })
}

fn quota_numbers(q: &warden_host_apis::metering::QuotaRequest) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    if let Some(v) = q.egress_bytes {
        out.insert("egress_bytes", v.bytes());
    }
    if let Some(v) = q.connector_calls {
        out.insert("connector_calls", v);
    }
    if let Some(v) = q.requests_per_minute {
        out.insert("requests_per_minute", v);
    }
    if let Some(v) = q.storage_bytes {
        out.insert("storage_bytes", v.bytes());
    }
    out
}

/// The catalog entries of the connectors the app asks for, with which
/// scopes write (any rule whose method is not GET, HEAD or OPTIONS).
fn catalog(manifest: &AppManifest, platform: &PlatformConfig) -> Value {
    let mut out = serde_json::Map::new();
    for request in &manifest.connectors {
        let Some(spec) = platform.connectors.iter().find(|c| c.name == request.name) else {
            continue;
        };
        let scopes: serde_json::Map<String, Value> = spec
            .scopes
            .iter()
            .map(|(name, rules)| {
                let writes = rules.iter().any(|rule| {
                    let method = rule.split_whitespace().next().unwrap_or("*");
                    !matches!(method, "GET" | "HEAD" | "OPTIONS")
                });
                (name.clone(), json!({ "rules": rules, "writes": writes }))
            })
            .collect();
        out.insert(
            spec.name.clone(),
            json!({
                "base_url": spec.base_url,
                "max_class": spec.max_class.to_string(),
                "tags": spec.tags,
                "vendor": spec.vendor,
                "scopes": scopes,
                "cost_per_call": spec.cost_per_call,
            }),
        );
    }
    Value::Object(out)
}

/// The platform rules a policy compares against.
fn platform_facts(platform: &PlatformConfig) -> Value {
    use warden_host_apis::classes::DataClass;
    let approval_classes: Vec<String> = [
        DataClass::Public,
        DataClass::Internal,
        DataClass::Confidential,
        DataClass::Regulated,
    ]
    .into_iter()
    .filter(|c| platform.storage.rule(*c).approval)
    .map(|c| c.to_string())
    .collect();
    let d = &platform.defaults;
    json!({
        "approval_classes": approval_classes,
        "connector_rules": platform.connector_rules,
        // The line above which the default policy asks a reviewer: the
        // platform's defaults, unless `data.thresholds` says otherwise.
        "thresholds": {
            "limits": {
                "fuel": d.fuel,
                "memory": d.memory.bytes(),
                "timeout": d.timeout.get().as_millis() as u64,
                "max_output": d.max_output.bytes(),
                "hostcall_bytes": d.hostcall_bytes.bytes(),
            },
            "quota": quota_numbers(&platform.quotas.defaults),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_left_out_not_null() {
        let mut v = json!({ "a": null, "b": { "c": null, "d": 1 }, "e": [null, { "f": null }] });
        strip_nulls(&mut v);
        assert_eq!(v, json!({ "b": { "d": 1 }, "e": [null, {}] }));
    }
}
