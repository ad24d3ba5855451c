//! Signed attestations of publish decisions: one DSSE envelope per deploy
//! (kept by the registry: `<data_dir>/attestations/<deploy>.json`, or the
//! shared database every node serves from), signed again with each review,
//! served per version; and the public key that checks them offline.

use super::tokens::Principal;
use super::{AdminState, ApiError};
use crate::attest::{Facts, statement};
use crate::registry::Deployment;
use crate::wait::Wait as _;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

/// The statement inside a stored envelope (the host wrote and signed it;
/// reading it back needs no check).
fn stored_statement(envelope: &[u8]) -> Option<Value> {
    let envelope: Value = serde_json::from_slice(envelope).ok()?;
    serde_json::from_slice(&crate::attest::payload(&envelope).ok()?).ok()
}

/// Signs the decision on `deployment` — `result` is `live`, `held`,
/// `refused`, `approved` or `rejected` — and stores it. The decision is
/// given where one was made (the deploy, and the approval, which decides
/// again); a rejection keeps the stored one. A review adds to the history.
///
/// # Errors
/// Why no attestation could be made (the signing key or the file); the
/// decision itself stands, audited.
pub(super) fn attest(
    state: &AdminState,
    deployment: &Deployment,
    result: &str,
    decision: Option<&Value>,
    review: Option<(&Principal, &str)>,
) -> Result<(), String> {
    let registry = state.server.runtime().registry();
    let before = registry
        .attestation(deployment.id)
        .wait()
        .map_err(|e| format!("the attestation before could not be read: {e}"))?
        .as_deref()
        .and_then(stored_statement);
    let decision = match decision {
        Some(d) => d.clone(),
        None => before
            .as_ref()
            .map(|s| s["predicate"]["warden"]["decision"].clone())
            .unwrap_or(Value::Null),
    };
    let mut approvals: Vec<Value> = before
        .as_ref()
        .and_then(|s| s["predicate"]["warden"]["approvals"].as_array().cloned())
        .unwrap_or_default();
    let time = crate::policy::now_rfc3339(chrono::Utc::now());
    if let Some((by, note)) = review {
        approvals.push(json!({ "by": by.actor(), "at": time, "outcome": result, "note": note }));
    }
    let statement = statement(&Facts {
        app: &deployment.app,
        version: &deployment.version,
        component_sha256: &deployment.digest,
        manifest_sha256: deployment.manifest_sha256.as_deref().unwrap_or_default(),
        result,
        decision: &decision,
        approvals: &approvals,
        time: &time,
    });
    let signer = state.server.runtime().signer()?;
    let envelope = signer.envelope(&statement);
    registry
        .set_attestation(deployment.id, envelope.to_string().into_bytes())
        .wait()
        .map_err(|e| e.to_string())
}

/// [`attest`], with a failure logged and returned for the caller's answer.
pub(super) fn attest_or_warn(
    state: &AdminState,
    deployment: &Deployment,
    result: &str,
    decision: Option<&Value>,
    review: Option<(&Principal, &str)>,
) -> Option<String> {
    attest(state, deployment, result, decision, review)
        .map_err(|e| {
            tracing::warn!(
                app = deployment.app.as_str(),
                deploy = deployment.id,
                "the decision was not attested: {e}"
            );
            e
        })
        .err()
}

/// `GET /v1/apps/{app}/versions/{version}/attestation`: the DSSE envelope
/// of the version's latest decision (creators: their own apps).
pub async fn show(
    State(state): State<AdminState>,
    principal: Principal,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let all = super::deploys::versions_of(&state, &name).await?;
    let this = super::deploys::holder(&all, &principal, &version)
        .ok_or_else(|| ApiError::not_found(&format!("version {version} of app `{name}`")))?;
    let text = state
        .server
        .runtime()
        .registry()
        .attestation(this.id)
        .await
        .map_err(|e| ApiError::internal("the attestation could not be read", e))?
        .ok_or_else(|| {
            ApiError::not_found(&format!(
                "an attestation of {name} {version} (deploy {})",
                this.id
            ))
        })?;
    let envelope: Value = serde_json::from_slice(&text)
        .map_err(|e| ApiError::internal("the stored attestation does not parse", e))?;
    Ok(Json(envelope))
}

/// `GET /v1/attestations/key`: the public key attestations verify with.
pub async fn key(
    State(state): State<AdminState>,
    _principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let signer = state
        .server
        .runtime()
        .signer()
        .map_err(|e| ApiError::internal("the attestation key is not available", e))?;
    Ok(Json(json!({
        "algorithm": "ed25519",
        "keyid": signer.keyid,
        "public_key_pem": signer.public_key_pem(),
    })))
}
