//! Incident drills (`warden drill APP`): proof, on the live host, that the
//! kill switch disables an app — before an incident needs it.
//!
//! A drill pulls the app's kill switch, then checks, each as a result:
//! 1. the switch is pulled;
//! 2. a new request to the app's route is refused (a real HTTP request to
//!    this host's app listener: 503, as killed);
//! 3. a call to each connector the app is granted is refused at the kill
//!    check, the first stage of a call, so no credential is fetched or
//!    sent. The probe goes through the governed call path with the app's
//!    grant, but with a switch of its own, pulled only once the app's is,
//!    and no credentials at all: nothing can leave, whatever happens to
//!    the app's switch meanwhile (an admin's unkill).
//!
//! It then releases the switch — only if the kill on record is still the
//! drill's own: a kill anyone made meanwhile stays, and the report says
//! so. The kill, the unkill and the drill with its results are audited.
//! An app that is already killed is not drilled (its kill is never taken
//! over), and drills of one app take turns (the admin API's app lock).

use super::Server;
use crate::audit::{AuditEvent, AuditKind};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use warden_host_apis::connectors::credentials::Credentials;
use warden_host_apis::egress::governed::{
    CallError, CallRequest, EgressGrant, EgressState, Target,
};
use warden_host_apis::invocation::InvocationContext;
use warden_host_apis::kill::KillSwitch;

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

fn skipped(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        result: "skipped",
        detail: detail.into(),
    }
}

/// Runs a drill of `app` as `actor`.
///
/// # Errors
/// The app is not served here or is killed already, or the kill could
/// not be made.
pub async fn run(server: &Arc<Server>, app: &str, actor: &str) -> Result<Report, DrillError> {
    let started = Instant::now();
    let loaded = server
        .loaded(app)
        .ok_or_else(|| DrillError::NotServed(app.to_string()))?;
    if loaded.kill.is_killed() {
        return Err(DrillError::Killed(app.to_string()));
    }
    let runtime = server.runtime().clone();
    // Its own reason, so only its own kill is released at the end.
    let reason = format!(
        "incident drill {}: the kill switch is tested, then released",
        humantime::format_rfc3339_micros(std::time::SystemTime::now())
    );
    let (rt, name, who, why) = (
        runtime.clone(),
        app.to_string(),
        actor.to_string(),
        reason.clone(),
    );
    let pulled = tokio::task::spawn_blocking(move || rt.kill_unless_killed(&name, &why, &who))
        .await
        .map_err(|e| DrillError::Failed(format!("pull the kill switch: {e}")))?
        .map_err(|e| {
            DrillError::Failed(format!(
                "pull the kill switch: {e} (see `warden apps` for the app's state)"
            ))
        })?;
    if !pulled {
        return Err(DrillError::Killed(app.to_string()));
    }
    let mut checks = vec![check(
        "kill switch pulled",
        loaded.kill.is_killed(),
        "the app's switch, shared by its invocations on this host",
    )];
    let route = loaded.manifest.http.as_ref().map(|h| h.route.clone());
    checks.push(request_check(server, route.as_deref()).await);
    checks.extend(connector_checks(&loaded).await);
    checks.push(release(&runtime, &loaded, app, actor, &reason).await);
    let report = Report {
        app: app.to_string(),
        version: loaded.manifest.app.version.clone(),
        passed: checks.iter().all(|c| c.result != "failed"),
        checks,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let event = AuditEvent {
        kind: AuditKind::AppDrilled,
        app: Some(app.to_string()),
        actor: actor.to_string(),
        details: serde_json::to_value(&report).unwrap_or_default(),
    };
    tokio::task::spawn_blocking(move || runtime.audit().append_blocking(event))
        .await
        .map_err(|e| DrillError::Failed(format!("record the drill: {e}")))?
        .map_err(|e| DrillError::Failed(format!("record the drill: {e}")))?;
    Ok(report)
}

/// Releases the drill's own kill, and says what happened.
async fn release(
    runtime: &Arc<crate::runtime::Runtime>,
    loaded: &crate::app::LoadedApp,
    app: &str,
    actor: &str,
    reason: &str,
) -> Check {
    const NAME: &str = "restored";
    let (rt, name, who, why) = (
        runtime.clone(),
        app.to_string(),
        actor.to_string(),
        reason.to_string(),
    );
    let released = tokio::task::spawn_blocking(move || {
        rt.unkill_if(&name, &who, |k| k.reason == why && k.actor == who)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|done| done.map_err(|e| e.to_string()));
    match released {
        Ok(Ok(())) => check(
            NAME,
            !loaded.kill.is_killed(),
            "the kill switch released; the app runs as before",
        ),
        Ok(Err(Some(other))) => skipped(
            NAME,
            format!(
                "killed by {} during the drill ({}): left killed",
                other.actor, other.reason
            ),
        ),
        Ok(Err(None)) => check(
            NAME,
            !loaded.kill.is_killed(),
            "released by someone else during the drill",
        ),
        Err(e) => check(
            NAME,
            false,
            format!(
                "the kill switch could not be released ({e}): the app stays killed; `warden unkill` releases it"
            ),
        ),
    }
}

/// A request to `route` on this host's app listener must be refused as
/// killed (503).
async fn request_check(server: &Arc<Server>, route: Option<&str>) -> Check {
    const NAME: &str = "new requests refused";
    let Some(route) = route else {
        return skipped(NAME, "the app has no HTTP route");
    };
    if server.runtime().platform().serve.tls.is_some() {
        return skipped(
            NAME,
            "the app listener speaks TLS with its own certificate; a request is not tried",
        );
    }
    let Some(listen) = server
        .listen_addr()
        .and_then(|l| l.parse::<SocketAddr>().ok())
    else {
        return check(NAME, false, "this host's app listener is not known");
    };
    // This host, on the port it listens on: loopback when it listens on
    // every address, else the address itself.
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(v6) if v6.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let to = SocketAddr::new(ip, listen.port());
    let path = route.trim_end_matches("...").to_string();
    let url = match url::Url::parse(&format!("http://{to}{path}")) {
        Ok(url) => url,
        Err(e) => return check(NAME, false, format!("http://{to}{path}: {e}")),
    };
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let rules = warden_host_apis::egress::config::EgressRules {
        allow_cidrs: format!("{ip}/{bits}").parse().into_iter().collect(),
        ..Default::default()
    };
    match crate::platform_http::request(&url, http::Method::GET, None, &rules).await {
        Ok(reply)
            if reply.status == 503
                && String::from_utf8_lossy(&reply.body).contains(super::respond::KILLED) =>
        {
            check(NAME, true, format!("GET {path} answered 503 (killed)"))
        }
        Ok(reply) => check(
            NAME,
            false,
            format!(
                "GET {path} answered {}, not 503 as killed: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
                    .chars()
                    .take(120)
                    .collect::<String>()
            ),
        ),
        Err(e) => check(NAME, false, format!("GET {path}: {e}")),
    }
}

/// Each granted connector's call must be refused at the kill check.
async fn connector_checks(loaded: &crate::app::LoadedApp) -> Vec<Check> {
    const NAME: &str = "connector calls refused, no credential released";
    let app = &loaded.grants.egress;
    if app.policy.grants.is_empty() {
        return vec![skipped(NAME, "the app is granted no connector")];
    }
    let mut out = Vec::new();
    for grant in &app.policy.grants {
        let connector = grant.connector.name().to_string();
        if !loaded.kill.is_killed() {
            out.push(check(
                NAME,
                false,
                format!("`{connector}`: not tried, the app's switch is not pulled"),
            ));
            continue;
        }
        // The probe's own switch, pulled as the app's is, and no
        // credentials: nothing can leave even if the app's switch is
        // released meanwhile.
        let switch = Arc::new(KillSwitch::default());
        switch.kill();
        let probe = Arc::new(EgressGrant {
            app: app.app.clone(),
            policy: app.policy.clone(),
            credentials: Arc::new(Credentials::new(None)),
            dlp: app.dlp.clone(),
            dlp_rules: app.dlp_rules.clone(),
        });
        let context = InvocationContext::new(loaded.id.clone(), loaded.meter.clone(), switch);
        let answer = EgressState::new(probe, &context)
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
                    "`{connector}`: the call went out (without a credential) and answered {}",
                    reply.status
                ),
            ),
        });
    }
    out
}
