//! `POST /v1/apps/{app}/transfer` `{"to", "reason"}` (admin): the app
//! passes to a new owner — after its owner left, most often (an app whose
//! owner the identity provider deactivated is flagged as orphaned until
//! then). Every version of the app gets the new owner in the registry,
//! which is what ownership is read from (route rules, what a creator
//! sees, who may review it); the live version is served under it at once
//! here, and on every node as each follows the registry. Audited as
//! `app.transferred`, with the owner before and the reason.

use super::deploys::{not_local, versions_of};
use super::tokens::{Principal, Role, name_problem};
use super::{AdminState, ApiError, record, require};
use crate::audit::AuditKind;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    /// The new owner, as they sign in (a token's name, an email).
    to: String,
    /// Kept in the audit log.
    reason: String,
}

/// `POST /v1/apps/{app}/transfer`.
pub(crate) async fn transfer(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let asked: Transfer = super::require_json(body).await?;
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let to = asked.to.trim().to_lowercase();
    if let Some(problem) = name_problem(&to) {
        return Err(bad(format!("to: {problem}")));
    }
    if asked.reason.trim().is_empty() {
        return Err(bad(
            "a reason is required (`{\"to\": ..., \"reason\": ...}`)".into(),
        ));
    }
    let people = state.people.clone();
    let check = to.clone();
    let gone = tokio::task::spawn_blocking(move || people.is_deactivated(&check))
        .await
        .map_err(|e| ApiError::internal("the list of people could not be read", e))?
        .map_err(|e| ApiError::internal("the list of people could not be read", e))?;
    if gone {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "`{to}` was deactivated by the company's identity provider; give the app to someone who is still here"
            ),
        ));
    }
    let _app = state.app_locks.lock(&name).await;
    not_local(&state, &name)?;
    let versions = versions_of(&state, &name).await?;
    let Some(newest) = versions.last() else {
        return Err(ApiError::not_found(&format!("deploys of app `{name}`")));
    };
    let from = newest.owner.clone();
    // Under the new owner the live version must still hold its route
    // (served, or held while it compiles): a path another owner's app is
    // under (the old owner's other apps included) refuses the transfer
    // before anything changes.
    let holders = state.server.route_holders();
    if let Some(held) = holders.iter().find(|h| h.name == name)
        && let Some(deployment) = versions.iter().find(|d| d.status.is_live())
        && deployment.deployed_as.as_deref() != Some(Role::Admin.as_str())
        && let Some(conflict) =
            crate::serve::route_owners::conflict(&holders, &name, Some(&to), &held.route)
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("`{to}` cannot own `{name}`: {conflict}; nothing was changed"),
        ));
    }
    let runtime = state.server.runtime().clone();
    let changed = runtime
        .registry()
        .set_owner(&name, &to)
        .await
        .map_err(|e| ApiError::internal("the registry could not be changed", e))?;
    record(
        &state,
        AuditKind::AppTransferred,
        Some(&name),
        &principal,
        json!({ "from": from, "to": to, "versions": changed, "reason": asked.reason }),
    )?;
    // The live version served here under its new owner now.
    let live = runtime
        .registry()
        .versions(&name)
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))?
        .into_iter()
        .find(|d| d.status.is_live());
    let has_live = live.is_some();
    if let Some(live) = live
        && state.server.loaded(&name).is_some()
    {
        let loading = (runtime.clone(), live.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            crate::serve::deployed::load(&loading.0, &loading.1)
        })
        .await
        .map_err(|e| ApiError::internal("the load stopped", e))?
        .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))?;
        let owned = live.deployed_as.as_deref() != Some(Role::Admin.as_str());
        super::deploys::install(&state, loaded, owned)?;
    } else if has_live || state.server.loaded(&name).is_none() {
        // Not served here: one still compiling from the start (or whose
        // start failed) starts again from its record, so it is served —
        // and its costs attributed — under its new owner. One that became
        // served since the check above is reloaded from its record.
        super::operate::reload(&state, &name).await?;
    }
    runtime.orphans().forget();
    tracing::info!(app = name.as_str(), to = to.as_str(), "app transferred");
    Ok(Json(json!({
        "app": name,
        "from": from,
        "to": to,
        "versions": changed,
    })))
}
