//! `[templates.NAME]` in `warden.toml` (and templates set over the admin
//! API): blueprints an app may stay within to go live without review. How
//! a manifest is judged against one is the publish policy (`crate::policy`,
//! rules `outside-template` and `unknown-template` of the default bundle).

use serde::{Deserialize, Serialize};
use warden_host_apis::classes::DataClass;
use warden_host_apis::connectors::config::{ConnectorRequest, ConnectorSpec};

/// A platform blueprint an app may stay within (`[templates.NAME]` in
/// `warden.toml`, or managed through the admin API).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub description: Option<String>,
    /// Connectors and the scopes within them an app may ask for.
    #[serde(default)]
    pub connectors: Vec<ConnectorRequest>,
    /// Plain egress destinations an app may list, exactly as written.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// The highest storage class an app may keep (default: internal).
    pub max_class: Option<DataClass>,
}

impl Template {
    /// The highest class an app within it may keep (internal when unset).
    pub fn max_class(&self) -> DataClass {
        self.max_class.unwrap_or(DataClass::Internal)
    }

    /// What in this template the connector catalog does not have, as
    /// (field, problem, fix): a template that names an unknown connector
    /// or scope would wave through grants no app can ever be given.
    pub fn problem(&self, catalog: &[ConnectorSpec]) -> Option<(String, String, String)> {
        let names = || {
            let all: Vec<&str> = catalog.iter().map(|c| c.name.as_str()).collect();
            if all.is_empty() {
                "the catalog is empty".to_string()
            } else {
                format!("the catalog has: {}", all.join(", "))
            }
        };
        for (i, request) in self.connectors.iter().enumerate() {
            let Some(spec) = catalog.iter().find(|c| c.name == request.name) else {
                return Some((
                    format!("connectors[{i}].name"),
                    format!("no connector `{}` in the catalog", request.name),
                    format!("name a connector from the catalog ({})", names()),
                ));
            };
            if let Some(scope) = request
                .scopes
                .iter()
                .find(|s| !spec.scopes.contains_key(*s))
            {
                return Some((
                    format!("connectors[{i}].scopes"),
                    format!("connector `{}` has no scope `{scope}`", request.name),
                    format!(
                        "use one of: {}",
                        spec.scopes.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        for (i, host) in self.allowed_hosts.iter().enumerate() {
            let one = std::slice::from_ref(host);
            if let Err(problem) = warden_host_apis::egress::hosts::AllowedHosts::parse(one) {
                return Some((
                    format!("allowed_hosts[{i}]"),
                    problem,
                    "write it as scheme://host[:port], as an app would".to_string(),
                ));
            }
        }
        None
    }
}
