//! App endpoints: list, inspect, kill, unkill, and the audit log.

use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, require};
use crate::app::LoadedApp;
use crate::kills::KillState;
use crate::registry::Status;
use crate::wait::Wait as _;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use warden_host_apis::metering::{ALL, Window};

pub(crate) fn visible(principal: &Principal, app: &LoadedApp) -> bool {
    principal.role != Role::Creator
        || app.manifest.app.owner.as_deref() == Some(principal.name.as_str())
}

/// Whether `principal` may see `app`, which is still compiling (as
/// [`visible`] for a loaded one).
fn visible_starting(principal: &Principal, app: &crate::serve::starting::StartingApp) -> bool {
    principal.role != Role::Creator || app.owner() == Some(principal.name.as_str())
}

/// Whether `name` is served here, or compiling to be, as `principal` may
/// see it: what a kill needs (an app still compiling can be killed, and
/// stays killed once ready).
fn served_or_starting(
    state: &AdminState,
    principal: &Principal,
    name: &str,
) -> Result<(), ApiError> {
    if find(state, principal, name).is_ok() {
        return Ok(());
    }
    match state.server.starting_app(name) {
        Some(app) if visible_starting(principal, &app) => Ok(()),
        _ => Err(ApiError::not_found(&format!("app `{name}`"))),
    }
}

/// The row of an app compiling in the background (or whose compile
/// failed), as `GET /v1/apps` lists it.
fn starting_row(kills: &KillState, app: &crate::serve::starting::StartingApp) -> Value {
    let (state, next) = match app.failed() {
        _ if app.is_killed() => ("killed", None),
        Some(why) => ("failed", Some(format!("did not start: {why}"))),
        None => (
            "starting",
            Some(format!(
                "compiling for {:.0} s; its route answers 503 until it is ready",
                app.compiling_for()
            )),
        ),
    };
    json!({
        "name": app.name(),
        "version": app.version(),
        "owner": app.owner(),
        "route": app.route(),
        "state": state,
        "next": next,
        "kill": kills.get(app.name()),
    })
}

pub fn find(
    state: &AdminState,
    principal: &Principal,
    name: &str,
) -> Result<Arc<LoadedApp>, ApiError> {
    state
        .server
        .all_apps()
        .iter()
        .find(|a| a.name() == name && visible(principal, a))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&format!("app `{name}`")))
}

/// Each quota of `app`: used, limit (null: none) and when its window
/// resets (null: it does not).
pub(crate) fn quota_bars(app: &LoadedApp) -> Vec<Value> {
    crate::quota_use::quota_use(app)
        .into_iter()
        .map(|q| json!(q))
        .collect()
}

/// The last failed invocations of `app` from the span store.
fn recent_errors(state: &AdminState, app: &str) -> Vec<Value> {
    let Some(spans) = &state.spans else {
        return Vec::new();
    };
    let query = crate::telemetry::store::TraceQuery {
        app: app.to_string(),
        errors_only: true,
        since_us: 0,
        limit: 5,
        request_id: None,
    };
    spans
        .roots(&query)
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            json!({
                "trace_id": r.trace_id,
                "start_us": r.start_us,
                "duration_us": r.duration_us,
                "outcome": r.outcome,
                "trigger": r.attributes.get(crate::telemetry::keys::TRIGGER),
            })
        })
        .collect()
}

/// Adds `orphaned` (the reasons, empty when it is not) to an app's row.
pub(crate) fn flag(
    row: &mut Value,
    orphans: &std::collections::BTreeMap<String, Vec<crate::lifecycle::orphans::Reason>>,
) {
    let reasons = row["name"]
        .as_str()
        .and_then(|n| orphans.get(n))
        .cloned()
        .unwrap_or_default();
    row["orphaned"] = json!(reasons);
    row["orphaned_because"] = json!(reasons.iter().map(|r| r.describe()).collect::<Vec<_>>());
}

fn summary(kills: &KillState, app: &LoadedApp) -> Value {
    json!({
        "name": app.name(),
        "version": app.version(),
        "world": app.world,
        "owner": app.manifest.app.owner,
        "team": app.manifest.app.team,
        "cost_center": app.manifest.app.cost_center,
        "compliance": app.manifest.app.compliance,
        "route": app.manifest.http.as_ref().map(|h| h.route.clone()),
        "state": if app.kill_switch().is_killed() { "killed" } else { "running" },
        "kill": kills.get(app.name()),
    })
}

/// Apps not served here whose newest deploy waits for a reviewer, or
/// whose live version was retired, as the caller may see them: an app
/// held at its first deploy exists too, and a retired app still does.
fn held_only(state: &AdminState, principal: &Principal, only: Option<&str>) -> Vec<Value> {
    let pending = state
        .server
        .runtime()
        .registry()
        .pending()
        .wait()
        .unwrap_or_default();
    let mut seen = std::collections::BTreeMap::new();
    for d in pending.into_iter().rev() {
        if super::deploys::visible(principal, &d)
            && only.is_none_or(|n| n == d.app)
            && !state.server.holds(&d.app)
            && !seen.contains_key(&d.app)
        {
            seen.insert(d.app.clone(), d);
        }
    }
    let retired = state
        .server
        .runtime()
        .registry()
        .retired()
        .wait()
        .unwrap_or_default();
    for d in retired.into_iter().rev() {
        if super::deploys::visible(principal, &d)
            && only.is_none_or(|n| n == d.app)
            && !state.server.holds(&d.app)
            && !seen.contains_key(&d.app)
        {
            seen.insert(d.app.clone(), d);
        }
    }
    seen.into_values()
        .map(|d| {
            let next = match d.status {
                Status::Retired => format!(
                    "retired: not served, its data kept until its TTL; an admin puts it back with `warden unretire {} --reason ...`",
                    d.app
                ),
                _ => format!(
                    "held for review: `warden review show {} {}` shows why; a reviewer approves it",
                    d.app, d.version
                ),
            };
            let manifest = crate::config::AppManifest::load(&d.manifest_path).ok();
            json!({
                "name": d.app,
                "version": d.version,
                "owner": d.owner,
                "compliance": manifest.map(|m| m.app.compliance).unwrap_or_default(),
                "state": d.status.as_str(),
                "deploy": d.id,
                "reasons": d.reasons,
                "next": next,
            })
        })
        .collect()
}

/// `GET /v1/apps[?compliance=SCOPE]`.
#[derive(Deserialize)]
pub(crate) struct AppsQuery {
    /// Only apps held to this compliance scope (case does not matter).
    compliance: Option<String>,
}

pub async fn list(
    State(state): State<AdminState>,
    principal: Principal,
    Query(q): Query<AppsQuery>,
) -> Json<Value> {
    let kills = state.server.runtime().kill_state();
    let orphans = state
        .server
        .runtime()
        .orphans()
        .reasons(state.server.runtime())
        .await;
    let mut apps: Vec<Value> = state
        .server
        .all_apps()
        .iter()
        .filter(|a| visible(&principal, a))
        .map(|a| summary(&kills, a))
        .collect();
    apps.extend(
        state
            .server
            .starting()
            .iter()
            .filter(|a| visible_starting(&principal, a))
            .map(|a| starting_row(&kills, a)),
    );
    // Served and compiling apps in the order the host was given them.
    let ranks = state.server.arrival_ranks();
    // A row the ranks miss (an app removed meanwhile) goes last.
    apps.sort_by_key(|row| {
        row["name"]
            .as_str()
            .and_then(|name| ranks.get(name))
            .map_or(usize::MAX, |rank| *rank)
    });
    apps.extend(held_only(&state, &principal, None));
    for app in &mut apps {
        flag(app, &orphans);
    }
    if let Some(scope) = &q.compliance {
        apps.retain(|a| super::held_to(a, scope));
    }
    Json(json!({ "apps": apps }))
}

pub async fn inspect(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let orphans = state
        .server
        .runtime()
        .orphans()
        .reasons(state.server.runtime())
        .await;
    let app = match find(&state, &principal, &name) {
        Ok(app) => app,
        Err(not_served) => {
            if let Some(app) = state.server.starting_app(&name)
                && served_or_starting(&state, &principal, &name).is_ok()
            {
                let mut row = starting_row(&state.server.runtime().kill_state(), &app);
                flag(&mut row, &orphans);
                return Ok(Json(row));
            }
            return held_only(&state, &principal, Some(&name))
                .pop()
                .map(|mut row| {
                    flag(&mut row, &orphans);
                    Json(row)
                })
                .ok_or(not_served);
        }
    };
    let mut out = summary(&state.server.runtime().kill_state(), &app);
    flag(&mut out, &orphans);
    let today = app.meter.usage(ALL, &Window::day_now());
    let limits = app.limits;
    out["digest"] = json!(app.digest);
    out["artifact"] = json!(app.artifact);
    out["approved"] = json!(app.options.approved);
    out["limits"] = json!({
        "fuel": limits.fuel,
        "memory": limits.memory.to_string(),
        "timeout": limits.timeout.to_string(),
        "max_output": limits.max_output.to_string(),
    });
    out["usage_today"] = json!(today);
    out["quota"] = json!(quota_bars(&app));
    out["recent_errors"] = json!(recent_errors(&state, app.name()));
    if let (Some(slo), Some(tallies)) = (app.manifest.slo.clone(), state.tallies.clone()) {
        // A database read on shared state: off the admin API's workers.
        let name = app.name().to_string();
        let status =
            tokio::task::spawn_blocking(move || crate::slo::status(tallies.as_ref(), &name, &slo))
                .await
                .map_err(|e| ApiError::internal("the SLO status could not be read", e))?;
        out["slo"] = json!(status);
    }
    // Each granted connector's credential and how old it is (stale: past
    // the catalog's rotate_every).
    out["credentials"] = json!(crate::lifecycle::credentials::ages(
        state.server.runtime(),
        app.manifest.connectors.iter().map(|c| c.name.as_str()),
        std::time::SystemTime::now(),
    ));
    out["grants"] = json!({
        "connectors": app.manifest.connectors,
        "allowed_hosts": app.manifest.egress.allowed_hosts,
        "storage": app.manifest.storage,
    });
    out["schedules"] = json!(
        app.schedules
            .iter()
            .map(|s| s.text.clone())
            .collect::<Vec<_>>()
    );
    // Which host holds the lease is in the hosts' logs, not in answers.
    if !app.schedules.is_empty() {
        use crate::serve::SchedulerLease;
        out["scheduler"] = json!(match state.server.scheduler_lease() {
            SchedulerLease::Held => "this host",
            SchedulerLease::OtherHost =>
                "another host (or node of the cluster); this one takes over when it stops",
            SchedulerLease::Failed =>
                "none: this host cannot take the scheduler lease (see its log) and keeps trying",
            SchedulerLease::NotTried => "not started yet",
        });
    }
    if let Some(stats) = state.server.schedule_stats(app.name()) {
        use std::sync::atomic::Ordering::Relaxed;
        out["schedule_runs"] = json!({
            "runs": stats.runs.load(Relaxed),
            "skipped": stats.skipped.load(Relaxed),
            "paused": stats.paused.load(Relaxed),
        });
    }
    Ok(Json(out))
}

pub async fn kill(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    served_or_starting(&state, &principal, &name)?;
    let reason = super::reason_of(body).await?;
    let (runtime, app, actor) = (
        state.server.runtime().clone(),
        name.clone(),
        principal.actor(),
    );
    // On the blocking pool: the kill waits for its lock and its record
    // (a database on shared state), and once started it finishes even if
    // the caller goes away.
    tokio::task::spawn_blocking(move || runtime.kill(&app, &reason, &actor))
        .await
        .map_err(|e| ApiError::internal("the kill stopped", e))?
        .map_err(|e| {
            ApiError(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("kill not recorded: {e}"),
            )
        })?;
    Ok(Json(json!({ "app": name, "state": "killed" })))
}

/// `POST /v1/apps/{app}/drill` (admin): an incident drill on this host
/// (see [`crate::serve::drill`]); the report, passed or not.
pub async fn drill(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    use crate::serve::drill::DrillError;
    require(&principal, &[Role::Admin])?;
    find(&state, &principal, &name)?;
    // Its own task: once started, a drill finishes (and puts the app
    // back) even if the caller goes away. Drills of one app take turns.
    let (server, app, actor) = (state.server.clone(), name.clone(), principal.actor());
    let locks = state.app_locks.clone();
    let done = tokio::spawn(async move {
        let _turn = locks.lock(&app).await;
        crate::serve::drill::run(&server, &app, &actor).await
    })
    .await
    .map_err(|e| ApiError::internal("the drill stopped", e))?;
    match done {
        Ok(report) => Ok(Json(json!(report))),
        Err(e @ DrillError::NotServed(_)) => {
            Err(ApiError(axum::http::StatusCode::NOT_FOUND, e.to_string()))
        }
        Err(e @ DrillError::Killed(_)) => {
            Err(ApiError(axum::http::StatusCode::CONFLICT, e.to_string()))
        }
        Err(e) => Err(ApiError(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
    }
}

pub async fn unkill(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    served_or_starting(&state, &principal, &name)?;
    let (runtime, app, actor) = (
        state.server.runtime().clone(),
        name.clone(),
        principal.actor(),
    );
    // As a kill: on the blocking pool, finished once started.
    tokio::task::spawn_blocking(move || runtime.unkill(&app, &actor))
        .await
        .map_err(|e| ApiError::internal("the unkill stopped", e))?
        .map_err(|e| {
            ApiError(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("unkill not recorded: {e}"),
            )
        })?;
    Ok(Json(json!({ "app": name, "state": "running" })))
}

/// `GET /v1/audit/verify`: the hash chain checked on the host (admins
/// and auditors), as `warden audit verify` reports it.
pub(crate) async fn verify_audit(
    State(state): State<AdminState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin, Role::Auditor])?;
    let runtime = state.server.runtime().clone();
    // The mark before the log, the keys after it (see `full_report`).
    let marking = runtime.clone();
    let mark = tokio::task::spawn_blocking(move || checkpoint_mark(&marking))
        .await
        .map_err(|e| ApiError::internal("the audit log could not be verified", e))?;
    let (entries, chain) = runtime.audit().read().await.map_err(|e| {
        ApiError(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("audit log unreadable: {e}"),
        )
    })?;
    // The keys come from the secret store (a database on shared state).
    let report = tokio::task::spawn_blocking(move || {
        crate::audit::checkpoint::full_report(
            &entries,
            &chain,
            mark,
            || checkpoint_trust(&runtime).map(|(keys, _)| keys),
            runtime.platform().audit.checkpoint_interval.get(),
        )
    })
    .await
    .map_err(|e| ApiError::internal("the audit log could not be verified", e))?;
    Ok(Json(report))
}

/// `GET /v1/apps/{app}/export[?since=&until=]`.
#[derive(Deserialize)]
pub(crate) struct ExportQuery {
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/apps/{app}/export`: the app's audit export, a tar archive
/// (auditor, admin); see [`crate::audit::export`].
pub(crate) async fn export(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    require(&principal, &[Role::Admin, Role::Auditor])?;
    let at = |v: &Option<String>, field: &str| {
        v.as_deref()
            .map(crate::audit::export::parse_instant)
            .transpose()
            .map_err(|e| ApiError(axum::http::StatusCode::BAD_REQUEST, format!("{field} {e}")))
    };
    let (since, until) = (at(&q.since, "since")?, at(&q.until, "until")?);
    let runtime = state.server.runtime().clone();
    let app = name.clone();
    let built = tokio::task::spawn_blocking(move || {
        crate::audit::export::build(&runtime, &app, since, until)
    })
    .await
    .map_err(|e| ApiError::internal("the export could not be made", e))?;
    let bytes = built.map_err(|e| match e {
        crate::audit::export::ExportError::Unknown(_) => {
            ApiError::not_found(&format!("app `{name}`"))
        }
        e => ApiError::internal("the export could not be made", e),
    })?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/x-tar".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-audit-export.tar\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The last checkpoint signed, from `runtime`'s secret store.
fn checkpoint_mark(
    runtime: &crate::runtime::Runtime,
) -> Result<Option<crate::audit::keys::Mark>, String> {
    let secrets = runtime.secrets().map_err(|e| format!("{e:#}"))?;
    crate::audit::keys::mark(&secrets).map_err(|e| e.to_string())
}

/// The checkpoint keys and the last checkpoint signed, from `runtime`'s
/// secret store.
fn checkpoint_trust(
    runtime: &crate::runtime::Runtime,
) -> Result<
    (
        Vec<crate::audit::keys::PublicKeyInfo>,
        Option<crate::audit::keys::Mark>,
    ),
    String,
> {
    let secrets = runtime.secrets().map_err(|e| format!("{e:#}"))?;
    crate::audit::keys::trust(&secrets).map_err(|e| e.to_string())
}

/// `GET /v1/audit/keys`: every key audit checkpoints are signed with,
/// with its validity window (admin, auditor).
pub(crate) async fn audit_keys(
    State(state): State<AdminState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin, Role::Auditor])?;
    let runtime = state.server.runtime().clone();
    let (keys, _) = tokio::task::spawn_blocking(move || checkpoint_trust(&runtime))
        .await
        .map_err(|e| ApiError::internal("the checkpoint keys could not be read", e))?
        .map_err(|e| ApiError::internal("the checkpoint keys could not be read", e))?;
    Ok(Json(json!({ "keys": keys })))
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    app: Option<String>,
    /// Only entries of this kind (`app.drilled`).
    kind: Option<String>,
    limit: Option<usize>,
}

pub async fn audit(
    State(state): State<AdminState>,
    principal: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin, Role::Auditor])?;
    let log = state.server.runtime().audit();
    let (entries, report) = log.read().await.map_err(|e| {
        ApiError(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("audit log unreadable: {e}"),
        )
    })?;
    let filtered: Vec<_> = entries
        .into_iter()
        .filter(|e| q.app.is_none() || e.app == q.app)
        .filter(|e| q.kind.as_ref().is_none_or(|k| *k == e.kind))
        .collect();
    let limit = q.limit.unwrap_or(100).min(10_000);
    let tail: Vec<_> = filtered[filtered.len().saturating_sub(limit)..].to_vec();
    Ok(Json(
        json!({ "intact": report.is_intact(), "entries": tail }),
    ))
}
