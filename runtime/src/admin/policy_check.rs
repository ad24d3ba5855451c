//! `POST /v1/policy/check`: the decision a deploy would get on this host
//! — its policies, the templates set through the API, the live version's
//! grants, the caller's team — made and shown with nothing deployed,
//! recorded or audited (`warden policy check --server`).

use super::deploys::{DeployBody, Given, component_of, deploy_place, owner_for};
use super::publish::{Candidate, Judged, judge};
use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, require};
use crate::config::AppManifest;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `POST /v1/policy/check` (creator, admin), with a deploy's body; the
/// component is optional. 200 with `{app, version, component, decision}`
/// whatever the verdict: the check itself succeeded.
pub async fn check(
    State(state): State<AdminState>,
    principal: Principal,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Creator, Role::Admin])?;
    // A check scans the component as a deploy does: it takes a deploy's place.
    let _place = deploy_place(&state, &principal)?;
    let limit = super::inline_deploy_limit(state.server.runtime().platform());
    let bytes = super::read_body_within(
        body,
        limit,
        "the check body is too large for an inline component; upload the component with PUT /v1/components and name it by `component_sha256` (warden policy check --server does)",
    )
    .await?;
    let body: DeployBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the check body is not {{\"manifest\", \"component_sha256\" | \"component\"}}: {e}"
            ),
        )
    })?;
    drop(bytes);
    let manifest = AppManifest::parse(std::path::Path::new("app.toml"), &body.manifest)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let owner = owner_for(&principal, &manifest)?;
    let (component, digest) = match component_of(state.server.runtime(), &body)? {
        Some(Given {
            bytes: Some(bytes),
            digest,
        }) => (Judged::Sent(bytes), Some(digest)),
        Some(Given {
            bytes: None,
            digest,
        }) => (Judged::Stored(digest.clone()), Some(digest)),
        None => (Judged::Absent, None),
    };
    let decision = judge(
        &state,
        &principal,
        Candidate {
            manifest: &manifest,
            text: &body.manifest,
            owner: owner.as_deref(),
            component,
            dry_run: true,
        },
    )
    .await?;
    Ok(Json(json!({
        "app": manifest.app.name,
        "version": manifest.app.version,
        "component": digest,
        "decision": decision,
    })))
}
