//! `POST /v1/policy/check`: the decision a deploy would get on this host
//! — its policies, the templates set through the API, the live version's
//! grants, the caller's team — made and shown with nothing deployed or
//! audited (`warden policy check --server`). A component named by
//! `component_sha256` is one uploaded before (`PUT /v1/components`); it is
//! collected like any upload no deploy names.

use super::deploys::{DeployBody, Given, component_of, name_free_for, owner_for, placed};
use super::publish::{Candidate, Judged, judge};
use super::tokens::Principal;
use super::{AdminState, ApiError};
use crate::config::AppManifest;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `POST /v1/policy/check` (creator: own apps; admin), with a deploy's
/// body; the component is optional. 200 with `{app, version, component,
/// decision}` whatever the verdict: the check itself succeeded. A check
/// scans like a deploy, so it takes one of the caller's deploy places.
pub async fn check(
    State(state): State<AdminState>,
    principal: Principal,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    placed(
        state,
        principal,
        body,
        "check",
        |state, principal, body| async move { checked(&state, &principal, body).await.map(Json) },
    )
    .await
}

async fn checked(
    state: &AdminState,
    principal: &Principal,
    body: DeployBody,
) -> Result<Value, ApiError> {
    let manifest = AppManifest::parse(std::path::Path::new("app.toml"), &body.manifest)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let owner = owner_for(principal, &manifest)?;
    // A creator learns nothing of another owner's app, its live grants
    // included.
    name_free_for(state, principal, &manifest.app.name, owner.as_deref()).await?;
    let (component, digest) = match component_of(state.server.runtime(), &body).await? {
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
        state,
        principal,
        Candidate {
            manifest: &manifest,
            text: &body.manifest,
            owner: owner.as_deref(),
            component,
            dry_run: true,
        },
    )
    .await?;
    Ok(json!({
        "app": manifest.app.name,
        "version": manifest.app.version,
        "component": digest,
        "decision": decision,
    }))
}
