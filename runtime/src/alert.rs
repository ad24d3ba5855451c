//! Alert delivery: a containment trip is posted as JSON to the platform's
//! `containment.alert_webhook` (a chat or paging hook).
//!
//! The hook is an approved URL in the platform's own config, and it still
//! goes out through the same egress client as app traffic: one DNS lookup,
//! private and metadata addresses refused unless `egress.allow_cidrs`
//! opens them, timeouts and size caps. Delivery never blocks the
//! invocation that tripped the rule; it is retried twice (after 0.5 s and
//! 2 s), and every outcome is logged on the host.

use bytes::Bytes;
use serde_json::Value;
use std::time::Duration;
use warden_host_apis::egress::client::{Outbound, send};
use warden_host_apis::egress::config::EgressRules;

/// Checks a webhook URL at config load: absolute http(s) with a host.
pub fn check_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{text}` is not an http(s) URL with a host"));
    }
    Ok(url)
}

fn outbound(url: &url::Url, body: &Value) -> Option<Outbound> {
    let host = url.host_str()?.trim_matches(['[', ']']).to_string();
    let port = url.port_or_known_default()?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let request = http::Request::post(path)
        .header(http::header::HOST, url.authority())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "warden-alert/1")
        .body(Bytes::from(body.to_string()))
        .ok()?;
    Some(Outbound {
        scheme: url.scheme().to_string(),
        host,
        port,
        request,
    })
}

/// Posts `body` to `url` in the background, with retries.
pub fn deliver(url: url::Url, body: Value, rules: EgressRules) {
    let task = async move {
        for (attempt, pause) in [0u64, 500, 2000].into_iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let Some(request) = outbound(&url, &body) else {
                eprintln!("warden: alert webhook {url}: cannot build the request");
                return;
            };
            match send(request, &rules).await {
                Ok(reply) if (200..300).contains(&reply.status) => return,
                Ok(reply) => eprintln!(
                    "warden: alert webhook {url} answered {} (attempt {})",
                    reply.status,
                    attempt + 1
                ),
                Err(e) => eprintln!(
                    "warden: alert webhook {url} failed: {e} (attempt {})",
                    attempt + 1
                ),
            }
        }
        eprintln!("warden: alert webhook {url}: gave up after 3 attempts");
    };
    // Its own thread and runtime: alerts are rare, and delivery must not
    // die with the runtime of the invocation that tripped the rule.
    let spawned = std::thread::Builder::new()
        .name("warden-alert".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(task),
                Err(e) => eprintln!("warden: alert webhook: no async runtime: {e}"),
            }
        });
    if let Err(e) = spawned {
        eprintln!("warden: alert webhook: cannot start the delivery thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_host_apis::egress::client::{SendError, resolve_permitted};

    #[test]
    fn urls_are_checked_and_requests_carry_the_path_and_host() {
        assert!(check_url("hooks.example.com/x").is_err());
        assert!(check_url("ftp://hooks.example.com/x").is_err());
        let url = check_url("https://hooks.example.com:8443/services/T1?x=1")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let out = outbound(&url, &serde_json::json!({"a": 1})).unwrap_or_else(|| unreachable!());
        assert_eq!(
            (out.scheme.as_str(), out.host.as_str(), out.port),
            ("https", "hooks.example.com", 8443)
        );
        assert_eq!(out.request.uri(), "/services/T1?x=1");
        assert_eq!(out.request.headers()["host"], "hooks.example.com:8443");
    }

    #[test]
    fn a_hook_on_a_metadata_or_private_address_is_refused_before_any_connect() {
        let rules = EgressRules::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| unreachable!("{e}"));
        for host in ["169.254.169.254", "10.0.0.8", "127.0.0.1"] {
            let decision = rt.block_on(resolve_permitted(host, 80, &rules));
            assert!(
                matches!(decision, Err(SendError::Blocked { .. })),
                "{host}: {decision:?}"
            );
        }
    }
}
