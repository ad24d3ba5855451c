//! An app's compiled egress policy and the routing decision: which grant,
//! if any, lets a request leave.
//!
//! | request goes to                                   | decision                               |
//! |---------------------------------------------------|----------------------------------------|
//! | a granted connector's base URL, path in a scope   | connector route (credential injected)  |
//! | a granted connector's base URL, path in no scope  | scope-denied                           |
//! | an `egress.allowed_hosts` entry                   | host route (no credential)             |
//! | anything else                                     | egress-denied                          |
//!
//! A connector match wins over a host entry for the same destination, so a
//! scope cannot be bypassed by also listing the host.

use super::config::EgressRules;
use super::hosts::{AllowedHost, AllowedHosts, normalize_host};
use crate::classes::DataClass;
use crate::connectors::ConnectorGrant;
use crate::connectors::scope::unsafe_path;
use crate::denial::Denial;
use crate::storage::policy::{may_send_to_connector, may_send_to_host};
use std::sync::Arc;

#[derive(Clone)]
pub struct EgressPolicy {
    pub grants: Vec<ConnectorGrant>,
    pub hosts: AllowedHosts,
    pub rules: Arc<EgressRules>,
    /// Per class (public..regulated), the connectors the storage class rule
    /// lists as allowed receivers; `None` means any cleared connector.
    pub class_connectors: [Option<Vec<String>>; 4],
}

/// Where a permitted request goes.
pub enum Route<'a> {
    Connector {
        grant: &'a ConnectorGrant,
        /// The matching scope rule, for traces.
        pattern: String,
    },
    Host(&'a AllowedHost),
}

/// A refused route: the kind for metrics and the reason for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: Denial,
    pub reason: String,
}

impl EgressPolicy {
    /// Routes a `wasi:http` request by its URL.
    pub fn route_url(
        &self,
        method: &str,
        scheme: &str,
        host: &str,
        port: u16,
        path: &str,
    ) -> Result<Route<'_>, Refusal> {
        let host = normalize_host(host);
        let connector = self.grants.iter().find(|g| {
            let c = &g.connector;
            c.scheme == scheme
                && normalize_host(&c.host) == host
                && c.port == port
                && under_base(path, &c.base_path)
        });
        if let Some(grant) = connector {
            let rest = &path[grant.connector.base_path.len()..];
            let rest = if rest.is_empty() { "/" } else { rest };
            return self.scope(grant, method, rest);
        }
        match self.hosts.find(scheme, &host, port) {
            Some(entry) => Ok(Route::Host(entry)),
            None => Err(Refusal {
                kind: Denial::HttpEgress,
                reason: format!(
                    "{scheme}://{host}:{port} is neither a granted connector nor in egress.allowed_hosts"
                ),
            }),
        }
    }

    /// Routes a `warden:host/connectors` call by connector name.
    pub fn route_connector(
        &self,
        name: &str,
        method: &str,
        path: &str,
    ) -> Result<Route<'_>, Refusal> {
        let grant = self
            .grants
            .iter()
            .find(|g| g.connector.name() == name)
            .ok_or_else(|| Refusal {
                kind: Denial::NotGranted,
                reason: format!("this app has no grant for connector `{name}`"),
            })?;
        self.scope(grant, method, path)
    }

    fn scope<'a>(
        &'a self,
        grant: &'a ConnectorGrant,
        method: &str,
        path: &str,
    ) -> Result<Route<'a>, Refusal> {
        let bare = path.split(['?', '#']).next().unwrap_or_default();
        if let Some(why) = unsafe_path(bare) {
            return Err(Refusal {
                kind: Denial::ScopeDenied,
                reason: why.to_string(),
            });
        }
        match grant.matching_rule(method, path) {
            Some(rule) => Ok(Route::Connector {
                grant,
                pattern: rule.to_string(),
            }),
            None => Err(Refusal {
                kind: Denial::ScopeDenied,
                reason: format!(
                    "{method} {bare} on `{}` is outside the granted scopes ({})",
                    grant.connector.name(),
                    grant.scopes.join(", ")
                ),
            }),
        }
    }
}

impl EgressPolicy {
    /// Label check: may data labelled `label` take `route`?
    pub fn clears(&self, route: &Route<'_>, label: DataClass) -> Result<(), Refusal> {
        let (ok, to, cleared) = match route {
            Route::Connector { grant, .. } => {
                let c = &grant.connector;
                let listed = self.class_connectors[label as usize].as_deref();
                (
                    may_send_to_connector(label, c.spec.max_class, c.name(), listed),
                    c.name().to_string(),
                    c.spec.max_class,
                )
            }
            Route::Host(entry) => (
                may_send_to_host(label),
                entry.to_string(),
                DataClass::Public,
            ),
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal {
                kind: Denial::ClassViolation,
                reason: format!(
                    "this invocation has read {label} data and {to} is cleared for {cleared} at most"
                ),
            })
        }
    }
}

fn under_base(path: &str, base: &str) -> bool {
    base.is_empty()
        || path == base
        || path.starts_with(&format!("{base}/"))
        || path.starts_with(&format!("{base}?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::config::{
        ConnectorRequest, ConnectorRules, ConnectorSpec, compile_catalog,
    };

    fn policy(allowed_hosts: &[&str]) -> EgressPolicy {
        let spec: ConnectorSpec = serde_json::from_value(serde_json::json!({
            "name": "crm",
            "base_url": "https://crm.example.com/api",
            "max_class": "internal",
            "scopes": { "read": ["GET /contacts/**"], "write": ["POST /contacts"] },
        }))
        .unwrap_or_else(|e| unreachable!("test catalog: {e}"));
        let specs = vec![spec];
        let catalog: Vec<Arc<_>> = compile_catalog(&specs, &ConnectorRules::default())
            .unwrap_or_else(|e| unreachable!("{e:?}"))
            .into_iter()
            .map(Arc::new)
            .collect();
        let grants = crate::connectors::grant::grant(
            &[ConnectorRequest {
                name: "crm".into(),
                scopes: vec!["read".into()],
            }],
            &catalog,
        )
        .unwrap_or_else(|e| unreachable!("{e:?}"));
        let hosts: Vec<String> = allowed_hosts.iter().map(|h| h.to_string()).collect();
        EgressPolicy {
            grants,
            hosts: AllowedHosts::parse(&hosts).unwrap_or_else(|e| unreachable!("{e}")),
            rules: Arc::new(EgressRules::default()),
            class_connectors: Default::default(),
        }
    }

    /// What a route decision is called in the table below.
    fn decision(r: Result<Route<'_>, Refusal>) -> &'static str {
        match r {
            Ok(Route::Connector { .. }) => "connector",
            Ok(Route::Host(_)) => "host",
            Err(refusal) => refusal.kind.as_str(),
        }
    }

    #[test]
    fn requests_are_routed_by_the_module_table() {
        let p = policy(&["https://api.example.com", "https://crm.example.com"]);
        // (method, scheme, host, port, path) -> decision
        let cases = [
            (
                "GET",
                "https",
                "crm.example.com",
                443,
                "/api/contacts/7",
                "connector",
            ),
            (
                "GET",
                "https",
                "CRM.example.com.",
                443,
                "/api/contacts/7",
                "connector",
            ),
            (
                "POST",
                "https",
                "crm.example.com",
                443,
                "/api/contacts",
                "scope-denied",
            ),
            (
                "GET",
                "https",
                "crm.example.com",
                443,
                "/api/contacts/../admin",
                "scope-denied",
            ),
            // A connector match wins over listing the same host: no bypass.
            (
                "GET",
                "https",
                "crm.example.com",
                443,
                "/api/admin",
                "scope-denied",
            ),
            // Outside the connector's base path, the host entry applies.
            ("GET", "https", "crm.example.com", 443, "/other", "host"),
            ("GET", "https", "api.example.com", 443, "/anything", "host"),
            (
                "GET",
                "http",
                "api.example.com",
                80,
                "/anything",
                "egress-denied",
            ),
            (
                "GET",
                "https",
                "api.example.com",
                8443,
                "/anything",
                "egress-denied",
            ),
            (
                "GET",
                "https",
                "exfil.example.com",
                443,
                "/",
                "egress-denied",
            ),
        ];
        for (method, scheme, host, port, path, want) in cases {
            let got = decision(p.route_url(method, scheme, host, port, path));
            assert_eq!(got, want, "{method} {scheme}://{host}:{port}{path}");
        }
        assert_eq!(
            decision(p.route_connector("crm", "GET", "/contacts/1")),
            "connector"
        );
        assert_eq!(
            decision(p.route_connector("erp", "GET", "/x")),
            "not-granted"
        );
        assert_eq!(
            decision(p.route_connector("crm", "DELETE", "/contacts/1")),
            "scope-denied"
        );
    }

    #[test]
    fn labelled_data_takes_only_routes_cleared_for_it() {
        let p = policy(&["https://api.example.com"]);
        let connector = p
            .route_connector("crm", "GET", "/contacts/1")
            .unwrap_or_else(|e| unreachable!("{e:?}"));
        let host = p
            .route_url("GET", "https", "api.example.com", 443, "/")
            .unwrap_or_else(|e| unreachable!("{e:?}"));
        // (route, label) -> cleared?  crm is cleared for internal; plain
        // hosts for public only.
        let cases = [
            (&connector, DataClass::Public, true),
            (&connector, DataClass::Internal, true),
            (&connector, DataClass::Confidential, false),
            (&host, DataClass::Public, true),
            (&host, DataClass::Internal, false),
        ];
        for (route, label, cleared) in cases {
            let got = p.clears(route, label);
            assert_eq!(got.is_ok(), cleared, "{label}: {got:?}");
            if let Err(refusal) = got {
                assert_eq!(refusal.kind, Denial::ClassViolation);
            }
        }
    }

    #[test]
    fn a_path_is_under_a_base_only_at_a_segment_boundary() {
        for (path, base, under) in [
            ("/api/x", "/api", true),
            ("/api", "/api", true),
            ("/api?q=1", "/api", true),
            ("/apix", "/api", false),
            ("/x", "", true),
        ] {
            assert_eq!(under_base(path, base), under, "{path} under {base}");
        }
    }
}
