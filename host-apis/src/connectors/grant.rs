//! Turning an app's `[[connectors]]` requests into grants, at load time.

use super::config::{Connector, ConnectorRequest};
use super::scope::ScopeRule;
use crate::problem::Problem;
use std::sync::Arc;

/// What one app may do with one connector: the union of its scopes' rules.
#[derive(Debug, Clone)]
pub struct ConnectorGrant {
    pub connector: Arc<Connector>,
    pub scopes: Vec<String>,
    rules: Vec<ScopeRule>,
}

impl ConnectorGrant {
    /// May this app send `method path` (path relative to the base URL)?
    pub fn allows(&self, method: &str, path: &str) -> bool {
        self.rules.iter().any(|r| r.allows(method, path))
    }

    /// The rule that allowed a request, for traces (a pattern, never the
    /// concrete path with its identifiers).
    pub fn matching_rule(&self, method: &str, path: &str) -> Option<&ScopeRule> {
        self.rules.iter().find(|r| r.allows(method, path))
    }
}

pub fn grant(
    requests: &[ConnectorRequest],
    catalog: &[Arc<Connector>],
) -> Result<Vec<ConnectorGrant>, Problem> {
    let names = || {
        let all: Vec<&str> = catalog.iter().map(|c| c.name()).collect();
        if all.is_empty() {
            "the catalog is empty".to_string()
        } else {
            format!("the catalog has: {}", all.join(", "))
        }
    };
    requests
        .iter()
        .enumerate()
        .map(|(i, request)| {
            let connector = catalog.iter().find(|c| c.name() == request.name).ok_or_else(|| {
                Problem::new(
                    format!("connectors[{i}].name"),
                    format!("no connector `{}` in the platform catalog", request.name),
                    format!("use a connector the platform approved ({}), or ask the platform team to add one", names()),
                )
            })?;
            if request.scopes.is_empty() {
                return Err(Problem::new(
                    format!("connectors[{i}].scopes"),
                    format!("no scopes requested for `{}`", request.name),
                    format!("list the scopes you need, from: {}", connector.scopes.keys().cloned().collect::<Vec<_>>().join(", ")),
                ));
            }
            let mut rules = Vec::new();
            for scope in &request.scopes {
                let scope_rules = connector.scopes.get(scope).ok_or_else(|| {
                    Problem::new(
                        format!("connectors[{i}].scopes"),
                        format!("connector `{}` has no scope `{scope}`", request.name),
                        format!("use one of: {}", connector.scopes.keys().cloned().collect::<Vec<_>>().join(", ")),
                    )
                })?;
                rules.extend(scope_rules.iter().cloned());
            }
            Ok(ConnectorGrant { connector: connector.clone(), scopes: request.scopes.clone(), rules })
        })
        .collect()
}
