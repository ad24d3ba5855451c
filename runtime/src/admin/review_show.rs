//! `GET /v1/apps/{app}/versions/{version}`: one version as a reviewer needs
//! it — the full manifest, its grants, the reasons it is held, what changed
//! from the live version, and what its template allows.

use super::tokens::Principal;
use super::{AdminState, ApiError};
use crate::config::AppManifest;
use crate::registry::{Deployment, compare};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

/// A deploy's manifest as sent, from its stored copy; the component is
/// named by its digest, never by where it lies on the host.
fn manifest_of(d: &Deployment) -> Result<AppManifest, ApiError> {
    let text = std::fs::read_to_string(&d.manifest_path)
        .map_err(|e| ApiError::internal("the deploy's manifest could not be read", e))?;
    let mut manifest = AppManifest::parse(std::path::Path::new("app.toml"), &text)
        .map_err(|e| ApiError::internal("the deploy's manifest does not parse", e))?;
    manifest.app.component = format!("sha256:{}", d.digest).into();
    Ok(manifest)
}

pub async fn show(
    State(state): State<AdminState>,
    principal: Principal,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let runtime = state.server.runtime();
    let all = super::deploys::versions_of(&state, &name).await?;
    // A version may also have failed deploys; the one that holds it first.
    let this = super::deploys::holder(&all, &principal, &version)
        .ok_or_else(|| ApiError::not_found(&format!("version {version} of app `{name}`")))?;
    let manifest = manifest_of(this)?;
    let grants = compare::grants(&manifest);
    let live = all
        .iter()
        .find(|d| d.status.is_live() && d.id != this.id)
        .map(|d| manifest_of(d).map(|m| (d, compare::grants(&m))))
        .transpose()?;
    let template = manifest
        .app
        .template
        .as_deref()
        .map(|t| (t, runtime.template(t)));
    let decision = super::publish::again(&state, this, &all, true).await?;
    let history = runtime
        .registry()
        .history(this.id)
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))?;
    let beyond_template: Vec<&str> = decision
        .needs_approval
        .iter()
        .filter(|f| f.id == "outside-template" || f.id == "unknown-template")
        .map(|f| f.msg.as_str())
        .collect();
    Ok(Json(json!({
        "app": name,
        "version": this.version,
        "deploy": this.id,
        "status": this.status,
        "digest": this.digest,
        "component_sha256": this.digest,
        "manifest_sha256": this.manifest_sha256,
        "owner": this.owner,
        "deployed_by": this.deployed_by,
        "deployed_at": this.deployed_at,
        "reasons": this.reasons,
        "reviewed_by": this.reviewed_by,
        "review_note": this.review_note,
        "manifest": manifest,
        "grants": grants,
        "live": live.as_ref().map(|(d, g)| json!({ "version": d.version, "deploy": d.id, "grants": g })),
        "changes_from_live": live
            .as_ref()
            .map(|(_, g)| compare::diff(g, &grants))
            .unwrap_or_else(|| compare::diff(&json!({}), &grants)),
        "template": template.map(|(name, t)| json!({ "name": name, "allows": t })),
        "beyond_template": beyond_template,
        "history": history,
        "policy_today": decision,
    })))
}
