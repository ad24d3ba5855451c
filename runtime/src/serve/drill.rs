//! Incident drills (`warden drill APP`): proof, on the live host, that the
//! kill switch disables an app — before an incident needs it.
//!
//! A drill pulls the app's kill switch, then checks, each as a result:
//! 1. the switch is pulled;
//! 2. a new request to the app's route is refused (a real HTTP request to
//!    this host's app listener: 503);
//! 3. a call to each connector the app is granted is refused at the kill
//!    check, the first stage of a call, so no credential is fetched or
//!    sent (the governed call path itself, made only while the switch is
//!    pulled, so nothing can leave).
//!
//! It then puts the app back as it was (unkilled) and checks the switch
//! is released. The kill, the unkill and the drill with its results are audited.
//! An app that is already killed is not drilled: putting it back would
//! undo an operator's kill.

use super::Server;
use crate::audit::{AuditEvent, AuditKind};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use warden_host_apis::egress::governed::{CallError, CallRequest, EgressState, Target};
use warden_host_apis::invocation::InvocationContext;

/// One check of a drill.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    /// `passed`, `failed`, or `skipped` (nothing to check, e.g. no route).
    pub result: &'static str,
    pub detail: String,
}

/// What a drill found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub app: String,
    pub version: String,
    pub passed: bool,
    pub checks: Vec<Check>,
    pub duration_ms: u64,
}

/// Why a drill did not run.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("app `{0}` is not served on this host")]
    NotServed(String),
    #[error(
        "app `{0}` is killed already; a drill needs a running app (unkill it first, or leave it)"
    )]
    Killed(String),
    #[error("the drill could not {0}")]
    Failed(String),
}

fn check(check: &'static str, passed: bool, detail: impl Into<String>) -> Check {
    Check {
        check,
        result: if passed { "passed" } else { "failed" },
        detail: detail.into(),
    }
}

/// Runs a drill of `app` as `actor`.
///
/// # Errors
/// The app is not served here or is killed already, or the kill or the
/// unkill could not be made (then the app's state is as the error says).
pub async fn run(server: &Arc<Server>, app: &str, actor: &str) -> Result<Report, DrillError> {
    let started = Instant::now();
    let loaded = server
        .loaded(app)
        .ok_or_else(|| DrillError::NotServed(app.to_string()))?;
    if loaded.kill.is_killed() {
        return Err(DrillError::Killed(app.to_string()));
    }
    let runtime = server.runtime().clone();
    let mut checks = Vec::new();
    let (rt, name, who) = (runtime.clone(), app.to_string(), actor.to_string());
    tokio::task::spawn_blocking(move || {
        rt.kill(
            &name,
            "incident drill: the kill switch is tested, then released",
            &who,
        )
    })
    .await
    .map_err(|e| DrillError::Failed(format!("pull the kill switch: {e}")))?
    .map_err(|e| DrillError::Failed(format!("pull the kill switch: {e}")))?;
    checks.push(check(
        "kill switch pulled",
        loaded.kill.is_killed(),
        "the app's switch, shared by its invocations on this host",
    ));
    let route = loaded.manifest.http.as_ref().map(|h| h.route.clone());
    checks.push(request_check(server, route.as_deref(), 503, "new requests refused").await);
    checks.extend(connector_checks(&loaded).await);
    let (rt, name, who) = (runtime.clone(), app.to_string(), actor.to_string());
    tokio::task::spawn_blocking(move || rt.unkill(&name, &who))
        .await
        .map_err(|e| {
            DrillError::Failed(format!(
                "release the kill switch: {e}; the app stays killed"
            ))
        })?
        .map_err(|e| {
            DrillError::Failed(format!(
                "release the kill switch: {e}; the app stays killed"
            ))
        })?;
    checks.push(check(
        "restored",
        !loaded.kill.is_killed(),
        "the kill switch released; the app runs as before",
    ));
    let passed = checks.iter().all(|c| c.result != "failed");
    let report = Report {
        app: app.to_string(),
        version: loaded.manifest.app.version.clone(),
        passed,
        checks,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let event = AuditEvent {
        kind: AuditKind::AppDrilled,
        app: Some(app.to_string()),
        actor: actor.to_string(),
        details: serde_json::to_value(&report).unwrap_or_default(),
    };
    let audit = runtime.clone();
    tokio::task::spawn_blocking(move || audit.audit().append_blocking(event))
        .await
        .map_err(|e| DrillError::Failed(format!("record the drill: {e}")))?
        .map_err(|e| DrillError::Failed(format!("record the drill: {e}")))?;
    Ok(report)
}

/// A request to `route` on this host's app listener must answer `want`.
async fn request_check(
    server: &Arc<Server>,
    route: Option<&str>,
    want: u16,
    name: &'static str,
) -> Check {
    let Some(route) = route else {
        return Check {
            check: name,
            result: "skipped",
            detail: "the app has no HTTP route".into(),
        };
    };
    let Some(listen) = server.listen_addr() else {
        return check(name, false, "this host's app listener is not known");
    };
    let path = route.trim_end_matches("...").to_string();
    let url = match url::Url::parse(&format!("http://{listen}{path}")) {
        Ok(url) => url,
        Err(e) => return check(name, false, format!("http://{listen}{path}: {e}")),
    };
    let loopback = ["127.0.0.0/8", "::1/128", "0.0.0.0/8"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    let rules = warden_host_apis::egress::config::EgressRules {
        allow_cidrs: loopback,
        ..Default::default()
    };
    match crate::platform_http::request(&url, http::Method::GET, None, &rules).await {
        Ok(reply) if reply.status == want => {
            check(name, true, format!("GET {path} answered {}", reply.status))
        }
        Ok(reply) => check(
            name,
            false,
            format!("GET {path} answered {}, not {want}", reply.status),
        ),
        Err(e) => check(name, false, format!("GET {path}: {e}")),
    }
}

/// Each granted connector's call must be refused at the kill check.
async fn connector_checks(loaded: &crate::app::LoadedApp) -> Vec<Check> {
    const NAME: &str = "connector calls refused, no credential released";
    let grants = &loaded.grants.egress.policy.grants;
    if grants.is_empty() {
        return vec![Check {
            check: NAME,
            result: "skipped",
            detail: "the app is granted no connector".into(),
        }];
    }
    let mut out = Vec::new();
    for grant in grants {
        let connector = grant.connector.name().to_string();
        // Only while the switch is pulled: then the call stops at its
        // first stage and nothing can leave.
        if !loaded.kill.is_killed() {
            out.push(check(
                NAME,
                false,
                format!("`{connector}`: not tried, the switch is not pulled"),
            ));
            continue;
        }
        let context =
            InvocationContext::new(loaded.id.clone(), loaded.meter.clone(), loaded.kill.clone());
        let egress = EgressState::new(loaded.grants.egress.clone(), &context);
        let answer = egress
            .perform(CallRequest {
                method: http::Method::GET,
                target: Target::Connector(connector.clone()),
                path_and_query: "/".into(),
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::new(),
            })
            .await;
        out.push(match answer {
            Err(CallError::Denied {
                kind: warden_host_apis::denial::Denial::Killed,
                ..
            }) => check(
                NAME,
                true,
                format!("`{connector}`: refused as killed, before its credential is fetched"),
            ),
            Err(e) => check(
                NAME,
                false,
                format!("`{connector}`: refused, but not as killed: {e}"),
            ),
            Ok(reply) => check(
                NAME,
                false,
                format!(
                    "`{connector}`: the call went out and answered {}",
                    reply.status
                ),
            ),
        });
    }
    out
}
