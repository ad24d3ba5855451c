//! `POST /v1/apps/{app}/retire` and `/unretire` (admin): the end of an
//! app's life that is not a delete. A retired app is not served and uses
//! no credentials; its stored data stays until its TTL and its record
//! stays whole, so an admin can put it back as it was. A new version of a
//! retired app is held for a reviewer by the default policy
//! (`retired-app`).

use super::deploys::{not_local, versions_of};
use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, record, require};
use crate::audit::AuditKind;
use crate::policy::Verdict;
use crate::registry::Status;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `POST /v1/apps/{app}/retire` `{"reason"}`: the live version stops
/// being served at once.
pub async fn retire(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let reason = super::reason_of(body).await?;
    let _app = state.app_locks.lock(&name).await;
    not_local(&state, &name)?;
    if versions_of(&state, &name).await?.is_empty() {
        return Err(ApiError::not_found(&format!("deploys of app `{name}`")));
    }
    let runtime = state.server.runtime();
    let retired = runtime
        .registry()
        .retire(&name, &principal.actor(), &reason)
        .await
        .map_err(|e| ApiError::internal("the registry could not be changed", e))?
        .ok_or_else(|| {
            ApiError(
                StatusCode::CONFLICT,
                format!("app `{name}` has no live version to retire (`warden versions {name}` shows its versions)"),
            )
        })?;
    state
        .server
        .remove(&name)
        .map_err(|e| ApiError::internal("the app could not be unloaded", e))?;
    record(
        &state,
        AuditKind::AppRetired,
        Some(&name),
        &principal,
        json!({ "version": retired.version, "deploy": retired.id, "reason": reason }),
    )?;
    tracing::info!(
        app = name.as_str(),
        version = retired.version.as_str(),
        "app retired"
    );
    Ok(Json(json!({
        "app": name,
        "version": retired.version,
        "status": "retired",
        "next": format!("not served; its data stays until its TTL; `warden unretire {name} --reason ...` puts it back"),
    })))
}

/// `POST /v1/apps/{app}/unretire` `{"reason"}`: the retired version is
/// judged again by today's policy (a version it now refuses stays
/// retired), checked against its recorded digests, and served again under
/// the route rules it went live under (killed still, if the app is
/// killed).
pub async fn unretire(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let reason = super::reason_of(body).await?;
    let _app = state.app_locks.lock(&name).await;
    not_local(&state, &name)?;
    let all = versions_of(&state, &name).await?;
    let nothing_to_put_back = || {
        ApiError(
            StatusCode::CONFLICT,
            format!("app `{name}` has no retired version to put back, or a live one already"),
        )
    };
    let retired = match all.iter().find(|d| d.status.is_current()) {
        Some(d) if d.status == Status::Retired => d.clone(),
        _ => return Err(nothing_to_put_back()),
    };
    let decision = super::publish::again(&state, &retired, &all, false).await?;
    if decision.verdict == Verdict::Refused {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the publish policy now refuses {name} {}, so it stays retired:\n{}",
                retired.version,
                decision.refusals()
            ),
        ));
    }
    let runtime = state.server.runtime().clone();
    let killed = runtime.kill_switch(&name).is_killed();
    let back = runtime
        .registry()
        .unretire(&name, killed, &principal.actor(), &reason)
        .await
        .map_err(|e| ApiError::internal("the registry could not be changed", e))?
        .ok_or_else(nothing_to_put_back)?;
    let loading = (runtime.clone(), back.clone());
    let loaded =
        tokio::task::spawn_blocking(move || crate::serve::deployed::load(&loading.0, &loading.1))
            .await
            .map_err(|e| ApiError::internal("the load stopped", e))?;
    // The route rules for owners apply unless an admin deployed it.
    let owned = back.deployed_as.as_deref() != Some(Role::Admin.as_str());
    let served = loaded
        .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))
        .and_then(|app| super::deploys::install(&state, app, owned));
    if let Err(ApiError(status, e)) = served {
        // What is recorded matches what is served: it stays retired.
        if let Err(undo) = runtime
            .registry()
            .retire(&name, "warden", "could not be served again")
            .await
        {
            tracing::error!(
                app = name.as_str(),
                "`{name}` {} is recorded as live but not served: putting it back to retired failed: {undo}",
                back.version
            );
        }
        return Err(ApiError(
            status,
            format!(
                "`{name}` {} cannot be served again, so it stays retired: {e}",
                back.version
            ),
        ));
    }
    record(
        &state,
        AuditKind::AppUnretired,
        Some(&name),
        &principal,
        json!({ "version": back.version, "deploy": back.id, "reason": reason, "killed": killed }),
    )?;
    Ok(Json(json!({
        "app": name,
        "version": back.version,
        "status": back.status.as_str(),
    })))
}
