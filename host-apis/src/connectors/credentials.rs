//! Adding a connector's credential to an outgoing request, host-side.
//!
//! The credential is read from the secret store at call time (so a rotation
//! applies to the next call) and goes only into the outgoing request's
//! headers; nothing here returns it to a caller that could pass it to a
//! guest. OAuth2 access tokens are fetched with the client-credentials
//! grant and cached per app and connector until shortly before they
//! expire; an app's are dropped when it is killed or retired
//! ([`Credentials::drop_tokens`]), so a contained app holds none.

use super::config::{AuthSpec, Connector};
use crate::egress::client::{self, Outbound};
use crate::egress::config::EgressRules;
use crate::secrets::{SecretError, SecretStore};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Refresh a cached token this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

pub struct Credentials {
    secrets: Option<Arc<SecretStore>>,
    /// (app, connector) -> the access token and when to stop using it.
    tokens: Mutex<HashMap<(String, String), (HeaderValue, Instant)>>,
    token_fetches: AtomicU64,
}

/// Credential headers, with their values marked sensitive.
pub type CredentialHeaders = Vec<(HeaderName, HeaderValue)>;

impl Credentials {
    pub fn new(secrets: Option<Arc<SecretStore>>) -> Credentials {
        Credentials {
            secrets,
            tokens: Mutex::new(HashMap::new()),
            token_fetches: AtomicU64::new(0),
        }
    }

    /// The secret store credentials are read from (none when no connector
    /// of the catalog needs a secret).
    pub fn store(&self) -> Option<&SecretStore> {
        self.secrets.as_deref()
    }

    /// How many OAuth2 token requests were made (for tests and metrics).
    pub fn token_fetches(&self) -> u64 {
        self.token_fetches.load(Ordering::Relaxed)
    }

    /// Forgets every access token cached for `app`; how many. Its next
    /// call, if it is ever allowed one, fetches a new token.
    pub fn drop_tokens(&self, app: &str) -> usize {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let before = tokens.len();
        tokens.retain(|(holder, _), _| holder != app);
        before - tokens.len()
    }

    fn secret(&self, name: &str) -> Result<Vec<u8>, String> {
        let store = self
            .secrets
            .as_ref()
            .ok_or("no secret store is configured")?;
        store.get(name).map(|v| v.expose().to_vec()).map_err(|e| match e {
            SecretError::Missing(_) => format!("the credential secret `{name}` is not set; an admin must run `warden secrets set {name}`"),
            other => other.to_string(),
        })
    }

    /// The headers that authenticate `app`'s request to `connector`.
    /// Errors are host-side configuration problems, worded for the
    /// operator.
    pub async fn headers(
        &self,
        app: &str,
        connector: &Connector,
        rules: &EgressRules,
    ) -> Result<CredentialHeaders, String> {
        let sensitive =
            |name: HeaderName, value: Vec<u8>| -> Result<(HeaderName, HeaderValue), String> {
                let mut v = HeaderValue::from_bytes(&value)
                    .map_err(|_| "the credential is not a valid header value".to_string())?;
                v.set_sensitive(true);
                Ok((name, v))
            };
        match &connector.spec.auth {
            AuthSpec::None => Ok(Vec::new()),
            AuthSpec::Bearer { secret } => {
                let mut value = b"Bearer ".to_vec();
                value.extend(self.secret(secret)?);
                Ok(vec![sensitive(http::header::AUTHORIZATION, value)?])
            }
            AuthSpec::ApiKey { header, secret } => {
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| format!("`{header}` is not a header name"))?;
                Ok(vec![sensitive(name, self.secret(secret)?)?])
            }
            AuthSpec::Basic { username, secret } => {
                let mut pair = format!("{username}:").into_bytes();
                pair.extend(self.secret(secret)?);
                let value = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                );
                Ok(vec![sensitive(
                    http::header::AUTHORIZATION,
                    value.into_bytes(),
                )?])
            }
            AuthSpec::Oauth2 { .. } => {
                let token = self.oauth2_token(app, connector, rules).await?;
                Ok(vec![(http::header::AUTHORIZATION, token)])
            }
        }
    }

    async fn oauth2_token(
        &self,
        app: &str,
        connector: &Connector,
        rules: &EgressRules,
    ) -> Result<HeaderValue, String> {
        let name = (app.to_string(), connector.name().to_string());
        if let Some((token, expires)) = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
            && Instant::now() < *expires
        {
            return Ok(token.clone());
        }
        let AuthSpec::Oauth2 {
            token_url,
            client_id,
            secret,
            scopes,
        } = &connector.spec.auth
        else {
            return Err("not an OAuth2 connector".into());
        };
        let client_secret = String::from_utf8(self.secret(secret)?)
            .map_err(|_| "the client secret is not UTF-8".to_string())?;
        let url =
            url::Url::parse(token_url).map_err(|e| format!("token_url `{token_url}`: {e}"))?;
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            form.append_pair("client_id", client_id);
            form.append_pair("client_secret", &client_secret);
            if !scopes.is_empty() {
                form.append_pair("scope", &scopes.join(" "));
            }
            Bytes::from(form.finish())
        };
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let request = http::Request::post(path)
            .header(http::header::HOST, authority(&host, port, url.scheme()))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .map_err(|e| e.to_string())?;
        self.token_fetches.fetch_add(1, Ordering::Relaxed);
        let response = client::send(
            Outbound {
                scheme: url.scheme().to_string(),
                host,
                port,
                request,
            },
            rules,
        )
        .await
        .map_err(|e| format!("token request to {token_url} failed: {e}"))?;
        if response.status != 200 {
            return Err(format!(
                "token endpoint {token_url} answered {}",
                response.status
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&response.body)
            .map_err(|e| format!("token endpoint {token_url} sent no access_token: {e}"))?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(300));
        let mut value = HeaderValue::from_str(&format!("Bearer {}", parsed.access_token))
            .map_err(|_| "the access token is not a valid header value".to_string())?;
        value.set_sensitive(true);
        let expires = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, (value.clone(), expires));
        Ok(value)
    }
}

/// `host[:port]` as a Host header, omitting the scheme's default port.
pub fn authority(host: &str, port: u16, scheme: &str) -> String {
    let default = if scheme == "http" { 80 } else { 443 };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if port == default {
        host
    } else {
        format!("{host}:{port}")
    }
}
