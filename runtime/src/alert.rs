//! Alert delivery: a containment trip is posted as JSON to the platform's
//! `containment.alert_webhook` (a chat or paging hook).
//!
//! The hook is an approved URL in the platform's own config, and it still
//! goes out through the same egress client as app traffic: one DNS lookup,
//! private and metadata addresses refused unless `egress.allow_cidrs`
//! opens them, timeouts and size caps. Delivery never blocks the
//! invocation that tripped the rule; it is retried twice (after 0.5 s and
//! 2 s), and every outcome is logged on the host.

use serde_json::Value;
use std::time::Duration;
use warden_host_apis::egress::config::EgressRules;

pub use crate::platform_http::check_url;

/// Posts `body` to `url` in the background, with retries.
pub fn deliver(url: url::Url, body: Value, rules: EgressRules) {
    let task = async move {
        for (attempt, pause) in [0u64, 500, 2000].into_iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            match crate::platform_http::request(&url, http::Method::POST, Some(&body), &rules).await
            {
                Ok(reply) if (200..300).contains(&reply.status) => return,
                Ok(reply) => tracing::warn!(
                    "alert webhook {url} answered {} (attempt {})",
                    reply.status,
                    attempt + 1
                ),
                Err(e) => {
                    tracing::warn!("alert webhook {url} failed: {e} (attempt {})", attempt + 1)
                }
            }
        }
        tracing::warn!("alert webhook {url}: gave up after 3 attempts");
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
                Err(e) => tracing::warn!("alert webhook: no async runtime: {e}"),
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("alert webhook: cannot start the delivery thread: {e}");
    }
}
