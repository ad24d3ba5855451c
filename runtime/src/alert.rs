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

/// The audit chain, read at most once and only when asked: how an alert
/// raised once (a month's budget threshold, a credential's age) finds
/// whether it was raised already — before a restart, or by the node that
/// ran the schedules before this one.
pub struct Chain<'a> {
    runtime: &'a crate::runtime::Runtime,
    entries: Option<Vec<crate::audit::AuditEntry>>,
}

impl<'a> Chain<'a> {
    pub fn new(runtime: &'a crate::runtime::Runtime) -> Chain<'a> {
        Chain {
            runtime,
            entries: None,
        }
    }

    /// Whether an entry of `kind` whose details `same` accepts is on the
    /// chain. Blocking: reads the log the first time.
    pub fn holds(&mut self, kind: crate::audit::AuditKind, same: impl Fn(&Value) -> bool) -> bool {
        let runtime = self.runtime;
        self.entries
            .get_or_insert_with(|| {
                runtime
                    .audit()
                    .read_blocking()
                    .map(|(entries, _)| entries)
                    .unwrap_or_default()
            })
            .iter()
            .rev()
            .any(|e| e.kind == kind.as_str() && same(&e.details))
    }
}

/// Raises an alert: the audit entry (`kind`, by `actor`), and the JSON
/// post to `hook` (the entry's details with `event` and `audit_seq`) if
/// one is set. The caller prints its ALERT line. Blocking.
pub fn raise(
    runtime: &crate::runtime::Runtime,
    kind: crate::audit::AuditKind,
    actor: &str,
    app: Option<&str>,
    details: Value,
    hook: Option<&str>,
) {
    let seq = runtime
        .audit()
        .append_blocking(crate::audit::AuditEvent {
            kind,
            app: app.map(str::to_string),
            actor: actor.into(),
            details: details.clone(),
        })
        .map(|e| e.seq)
        .map_err(|e| tracing::warn!("{} not audited: {e}", kind.as_str()))
        .ok();
    if let Some(url) = hook.and_then(|u| check_url(u).ok()) {
        let mut body = details;
        body["event"] = serde_json::json!(kind.as_str());
        body["audit_seq"] = serde_json::json!(seq);
        if let Some(app) = app {
            body["app"] = serde_json::json!(app);
        }
        deliver(url, body, runtime.platform().egress.clone());
    }
}
