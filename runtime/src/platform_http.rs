//! Requests the host itself makes to URLs in the platform's own config
//! (alert hooks, the identity provider's JWKS), through the same egress
//! client as app traffic: one DNS lookup, timeouts, size caps, no
//! redirects.

use bytes::Bytes;
use warden_host_apis::egress::client::{Inbound, Outbound, SendError, send};
use warden_host_apis::egress::config::EgressRules;

pub use crate::config::urls::check_url;

/// A request body and its content type.
pub enum Body<'a> {
    Json(&'a serde_json::Value),
    /// `application/x-www-form-urlencoded` (an OAuth 2.0 token request).
    Form(&'a [(&'a str, &'a str)]),
}

/// The request for `method url` with an optional JSON body.
pub fn outbound(
    url: &url::Url,
    method: http::Method,
    json: Option<&serde_json::Value>,
) -> Option<Outbound> {
    outbound_with(url, method, json.map(Body::Json))
}

/// The request for `method url` with an optional body.
pub fn outbound_with(
    url: &url::Url,
    method: http::Method,
    body: Option<Body<'_>>,
) -> Option<Outbound> {
    let host = url.host_str()?.trim_matches(['[', ']']).to_string();
    let port = url.port_or_known_default()?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, url.authority())
        .header(http::header::USER_AGENT, "warden/1");
    let body = match body {
        Some(Body::Json(value)) => {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(value.to_string())
        }
        Some(Body::Form(fields)) => {
            request = request.header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                form.append_pair(k, v);
            }
            Bytes::from(form.finish())
        }
        None => Bytes::new(),
    };
    let request = request.body(body).ok()?;
    Some(Outbound {
        scheme: url.scheme().to_string(),
        host,
        port,
        request,
    })
}

/// POSTs `fields` as a form to `url` under `rules`.
pub async fn post_form(
    url: &url::Url,
    fields: &[(&str, &str)],
    rules: &EgressRules,
) -> Result<Inbound, SendError> {
    let outbound = outbound_with(url, http::Method::POST, Some(Body::Form(fields)))
        .ok_or_else(|| SendError::Upstream(format!("cannot build a request for {url}")))?;
    send(outbound, rules).await
}

/// Sends one request under `rules`.
pub async fn request(
    url: &url::Url,
    method: http::Method,
    json: Option<&serde_json::Value>,
    rules: &EgressRules,
) -> Result<Inbound, SendError> {
    let outbound = outbound(url, method, json)
        .ok_or_else(|| SendError::Upstream(format!("cannot build a request for {url}")))?;
    send(outbound, rules).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_host_apis::egress::client::resolve_permitted;

    #[test]
    fn urls_are_checked_and_requests_carry_the_path_and_host() {
        assert!(check_url("hooks.example.com/x").is_err());
        assert!(check_url("ftp://hooks.example.com/x").is_err());
        let url = check_url("https://hooks.example.com:8443/services/T1?x=1")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let out = outbound(&url, http::Method::POST, Some(&serde_json::json!({"a": 1})))
            .unwrap_or_else(|| unreachable!());
        assert_eq!(
            (out.scheme.as_str(), out.host.as_str(), out.port),
            ("https", "hooks.example.com", 8443)
        );
        assert_eq!(out.request.uri(), "/services/T1?x=1");
        assert_eq!(out.request.headers()["host"], "hooks.example.com:8443");
        assert_eq!(out.request.headers()["content-type"], "application/json");
    }

    #[test]
    fn a_url_on_a_metadata_or_private_address_is_refused_before_any_connect() {
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
