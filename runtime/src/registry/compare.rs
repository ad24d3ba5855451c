//! What a reviewer needs to decide: a version's grants laid out flat, and
//! how they differ from the live version's. A reviewer should not have to
//! read two TOML files side by side to see that `crm` gained `write`.

use crate::config::AppManifest;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The grants and limits of `manifest` that a review is about, keyed so
/// that one grant is one path: `connectors.crm` → its scopes,
/// `storage.notes` → class and TTL, `schedules.<cron>` → its input,
/// `allowed_hosts`, `limits`, `quota`, `route`; and what runs, for whom:
/// `component` (its digest, in a deploy), `owner`, `template`, `world`.
pub fn grants(manifest: &AppManifest) -> Value {
    let connectors: Map<String, Value> = manifest
        .connectors
        .iter()
        .map(|c| (c.name.clone(), json!(c.scopes)))
        .collect();
    let storage: Map<String, Value> = manifest
        .storage
        .iter()
        .map(|b| {
            (
                b.bucket.clone(),
                json!({ "class": b.class, "ttl": b.ttl.map(|t| t.to_string()) }),
            )
        })
        .collect();
    let schedules: serde_json::Map<String, Value> = manifest
        .schedule
        .iter()
        .map(|s| (s.cron.clone(), json!(s.input)))
        .collect();
    let mut view = json!({
        // What runs and who answers for it, besides what it may do: a new
        // component with the same grants is still a change to review.
        "component": manifest.app.component,
        "owner": manifest.app.owner,
        "template": manifest.app.template,
        "world": manifest.app.world,
        "route": manifest.http.as_ref().map(|h| h.route.clone()),
        "connectors": connectors,
        "allowed_hosts": manifest.egress.allowed_hosts,
        "storage": storage,
        "schedules": schedules,
        "limits": manifest.limits,
        "quota": manifest.quota,
    });
    // Whatever else a capability grants (e.g. `config`), as it says.
    crate::capabilities::Capabilities::add_review_views(manifest, &mut view);
    view
}

/// One difference between two versions' grants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Dotted path, e.g. `connectors.crm` or `limits.fuel`.
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// The live version's value (absent when added).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub live: Value,
    /// This version's value (absent when removed).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub this: Value,
}

/// How `this` differs from `live`, path by path, in path order. Objects
/// are walked; arrays of strings are compared as sets, so a reordered
/// list is no change and an added scope shows as exactly that.
pub fn diff(live: &Value, this: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", live, this, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(path: &str, live: &Value, this: &Value, out: &mut Vec<Change>) {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (live, this) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, before) in a {
                walk(&child(key), before, b.get(key).unwrap_or(&Value::Null), out);
            }
            for (key, after) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                walk(&child(key), &Value::Null, after, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.iter().chain(b).all(Value::is_string) => {
            let gone: Vec<&Value> = a.iter().filter(|v| !b.contains(v)).collect();
            let new: Vec<&Value> = b.iter().filter(|v| !a.contains(v)).collect();
            if !gone.is_empty() || !new.is_empty() {
                out.push(Change {
                    path: path.to_string(),
                    change: "changed",
                    live: json!(gone),
                    this: json!(new),
                });
            }
        }
        (a, b) if a == b => {}
        (Value::Null, b) => out.push(Change {
            path: path.to_string(),
            change: "added",
            live: Value::Null,
            this: b.clone(),
        }),
        (a, Value::Null) => out.push(Change {
            path: path.to_string(),
            change: "removed",
            live: a.clone(),
            this: Value::Null,
        }),
        (a, b) => out.push(Change {
            path: path.to_string(),
            change: "changed",
            live: a.clone(),
            this: b.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> AppManifest {
        let text =
            format!("[app]\nname = \"kv\"\nversion = \"1.0.0\"\ncomponent = \"kv.wasm\"\n{extra}");
        AppManifest::parse(std::path::Path::new("app.toml"), &text)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn a_new_scope_a_new_host_and_a_raised_class_are_each_one_change() {
        let live = grants(&manifest(
            "[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n[egress]\nallowed_hosts = [\"https://a.example.com\"]\n[[storage]]\nbucket = \"notes\"\nclass = \"internal\"\n",
        ));
        let this = grants(&manifest(
            "[[connectors]]\nname = \"crm\"\nscopes = [\"write\", \"read\"]\n[egress]\nallowed_hosts = [\"https://a.example.com\", \"https://exfil.example.com\"]\n[[storage]]\nbucket = \"notes\"\nclass = \"confidential\"\n[[connectors]]\nname = \"mail\"\nscopes = [\"send\"]\n",
        ));
        let changes = diff(&live, &this);
        let paths: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.change))
            .collect();
        assert_eq!(
            paths,
            [
                ("allowed_hosts", "changed"),
                ("connectors.crm", "changed"),
                ("connectors.mail", "added"),
                ("storage.notes.class", "changed"),
            ],
            "{changes:?}"
        );
        assert_eq!(changes[0].this, json!(["https://exfil.example.com"]));
        assert_eq!(changes[1].this, json!(["write"]));
        assert_eq!(changes[1].live, json!([]));
        assert!(diff(&this, &this).is_empty());
    }
}
