//! `[admin.oidc]` in `warden.toml`: sign-in with the company's identity
//! provider (how tokens are verified and exchanged is `crate::admin::oidc`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use warden_host_apis::units::Dur;

/// `[admin.oidc]` in `warden.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: Option<String>,
    pub jwks_file: Option<PathBuf>,
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    #[serde(default = "default_name_claim")]
    pub name_claim: String,
    /// The claim naming the caller's team (`input.request.team` in
    /// publish policies), e.g. `department`; a string, or a list of one.
    /// Unset: sign-ins carry no team.
    pub team_claim: Option<String>,
    #[serde(default = "default_refresh")]
    pub refresh: Dur,
    /// Accept `http://` provider URLs on a loopback host (a provider on
    /// this machine, or a test); never any other plain-HTTP URL.
    #[serde(default)]
    pub allow_http_loopback: bool,
    /// Dashboard sign-in (authorization code flow with PKCE, RFC 7636):
    /// the dashboard's client id at the provider; set with the two
    /// endpoints below. The `audience` is usually this client id.
    pub client_id: Option<String>,
    /// Where the browser goes to sign in.
    pub authorization_endpoint: Option<String>,
    /// Where Warden exchanges the code for the ID token.
    pub token_endpoint: Option<String>,
    /// The scopes asked for at sign-in.
    #[serde(default = "default_scopes")]
    pub scopes: String,
}

fn default_scopes() -> String {
    "openid email".into()
}

fn default_role_claim() -> String {
    "warden_role".into()
}

fn default_name_claim() -> String {
    "sub".into()
}

fn default_refresh() -> Dur {
    Dur(Duration::from_secs(600))
}

impl OidcSettings {
    /// Why `url` (the value of `field`) cannot be used: not a URL, or plain
    /// http outside the loopback exception.
    fn url_problem(
        &self,
        field: &'static str,
        url: &str,
    ) -> Option<(&'static str, String, &'static str)> {
        match super::urls::check_url(url) {
            Err(p) => Some((field, p, "write the full https:// URL")),
            Ok(u) if u.scheme() == "https" => None,
            Ok(u) if is_loopback(&u) && self.allow_http_loopback => None,
            Ok(u) if is_loopback(&u) => Some((
                field,
                format!("`{url}` is plain http"),
                "use https, or set admin.oidc.allow_http_loopback = true for a provider on this machine",
            )),
            Ok(_) => Some((
                field,
                format!(
                    "`{url}` is plain http: anyone on the path could read or swap what it carries"
                ),
                "write the https:// URL",
            )),
        }
    }

    /// What is wrong with the settings, as (field, problem, fix).
    pub fn problem(&self) -> Option<(&'static str, String, &'static str)> {
        let sign_in = [
            &self.client_id,
            &self.authorization_endpoint,
            &self.token_endpoint,
        ];
        if sign_in.iter().any(|v| v.is_some()) && sign_in.iter().any(|v| v.is_none()) {
            return Some((
                "admin.oidc.client_id",
                "dashboard sign-in needs client_id, authorization_endpoint and token_endpoint together".into(),
                "set all three (from the provider's /.well-known/openid-configuration), or none",
            ));
        }
        for (field, url) in [
            (
                "admin.oidc.authorization_endpoint",
                &self.authorization_endpoint,
            ),
            ("admin.oidc.token_endpoint", &self.token_endpoint),
        ] {
            if let Some(problem) = url.as_deref().and_then(|u| self.url_problem(field, u)) {
                return Some(problem);
            }
        }
        match (&self.jwks_url, &self.jwks_file) {
            (Some(_), Some(_)) | (None, None) => Some((
                "admin.oidc.jwks_url",
                "set exactly one of jwks_url and jwks_file".into(),
                "point jwks_url at the provider's JWKS (see its /.well-known/openid-configuration)",
            )),
            (Some(url), None) => self.url_problem("admin.oidc.jwks_url", url),
            (None, Some(_)) => None,
        }
    }
}

/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`).
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
