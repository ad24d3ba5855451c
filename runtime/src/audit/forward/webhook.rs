//! The webhook sink: batches of entries POSTed as JSON, acknowledged by a
//! 2xx answer.
//!
//! ```json
//! {"source": "warden", "host": "node-a", "first_seq": 41, "last_seq": 42,
//!  "entries": [{"seq": 41, …}, {"seq": 42, …}]}
//! ```
//!
//! Entries are exactly as the chain holds them. A batch that failed is
//! sent again, whole, with the same `Idempotency-Key`
//! (`<sink>-<first_seq>-<last_seq>`), so a receiver can drop a repeat.
//! The request goes through the egress client (one DNS lookup, timeouts,
//! size caps, no redirects) under the sink's own rules: the receiver is
//! the platform's, so it may be on an internal address.

use super::Sink;
use crate::audit::AuditEntry;
use crate::runtime::Runtime;
use std::sync::Arc;
use tokio_rustls::rustls::ClientConfig;
use warden_host_apis::egress::config::EgressRules;

pub(crate) struct Webhook {
    name: String,
    url: url::Url,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    token_secret: Option<String>,
    runtime: Arc<Runtime>,
    tls: Arc<ClientConfig>,
    rules: EgressRules,
    host: String,
}

impl Webhook {
    /// A sink posting to `settings.url`.
    ///
    /// # Errors
    /// The URL or a header does not parse.
    pub(crate) fn new(
        settings: &crate::config::audit_sinks::SinkSettings,
        runtime: Arc<Runtime>,
        tls: Arc<ClientConfig>,
    ) -> Result<Webhook, String> {
        let url = crate::platform_http::check_url(settings.url.as_deref().unwrap_or_default())?;
        let mut headers = Vec::new();
        for (name, value) in &settings.headers {
            headers.push((
                http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| format!("header `{name}`: {e}"))?,
                http::HeaderValue::from_str(value)
                    .map_err(|e| format!("header `{name}`'s value: {e}"))?,
            ));
        }
        let everywhere = ["0.0.0.0/0", "::/0"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let timeout = settings.timeout;
        Ok(Webhook {
            name: settings.name.clone(),
            url,
            headers,
            token_secret: settings.token_secret.clone(),
            runtime,
            tls,
            rules: EgressRules {
                allow_cidrs: everywhere,
                connect_timeout: timeout,
                first_byte_timeout: timeout,
                total_timeout: timeout,
                ..EgressRules::default()
            },
            host: super::hostname(),
        })
    }

    /// The bearer token, read from the secret store at each send (so a
    /// rotated token is used at once).
    async fn token(&self) -> Result<Option<String>, String> {
        let Some(name) = self.token_secret.clone() else {
            return Ok(None);
        };
        let runtime = self.runtime.clone();
        tokio::task::spawn_blocking(move || {
            let value = runtime
                .secrets()
                .map_err(|e| format!("{e:#}"))?
                .get(&name)
                .map_err(|e| format!("the token secret `{name}`: {e}"))?;
            String::from_utf8(value.expose().to_vec())
                .map_err(|_| format!("the token secret `{name}` is not text"))
        })
        .await
        .map_err(|e| format!("reading the token: {e}"))?
        .map(Some)
    }
}

#[async_trait::async_trait]
impl Sink for Webhook {
    async fn deliver(&mut self, entries: &[AuditEntry]) -> Result<(), String> {
        let (first, last) = match (entries.first(), entries.last()) {
            (Some(f), Some(l)) => (f.seq, l.seq),
            _ => return Ok(()),
        };
        let body = serde_json::json!({
            "source": "warden",
            "host": self.host,
            "first_seq": first,
            "last_seq": last,
            "entries": entries,
        });
        let mut outbound =
            crate::platform_http::outbound(&self.url, http::Method::POST, Some(&body))
                .ok_or_else(|| format!("cannot build a request for {}", self.url))?;
        let headers = outbound.request.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Ok(key) = http::HeaderValue::from_str(&format!("{}-{first}-{last}", self.name)) {
            headers.insert("idempotency-key", key);
        }
        if let Some(token) = self.token().await? {
            let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the token secret cannot be sent in a header".to_string())?;
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let reply = warden_host_apis::egress::client::send_trusting(
            outbound,
            &self.rules,
            Some(self.tls.clone()),
        )
        .await
        .map_err(|e| format!("{}: {e}", self.url))?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            // The receiver's own words, briefly (e.g. `bad token`).
            let said: String = String::from_utf8_lossy(&reply.body)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            Err(format!("{} answered {}: {said}", self.url, reply.status))
        }
    }

    fn reset(&mut self) {}
}
