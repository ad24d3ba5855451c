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
//! team_claim = "department"    # optional: input.request.team in policies
//! # allow_http_loopback = true  # only for a provider on this machine
//! # dashboard sign-in (authorization code + PKCE):
//! client_id = "warden-dashboard"
//! authorization_endpoint = "https://idp.example.com/authorize"
//! token_endpoint = "https://idp.example.com/token"
//! ```
//!
//! Dashboard sign-in: the dashboard sends the browser to the provider with
//! a PKCE challenge (RFC 7636, S256); the provider sends it back with a
//! code; Warden exchanges code and verifier at the token endpoint (so the
//! page's content security policy stays `connect-src 'self'`) and hands
//! the dashboard the ID token, which it then presents like any bearer
//! token.
//!
//! Rules: the signature must verify with a key from the JWKS whose `kid`
//! the token names (asymmetric keys only: RSA, EC, Ed25519 — a symmetric
//! key in a JWKS is ignored); the algorithm must fit the key's type, so a
//! token cannot pick a weaker one; `iss`, `aud` and `exp` are required and
//! checked, and `nbf` when present (60 s leeway either way); the role
//! claim must be exactly one Warden role.
//!
//! Who the caller is (the [`Principal`] name) is namespaced by where it
//! comes from, as Kubernetes does for OIDC users: with `name_claim =
//! "email"` the (lower-cased) email, and only when `email_verified` is
//! true — an unverified email could be anyone's; any other claim is
//! qualified by the issuer, `<issuer>#<value>`, so a JWT with
//! `sub = "alice"` is never the Warden token named `alice`.
//!
//! The JWKS URL must be `https`; plain `http` is accepted only for a
//! loopback host and only with `allow_http_loopback = true`. The JWKS is
//! cached and fetched again after `refresh`, or when a token names an
//! unknown `kid` (a key rotation) — at most once every 30 s for unknown
//! `kid`s, and at most once every 30 s after a failed fetch, so forged
//! `kid`s or a provider that is down cannot make Warden hammer it (tokens
//! are refused in the meantime when no keys are cached).

use super::tokens::{Principal, Role, Via};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::time::{Duration, Instant};
use warden_host_apis::egress::config::EgressRules;
use warden_host_apis::units::Dur;

pub use crate::config::oidc::OidcSettings;

/// The least time between two JWKS fetches, whatever prompts them.
pub(crate) const MIN_REFETCH: Duration = Duration::from_secs(30);

struct Cached {
    keys: JwkSet,
    fetched: Instant,
}

/// The provider's keys as last fetched, and how fetching went.
#[derive(Default)]
struct Keys {
    cached: Option<Cached>,
    /// The last fetch of any kind, and whether it failed.
    last_attempt: Option<(Instant, bool)>,
    /// The last fetch prompted by a token naming an unknown `kid`.
    last_for_unknown_kid: Option<Instant>,
}

impl Keys {
    /// Whether a fetch may go out now for a token naming `kid`: the first
    /// one, a scheduled refresh, a retry at most once per [`MIN_REFETCH`]
    /// after a failure, and at most one per interval for unknown `kid`s.
    fn may_fetch(&self, kid: &str, refresh: Duration) -> bool {
        let recent = |t: Instant| t.elapsed() < MIN_REFETCH;
        if self
            .last_attempt
            .is_some_and(|(t, failed)| failed && recent(t))
        {
            return false;
        }
        match &self.cached {
            None => true,
            Some(c) if c.fetched.elapsed() >= refresh => true,
            Some(c) => c.keys.find(kid).is_none() && !self.last_for_unknown_kid.is_some_and(recent),
        }
    }
}

pub struct Oidc {
    settings: OidcSettings,
    keys: tokio::sync::Mutex<Keys>,
    /// Code exchanges per client address in the current window: the
    /// exchange is open to anyone and each costs a request to the
    /// provider, so one client cannot spend everyone's sign-ins.
    exchanges: std::sync::Mutex<(Instant, std::collections::HashMap<std::net::IpAddr, u32>)>,
}

/// At most this many code exchanges per client address per
/// [`EXCHANGE_WINDOW`].
pub(crate) const MAX_EXCHANGES: u32 = 10;
pub(crate) const EXCHANGE_WINDOW: Duration = Duration::from_secs(10);

/// Why a code exchange gave no token.
#[derive(Debug)]
pub enum ExchangeError {
    /// This client exchanged [`MAX_EXCHANGES`] codes in the window.
    TooMany,
    /// Dashboard sign-in is not configured.
    NotConfigured,
    /// Refused: why, for the host's log.
    Refused(String),
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
            keys: tokio::sync::Mutex::new(Keys::default()),
            exchanges: std::sync::Mutex::new((Instant::now(), Default::default())),
        }
    }

    /// The rules for the host's own requests to the provider: it is the
    /// platform's own choice and may live on a private network, so app
    /// address rules do not apply; requests wait for it, so it is short.
    fn provider_rules() -> Result<EgressRules, String> {
        Ok(EgressRules {
            allow_cidrs: vec![
                "0.0.0.0/0".parse().map_err(|e| format!("{e}"))?,
                "::/0".parse().map_err(|e| format!("{e}"))?,
            ],
            total_timeout: Dur(Duration::from_secs(10)),
            ..EgressRules::default()
        })
    }

    /// What the dashboard needs to start a sign-in, when it is configured:
    /// where to send the browser, as which client, for which scopes.
    pub fn sign_in(&self) -> Option<serde_json::Value> {
        let s = &self.settings;
        Some(serde_json::json!({
            "authorization_endpoint": s.authorization_endpoint.as_ref()?,
            "client_id": s.client_id.as_ref()?,
            "scopes": s.scopes,
        }))
    }

    /// Exchanges an authorization code (with the PKCE verifier the browser
    /// kept) for the provider's ID token, and verifies it as any bearer
    /// token is verified. Returns the token and who it names. The error
    /// says why, for the host's log.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<(String, Principal), ExchangeError> {
        let s = &self.settings;
        let (Some(client_id), Some(endpoint)) = (&s.client_id, &s.token_endpoint) else {
            return Err(ExchangeError::NotConfigured);
        };
        {
            let mut window = self.exchanges.lock().unwrap_or_else(|p| p.into_inner());
            if window.0.elapsed() >= EXCHANGE_WINDOW {
                *window = (Instant::now(), Default::default());
            }
            let key = client.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            let used = window.1.entry(key).or_insert(0);
            if *used >= MAX_EXCHANGES {
                return Err(ExchangeError::TooMany);
            }
            *used += 1;
        }
        self.exchange_checked(client_id, endpoint, code, verifier, redirect_uri)
            .await
            .map_err(ExchangeError::Refused)
    }

    async fn exchange_checked(
        &self,
        client_id: &str,
        endpoint: &str,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<(String, Principal), String> {
        let url = crate::platform_http::check_url(endpoint)?;
        let reply = crate::platform_http::post_form(
            &url,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("client_id", client_id),
                ("code_verifier", verifier),
            ],
            &Self::provider_rules()?,
        )
        .await
        .map_err(|e| format!("the token endpoint {url} could not be reached: {e}"))?;
        if reply.status != 200 {
            return Err(format!(
                "the token endpoint {url} answered {}: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        }
        let answer: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("the token endpoint's answer is not JSON: {e}"))?;
        let token = answer["id_token"]
            .as_str()
            .ok_or("the token endpoint's answer has no id_token")?
            .to_string();
        let principal = self.verify(&token).await?;
        Ok((token, principal))
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let bytes = match (&self.settings.jwks_file, &self.settings.jwks_url) {
            (Some(path), _) => {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
            (None, Some(url)) => {
                let url = crate::platform_http::check_url(url)?;
                let rules = Self::provider_rules()?;
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

    /// The key named `kid`, from the cache or a fresh fetch. Requests that
    /// arrive during a fetch wait for it rather than start their own.
    async fn key(&self, kid: &str) -> Result<Jwk, String> {
        let mut keys = self.keys.lock().await;
        if keys.may_fetch(kid, self.settings.refresh.get()) {
            let for_unknown_kid = keys
                .cached
                .as_ref()
                .is_some_and(|c| c.keys.find(kid).is_none());
            let fetched = self.fetch().await;
            // Stamped when the fetch ended, so a provider slower than the
            // interval still gets one fetch per interval, not back to back.
            let now = Instant::now();
            if for_unknown_kid {
                keys.last_for_unknown_kid = Some(now);
            }
            keys.last_attempt = Some((now, fetched.is_err()));
            match fetched {
                Ok(set) => {
                    keys.cached = Some(Cached {
                        keys: set,
                        fetched: Instant::now(),
                    })
                }
                Err(e) if keys.cached.is_none() => return Err(e),
                Err(e) => tracing::warn!("keeping the cached JWKS: {e}"),
            }
        }
        let cached = keys.cached.as_ref().ok_or_else(|| {
            format!(
                "the identity provider's keys could not be fetched, and the next try is at most {} s away",
                MIN_REFETCH.as_secs()
            )
        })?;
        cached
            .keys
            .find(kid)
            .cloned()
            .ok_or_else(|| format!("no key `{kid}` in the provider's JWKS"))
    }

    /// The team the claims give, with `team_claim` set: a string, or a
    /// list of exactly one (a team is one value in a policy; several would
    /// make the choice Warden's).
    fn team(&self, claims: &serde_json::Value) -> Result<Option<String>, String> {
        let Some(claim) = self.settings.team_claim.as_deref() else {
            return Ok(None);
        };
        let team = match &claims[claim] {
            serde_json::Value::Null => return Ok(None),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) if a.len() == 1 && a[0].is_string() => {
                a[0].as_str().unwrap_or_default().to_string()
            }
            _ => {
                return Err(format!(
                    "the JWT's `{claim}` claim (team_claim) is not one team; give it a string"
                ));
            }
        };
        match super::tokens::team_problem(&team) {
            Some(problem) => Err(format!("the JWT's `{claim}` claim: {problem}")),
            None => Ok(Some(team)),
        }
    }

    /// The principal name the claims give (see the module's rules).
    fn principal_name(&self, claims: &serde_json::Value) -> Result<String, String> {
        let claim = self.settings.name_claim.as_str();
        let value = claims[claim]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("the JWT has no `{claim}` claim"))?;
        if claim != "email" {
            return Ok(format!("{}#{value}", self.settings.issuer));
        }
        // Some providers send the flag as a string (AWS Cognito does).
        let verified = match &claims["email_verified"] {
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::String(s) => s == "true",
            _ => false,
        };
        if verified {
            Ok(value.to_lowercase())
        } else {
            Err(format!(
                "the JWT's email `{value}` is not verified (`email_verified` is not true); Warden names people by verified emails only"
            ))
        }
    }

    /// Verifies a JWT and returns who it is from; the error says why not
    /// (for the host's log: callers get a generic 401).
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
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| format!("JWT rejected: {e}"))?;
        let claims = data.claims;
        let name = self.principal_name(&claims)?;
        let team = self.team(&claims)?;
        let roles: Vec<&str> = match &claims[&self.settings.role_claim] {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        };
        let known: Vec<Role> = roles
            .iter()
            .filter_map(|r| serde_json::from_value(serde_json::Value::String(r.to_string())).ok())
            // The identity provider's own SCIM credential is a Warden
            // token, never a person's sign-in.
            .filter(|r| *r != Role::Scim)
            .collect();
        match known.as_slice() {
            [role] => Ok(Principal {
                name,
                role: *role,
                via: Via::Oidc,
                team,
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
