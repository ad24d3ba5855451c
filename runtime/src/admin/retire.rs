//! `POST /v1/apps/{app}/retire` and `/unretire` (admin): the end of an
//! app's life that is not a delete. A retired app is not served and uses
//! no credentials; its stored data stays until its TTL and its record
//! stays whole, so an admin can put it back as it was. The lifecycle rules
//! (orphans, overdue reviews) retire apps through the same step.

use super::deploys::versions_of;
use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, record, require};
use crate::audit::AuditKind;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Why {
    /// Why: kept in the version's history and the audit log.
    reason: String,
}

async fn reason_of(body: axum::body::Body) -> Result<String, ApiError> {
    let why: Why = super::require_json(body).await?;
    match why.reason.trim() {
        "" => Err(ApiError(
            StatusCode::BAD_REQUEST,
            "a reason is required (`{\"reason\": \"...\"}`)".into(),
        )),
        reason => Ok(reason.to_string()),
    }
}

/// An app served from a local manifest is the operator's to stop there.
fn deployed_here(state: &AdminState, name: &str) -> Result<(), ApiError> {
    let local = state.server.loaded(name).is_some_and(|a| {
        !a.manifest_path
            .starts_with(state.server.runtime().data_dir())
    });
    if local {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "app `{name}` is served from a local manifest (warden.toml or --app); stop it there"
            ),
        ));
    }
    Ok(())
}

/// `POST /v1/apps/{app}/retire` `{"reason"}`: the live version stops
/// being served at once.
pub async fn retire(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let reason = reason_of(body).await?;
    let _app = state.app_locks.lock(&name).await;
    deployed_here(&state, &name)?;
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
/// checked against its recorded digests and served again (killed still,
/// if the app is killed).
pub async fn unretire(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let reason = reason_of(body).await?;
    let _app = state.app_locks.lock(&name).await;
    deployed_here(&state, &name)?;
    let runtime = state.server.runtime().clone();
    let killed = runtime.kill_switch(&name).is_killed();
    let back = runtime
        .registry()
        .unretire(&name, killed, &principal.actor(), &reason)
        .await
        .map_err(|e| ApiError::internal("the registry could not be changed", e))?
        .ok_or_else(|| {
            ApiError(
                StatusCode::CONFLICT,
                format!("app `{name}` has no retired version to put back, or a live one already"),
            )
        })?;
    let loading = (runtime.clone(), back.clone());
    let loaded =
        tokio::task::spawn_blocking(move || crate::serve::deployed::load(&loading.0, &loading.1))
            .await
            .map_err(|e| ApiError::internal("the load stopped", e))?;
    let served = loaded
        .map_err(|e| e.to_string())
        .and_then(|app| state.server.install(app).map_err(|e| e.to_string()));
    if let Err(e) = served {
        // What is recorded matches what is served: it stays retired.
        let _ = runtime
            .registry()
            .retire(&name, "warden", "could not be served again")
            .await;
        return Err(ApiError(
            StatusCode::CONFLICT,
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
