//! Optional OIDC/JWT sign-in for the admin API: a bearer token that is a
//! JWT is verified against the identity provider's JWKS, and its claims
//! name the caller and their Warden role.
//!
//! ```toml
//! [admin.oidc]
//! issuer = "https://idp.example.com"
//! audience = "warden"
//! jwks_url = "https://idp.example.com/.well-known/jwks.json"  # or jwks_file = "..."
//! role_claim = "warden_role"   # "creator" | "reviewer" | "admin" | "auditor"
//! name_claim = "email"         # who the caller is (default "sub")
//! ```
//!
//! Rules: the signature must verify with a key from the JWKS whose `kid`
//! the token names (asymmetric keys only: RSA, EC, Ed25519 — a symmetric
//! key in a JWKS is ignored); the algorithm must fit the key's type, so a
//! token cannot pick a weaker one; `iss`, `aud` and `exp` are required and
//! checked (60 s leeway); the role claim must be exactly one Warden role.
//! The JWKS is cached and fetched again after `refresh`, or when a token
//! names an unknown `kid` (at most once every 30 s, so forged `kid`s cannot
//! make Warden hammer the provider).

use super::tokens::{Principal, Role};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use warden_host_apis::egress::config::EgressRules;
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
    #[serde(default = "default_refresh")]
    pub refresh: Dur,
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
    /// What is wrong with the settings, as (field, problem, fix).
    pub fn problem(&self) -> Option<(&'static str, String, &'static str)> {
        match (&self.jwks_url, &self.jwks_file) {
            (Some(_), Some(_)) | (None, None) => Some((
                "admin.oidc.jwks_url",
                "set exactly one of jwks_url and jwks_file".into(),
                "point jwks_url at the provider's JWKS (see its /.well-known/openid-configuration)",
            )),
            (Some(url), None) => crate::platform_http::check_url(url).err().map(|p| {
                (
                    "admin.oidc.jwks_url",
                    p,
                    "write the full https:// URL of the JWKS",
                )
            }),
            (None, Some(_)) => None,
        }
    }
}

struct Cached {
    keys: JwkSet,
    fetched: Instant,
}

pub struct Oidc {
    settings: OidcSettings,
    cache: tokio::sync::Mutex<Option<Cached>>,
    last_forced: Mutex<Option<Instant>>,
}

/// The algorithms a key may verify: fixed by its type, never by the token.
fn algorithms(jwk: &Jwk) -> Option<Vec<Algorithm>> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ]),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Some(vec![Algorithm::ES256]),
            EllipticCurve::P384 => Some(vec![Algorithm::ES384]),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Some(vec![Algorithm::EdDSA]),
        AlgorithmParameters::OctetKey(_) => None,
    }
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Oidc {
        Oidc {
            settings,
            cache: tokio::sync::Mutex::new(None),
            last_forced: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let bytes = match (&self.settings.jwks_file, &self.settings.jwks_url) {
            (Some(path), _) => {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
            (None, Some(url)) => {
                let url = crate::platform_http::check_url(url)?;
                // The provider is the platform's own choice: it may live on
                // a private network, so app address rules do not apply.
                let rules = EgressRules {
                    allow_cidrs: vec![
                        "0.0.0.0/0".parse().map_err(|e| format!("{e}"))?,
                        "::/0".parse().map_err(|e| format!("{e}"))?,
                    ],
                    ..EgressRules::default()
                };
                let reply = crate::platform_http::request(&url, http::Method::GET, None, &rules)
                    .await
                    .map_err(|e| format!("cannot fetch the JWKS from {url}: {e}"))?;
                if reply.status != 200 {
                    return Err(format!("the JWKS at {url} answered {}", reply.status));
                }
                reply.body.to_vec()
            }
            (None, None) => return Err("no JWKS configured".into()),
        };
        serde_json::from_slice(&bytes).map_err(|e| format!("the JWKS is not valid: {e}"))
    }

    /// The key named `kid`, from the cache or a fresh fetch.
    async fn key(&self, kid: &str) -> Result<Jwk, String> {
        let mut cache = self.cache.lock().await;
        let stale = cache
            .as_ref()
            .is_none_or(|c| c.fetched.elapsed() >= self.settings.refresh.get());
        let missing = cache.as_ref().is_some_and(|c| c.keys.find(kid).is_none());
        let may_force = {
            let mut last = self.last_forced.lock().unwrap_or_else(|p| p.into_inner());
            let ok = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(30));
            if ok && missing {
                *last = Some(Instant::now());
            }
            ok
        };
        if stale || (missing && may_force) {
            match self.fetch().await {
                Ok(keys) => {
                    *cache = Some(Cached {
                        keys,
                        fetched: Instant::now(),
                    })
                }
                Err(e) if cache.is_none() => return Err(e),
                Err(e) => eprintln!("warden: keeping the cached JWKS: {e}"),
            }
        }
        cache
            .as_ref()
            .and_then(|c| c.keys.find(kid).cloned())
            .ok_or_else(|| format!("no key `{kid}` in the provider's JWKS"))
    }

    /// Verifies a JWT and returns who it is from.
    pub async fn verify(&self, token: &str) -> Result<Principal, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        let kid = header.kid.ok_or("the JWT names no key (`kid`)")?;
        let jwk = self.key(&kid).await?;
        let algorithms = algorithms(&jwk).ok_or("the key's type is not accepted")?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable key `{kid}`: {e}"))?;
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = 60;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| format!("JWT rejected: {e}"))?;
        let claims = data.claims;
        let name = claims[&self.settings.name_claim]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("the JWT has no `{}` claim", self.settings.name_claim))?;
        let roles: Vec<&str> = match &claims[&self.settings.role_claim] {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        };
        let known: Vec<Role> = roles
            .iter()
            .filter_map(|r| serde_json::from_value(serde_json::Value::String(r.to_string())).ok())
            .collect();
        match known.as_slice() {
            [role] => Ok(Principal {
                name: name.to_string(),
                role: *role,
            }),
            [] => Err(format!(
                "the JWT's `{}` claim names no Warden role (creator, reviewer, admin, auditor)",
                self.settings.role_claim
            )),
            _ => Err(format!(
                "the JWT's `{}` claim names several Warden roles; give each identity one",
                self.settings.role_claim
            )),
        }
    }
}
