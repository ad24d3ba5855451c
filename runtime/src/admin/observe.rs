//! What operators look at: an app's traces, its usage over time, and the
//! live per-app table behind `warden top` and the dashboard. Read from the
//! embedded span store; creators see their own apps only.

use super::apps::{find, quota_bars};
use super::tokens::Principal;
use super::{AdminState, ApiError};
use crate::telemetry::store::{SpanStore, TraceQuery};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

fn store(state: &AdminState) -> Result<&Arc<SpanStore>, ApiError> {
    state
        .spans
        .as_ref()
        .ok_or_else(|| ApiError::internal("the span store is not available", "see the host's log"))
}

#[derive(Deserialize)]
pub(crate) struct TracesQuery {
    /// Only the invocation answered with this `x-request-id`.
    request_id: Option<String>,
    errors: Option<bool>,
    /// e.g. `15m`, `2h`.
    since: Option<String>,
    limit: Option<usize>,
}

fn since_us(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(0),
        Some(t) => {
            let back = humantime::parse_duration(t).map_err(|e| {
                ApiError(
                    axum::http::StatusCode::BAD_REQUEST,
                    format!("since: `{t}` is not a duration ({e}); write e.g. 15m or 2h"),
                )
            })?;
            // Range-checked: a duration past the epoch reads as "all".
            Ok(i64::try_from(back.as_micros())
                .ok()
                .and_then(|b| now_us().checked_sub(b))
                .unwrap_or(0)
                .max(0))
        }
    }
}

/// The app's recent invocations, each with all its spans.
pub async fn traces(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<TracesQuery>,
) -> Result<Json<Value>, ApiError> {
    find(&state, &principal, &name)?;
    let store = store(&state)?;
    let query = TraceQuery {
        app: name.clone(),
        errors_only: q.errors.unwrap_or(false),
        since_us: since_us(q.since.as_deref())?,
        limit: q.limit.unwrap_or(20).clamp(1, 500),
        request_id: q.request_id.clone(),
    };
    let roots = store
        .roots(&query)
        .map_err(|e| ApiError::internal("spans could not be read", e))?;
    let traces: Vec<Value> = roots
        .into_iter()
        .map(|root| {
            let spans = store.trace_of(&root.trace_id, &name).unwrap_or_default();
            json!({
                "trace_id": root.trace_id,
                "start_us": root.start_us,
                "duration_us": root.duration_us,
                "outcome": root.outcome,
                "spans": spans,
            })
        })
        .collect();
    Ok(Json(json!({ "app": name, "traces": traces })))
}

#[derive(Deserialize)]
pub(crate) struct UsageQuery {
    /// How many minutes back (default 60, at most 1440).
    minutes: Option<i64>,
}

/// Invocations, errors and latency per minute.
pub async fn usage(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    find(&state, &principal, &name)?;
    let minutes = q.minutes.unwrap_or(60).clamp(1, 1440);
    let since = now_us() - minutes * 60_000_000;
    let buckets = store(&state)?
        .series(&name, since, 60_000_000)
        .map_err(|e| ApiError::internal("spans could not be read", e))?;
    Ok(Json(
        json!({ "app": name, "bucket": "1m", "buckets": buckets }),
    ))
}

/// Every visible app: state, in-flight requests, the last minute's
/// invocations, errors and latency, and quota use.
pub async fn top(
    State(state): State<AdminState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let minute = store(&state)?
        .window_stats(now_us() - 60_000_000)
        .map_err(|e| ApiError::internal("spans could not be read", e))?;
    let served = state.server.apps();
    let runtime = state.server.runtime();
    let orphans = runtime.orphans().reasons(runtime).await;
    // Connectors whose credential is past its rotate_every (read once).
    let stale: Vec<(String, String)> = if crate::lifecycle::credentials::watched(runtime) {
        crate::lifecycle::credentials::stale(runtime, &Default::default())
            .into_iter()
            .map(|(age, _)| (age.connector, age.secret))
            .collect()
    } else {
        Vec::new()
    };
    let mut apps: Vec<Value> = state
        .server
        .all_apps()
        .iter()
        .filter(|a| super::apps::visible(&principal, a))
        .map(|app| {
            let last = minute.iter().find(|w| w.app == app.name());
            json!({
                "name": app.name(),
                "version": app.version(),
                "state": if app.kill_switch().is_killed() { "killed" } else { "running" },
                "in_flight": served.iter().find(|s| s.app.name() == app.name()).map(|s| s.in_flight()),
                "last_minute": {
                    "invocations": last.map(|w| w.invocations).unwrap_or(0),
                    "errors": last.map(|w| w.errors).unwrap_or(0),
                    "p50_us": last.map(|w| w.p50_us).unwrap_or(0),
                    "p99_us": last.map(|w| w.p99_us).unwrap_or(0),
                },
                "quota": quota_bars(app),
                "stale_credentials": stale
                    .iter()
                    .filter(|(c, _)| app.manifest.connectors.iter().any(|g| g.name == *c))
                    .map(|(_, secret)| secret.as_str())
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    // Retired apps are not served, and still exist: shown as such.
    let retired = state
        .server
        .runtime()
        .registry()
        .retired()
        .await
        .unwrap_or_default();
    let mut shown = std::collections::BTreeSet::new();
    for d in retired.into_iter().rev() {
        if super::deploys::visible(&principal, &d)
            && !state.server.holds(&d.app)
            && shown.insert(d.app.clone())
        {
            apps.push(json!({
                "name": d.app,
                "version": d.version,
                "state": "retired",
                "in_flight": null,
                "last_minute": { "invocations": 0, "errors": 0, "p50_us": 0, "p99_us": 0 },
                "quota": [],
            }));
        }
    }
    for app in &mut apps {
        super::apps::flag(app, &orphans);
    }
    Ok(Json(json!({ "apps": apps })))
}
