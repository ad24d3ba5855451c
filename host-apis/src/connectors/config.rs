//! The connector catalog in `warden.toml` and the grants in `app.toml`.
//!
//! A connector is an approved SaaS endpoint: its base URL, how the host
//! authenticates to it (the credential lives in the secret store and is
//! added by the host to each request), which requests each scope allows,
//! the highest data class it may receive and the vendor's terms. Apps name
//! connectors and scopes; anything they name must exist in the catalog.

use super::scope::ScopeRule;
use crate::classes::DataClass;
use crate::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `[[connectors]]` entry of the platform catalog.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    /// `[a-z0-9-]`, what apps call it by.
    pub name: String,
    /// `https://api.vendor.com/v1`: scheme, host, optional port and base path.
    pub base_url: String,
    #[serde(default)]
    pub auth: AuthSpec,
    /// Scope name -> rules such as `"GET /bases/*"`.
    #[serde(default)]
    pub scopes: BTreeMap<String, Vec<String>>,
    /// Highest data class this destination may receive.
    #[serde(default)]
    pub max_class: DataClass,
    #[serde(default)]
    pub vendor: VendorTerms,
    /// Cost charged per call, in the platform's currency, for reports.
    #[serde(default)]
    pub cost_per_call: f64,
    /// How old the credential secret may grow before it is due for
    /// rotation (`"90d"`): older, it is flagged and alerted once.
    #[serde(default)]
    pub rotate_every: Option<crate::units::Dur>,
    /// Labels policies read, e.g. `["hr"]` or `["finance"]`: the default
    /// policy sends a write scope on an `hr` or `finance` connector to a
    /// reviewer.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// How the host authenticates to a connector. Secrets are named, never
/// written here.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthSpec {
    #[default]
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer { secret: String },
    /// `<header>: <secret>`.
    ApiKey { header: String, secret: String },
    /// `Authorization: Basic base64(username:secret)`.
    Basic { username: String, secret: String },
    /// Client-credentials grant against `token_url`; the access token is
    /// cached until it expires.
    Oauth2 {
        token_url: String,
        client_id: String,
        secret: String,
        #[serde(default)]
        scopes: Vec<String>,
    },
}

impl AuthSpec {
    /// The secret this auth method needs, if any.
    pub fn secret_name(&self) -> Option<&str> {
        match self {
            AuthSpec::None => None,
            AuthSpec::Bearer { secret }
            | AuthSpec::ApiKey { secret, .. }
            | AuthSpec::Basic { secret, .. }
            | AuthSpec::Oauth2 { secret, .. } => Some(secret),
        }
    }
}

/// What the vendor has signed up to.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VendorTerms {
    /// A data processing agreement is in place.
    #[serde(default)]
    pub dpa: bool,
    /// Where the vendor keeps data, e.g. `"eu"`.
    pub residency: Option<String>,
    /// How fast the vendor notifies incidents, e.g. `"72h"`.
    pub incident_notification: Option<String>,
}

/// Platform rules every catalog entry must meet (`[connector_rules]`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorRules {
    /// Every connector needs `vendor.dpa = true`.
    pub require_dpa: bool,
    /// If not empty, `vendor.residency` must be one of these.
    pub allowed_residency: Vec<String>,
    /// Every connector must state `vendor.incident_notification`.
    pub require_incident_notification: bool,
}

/// One `[[connectors]]` grant request in `app.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectorRequest {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A catalog entry parsed once: URL split, rules compiled.
#[derive(Debug, Clone)]
pub struct Connector {
    pub spec: ConnectorSpec,
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Base path without a trailing slash (`""` for the root).
    pub base_path: String,
    pub scopes: BTreeMap<String, Vec<ScopeRule>>,
}

impl Connector {
    pub fn name(&self) -> &str {
        &self.spec.name
    }
}

/// Parses and checks the catalog against the platform rules.
pub fn compile_catalog(
    specs: &[ConnectorSpec],
    rules: &ConnectorRules,
) -> Result<Vec<Connector>, Problem> {
    let mut seen = std::collections::BTreeSet::new();
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let at = |f: &str| format!("connectors[{i}].{f}");
            if !seen.insert(spec.name.clone()) {
                return Err(Problem::new(at("name"), format!("connector `{}` is defined twice", spec.name), "give each connector a unique name"));
            }
            if spec.name.is_empty() || !spec.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(Problem::new(at("name"), format!("`{}` is not a valid connector name", spec.name), "use a-z, 0-9 and '-'"));
            }
            check_terms(spec, rules, &at)?;
            if !spec.cost_per_call.is_finite() || spec.cost_per_call < 0.0 {
                return Err(Problem::new(at("cost_per_call"), format!("{} is not a price", spec.cost_per_call), "write what one call costs in the platform's currency, e.g. 0.002 (0 for free)"));
            }
            let url = url::Url::parse(&spec.base_url).map_err(|e| {
                Problem::new(at("base_url"), format!("`{}` is not a URL ({e})", spec.base_url), "write it like \"https://api.vendor.com/v1\"")
            })?;
            let scheme = url.scheme().to_string();
            if scheme != "https" && scheme != "http" {
                return Err(Problem::new(at("base_url"), format!("scheme `{scheme}` is not http or https"), "use an https:// URL"));
            }
            if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
                return Err(Problem::new(at("base_url"), "has a query or credentials in it", "put credentials in `auth` with a secret, and only scheme://host/path in base_url"));
            }
            let host = url.host_str().unwrap_or_default().to_string();
            let port = url.port_or_known_default().unwrap_or(443);
            let base_path = url.path().trim_end_matches('/').to_string();
            let mut scopes = BTreeMap::new();
            for (scope, texts) in &spec.scopes {
                let compiled = texts
                    .iter()
                    .map(|t| t.parse::<ScopeRule>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Problem::new(at(&format!("scopes.{scope}")), e, "write rules like \"GET /bases/*\""))?;
                scopes.insert(scope.clone(), compiled);
            }
            Ok(Connector { spec: spec.clone(), scheme, host, port, base_path, scopes })
        })
        .collect()
}

fn check_terms(
    spec: &ConnectorSpec,
    rules: &ConnectorRules,
    at: &dyn Fn(&str) -> String,
) -> Result<(), Problem> {
    if rules.require_dpa && !spec.vendor.dpa {
        return Err(Problem::new(
            at("vendor.dpa"),
            format!(
                "connector `{}` has no data processing agreement, and `connector_rules.require_dpa` is on",
                spec.name
            ),
            "sign a DPA with the vendor and set `vendor.dpa = true`, or remove the connector",
        ));
    }
    if !rules.allowed_residency.is_empty() {
        let ok = spec
            .vendor
            .residency
            .as_ref()
            .is_some_and(|r| rules.allowed_residency.contains(r));
        if !ok {
            return Err(Problem::new(
                at("vendor.residency"),
                format!(
                    "connector `{}` keeps data in {:?}, not one of {:?}",
                    spec.name, spec.vendor.residency, rules.allowed_residency
                ),
                "choose a vendor region the platform allows, or set `vendor.residency`",
            ));
        }
    }
    if rules.require_incident_notification && spec.vendor.incident_notification.is_none() {
        return Err(Problem::new(
            at("vendor.incident_notification"),
            format!(
                "connector `{}` states no incident-notification SLA",
                spec.name
            ),
            "set `vendor.incident_notification`, e.g. \"72h\"",
        ));
    }
    Ok(())
}
