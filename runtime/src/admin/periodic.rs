//! Periodic reviews over the admin API (see `crate::lifecycle`):
//!
//! - `GET /v1/reviews/due[?all=true][&at=T]` (reviewer, admin, auditor):
//!   the live apps whose periodic review is due, overdue or lapsed — every
//!   live app with `all` — with tier, reasons, last review and date; as
//!   they stand at `at` (a date or RFC 3339 time; default now), to plan
//!   ahead (`at=2027-03-31`: what will be due by the quarter's end);
//! - `POST /v1/apps/{app}/review` `{"note"}` (reviewer, never the app's
//!   owner or deployer): records that the app as it stands was looked at
//!   again; audited as `app.reviewed`, and the next review comes due a
//!   tier's interval from now. An app suspended for a lapsed review
//!   (`crate::serve::lifecycle`) is served again (`app.unkilled`); a
//!   kill by anyone else stays.

use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, record, require};
use crate::audit::AuditKind;
use crate::lifecycle::due;
use crate::registry::PeriodicReview;
use crate::wait::Wait as _;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::SystemTime;

#[derive(Deserialize)]
pub(crate) struct DueQuery {
    #[serde(default)]
    all: bool,
    at: Option<String>,
}

/// `GET /v1/reviews/due`.
pub(crate) async fn list(
    State(state): State<AdminState>,
    principal: Principal,
    Query(q): Query<DueQuery>,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Reviewer, Role::Admin, Role::Auditor])?;
    let at = match q.at.as_deref() {
        None => SystemTime::now(),
        Some(at) => crate::audit::export::parse_instant(at)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("at {e}")))?,
    };
    let apps = due::schedule(state.server.runtime(), at)
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))?;
    let apps: Vec<_> = apps.into_iter().filter(|d| q.all || d.is_due()).collect();
    Ok(Json(json!({ "apps": apps })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    /// What the reviewer looked at and found; kept with the review.
    note: String,
}

/// `POST /v1/apps/{app}/review`.
pub(crate) async fn review(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Reviewer])?;
    let body: ReviewBody = super::require_json(body).await?;
    if body.note.trim().is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "say what you reviewed and found (`{\"note\": \"...\"}`)".into(),
        ));
    }
    let _app = state.app_locks.lock(&name).await;
    let runtime = state.server.runtime();
    let schedule = due::schedule(runtime, SystemTime::now())
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))?;
    let Some(before) = schedule.into_iter().find(|d| d.app == name) else {
        return Err(ApiError::not_found(&format!(
            "a live version of app `{name}` (only live apps are reviewed; `warden versions {name}` shows its versions)"
        )));
    };
    let live = runtime
        .registry()
        .versions(&name)
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))?
        .into_iter()
        .find(|d| d.status.is_live() && d.version == before.version);
    if before.owner.as_deref() == Some(principal.name.as_str())
        || live.is_some_and(|d| d.deployed_by == principal.name)
    {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "reviewers may not review their own apps; ask another reviewer".into(),
        ));
    }
    // One instant for the review and the next due date: the due list
    // counts from the review's time, and a second reading of the clock
    // after the record's write could fall in the next second.
    let reviewed_at = SystemTime::now();
    let review = PeriodicReview {
        app: name.clone(),
        version: before.version.clone(),
        tier: before.tier.as_str().into(),
        reviewer: principal.name.clone(),
        note: body.note.clone(),
        at: humantime::format_rfc3339_seconds(reviewed_at).to_string(),
    };
    // From the record to its audit entry nothing awaits: a request
    // dropped between the two would leave a review no one audited.
    runtime
        .registry()
        .record_review(&review)
        .wait()
        .map_err(|e| ApiError::internal("the review could not be recorded", e))?;
    let next = humantime::format_rfc3339_seconds(
        reviewed_at + before.tier.interval(&runtime.platform().lifecycle),
    )
    .to_string();
    record(
        &state,
        AuditKind::AppReviewed,
        Some(&name),
        &principal,
        json!({
            "version": review.version,
            "tier": review.tier,
            "reasons": before.reasons,
            "note": review.note,
            "was": before.status,
            "was_due_at": before.due_at,
            "next_due_at": next,
        }),
    )?;
    // Only a suspension is lifted, read under the kill state's lock: a
    // kill anyone made meanwhile stays.
    let lifted = if before.suspended {
        let (runtime, app, actor) = (runtime.clone(), name.clone(), principal.actor());
        tokio::task::spawn_blocking(move || {
            runtime.unkill_if(&app, &actor, |k| {
                k.actor == crate::serve::lifecycle::SUSPENDER
            })
        })
        .await
        .map_err(|e| ApiError::internal("the suspension was not lifted", e))?
        .map_err(|e| {
            ApiError::internal(
                "the review is recorded, but the suspension was not lifted",
                e,
            )
        })?
        .is_ok()
    } else {
        false
    };
    Ok(Json(json!({
        "app": name,
        "version": review.version,
        "tier": review.tier,
        "reviewed_by": review.reviewer,
        "at": review.at,
        "next_due_at": next,
        "suspension_lifted": lifted,
    })))
}
