//! Operator endpoints: quota overrides, secrets and templates (admin only;
//! auditors may read the lists). Secret values go in and never come out.

use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, record, require};
use crate::registry::Template;
use crate::wait::Wait as _;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use warden_host_apis::metering::QuotaRequest;

/// Sets an app's quota override (fields left out keep the manifest's);
/// the app is reloaded and the new limits apply to its next invocation.
pub(crate) async fn set_quota(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let quota: QuotaRequest = super::require_json(body).await?;
    // A local app still compiling is known too: the override restarts
    // its compile with the new limits.
    let known = state.server.loaded(&name).is_some()
        || state.server.starting_app(&name).is_some()
        || state
            .server
            .runtime()
            .registry()
            .versions(&name)
            .await
            .is_ok_and(|v| !v.is_empty());
    if !known {
        return Err(ApiError::not_found(&format!("app `{name}`")));
    }
    // Stored and audited with no await between (a dropped request must not
    // leave a stored override without its entry); then applied.
    state
        .server
        .runtime()
        .registry()
        .set_quota(&name, &quota, &principal.name)
        .wait()
        .map_err(|e| ApiError::internal("the quota could not be stored", e))?;
    record(
        &state,
        crate::audit::AuditKind::QuotaSet,
        Some(&name),
        &principal,
        json!({ "quota": quota }),
    )?;
    reload(&state, &name).await?;
    let effective = state.server.loaded(&name).map(|a| a.manifest.quota.clone());
    Ok(Json(
        json!({ "app": name, "override": quota, "effective": effective }),
    ))
}

/// Reloads `name` with what is recorded for it now (see
/// [`crate::serve::Server::reload`]), off the async workers: 409 when that
/// no longer loads.
pub(crate) async fn reload(state: &AdminState, name: &str) -> Result<(), ApiError> {
    let (server, name) = (state.server.clone(), name.to_string());
    tokio::task::spawn_blocking(move || server.reload(&name))
        .await
        .map_err(|e| ApiError::internal("reloading stopped", e))?
        .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))
}

pub(crate) async fn list_secrets(
    State(state): State<AdminState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin, Role::Auditor])?;
    let runtime = state.server.runtime();
    let store = runtime.secrets().map_err(|e| {
        ApiError::internal("the secret store could not be opened", format!("{e:#}"))
    })?;
    let list = store
        .list()
        .map_err(|e| ApiError::internal("the secret store could not be read", e))?;
    Ok(Json(json!({ "secrets": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretBody {
    value: String,
}

/// Creates or rotates a secret. The answer and the audit event carry the
/// name and version only.
pub(crate) async fn put_secret(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let body = super::read_body(body).await?;
    // Parsed here, after the role check, and never echoed: serde's own
    // message would quote a value that is not a string.
    let body: SecretBody = serde_json::from_slice(&body).map_err(|_| {
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body must be {\"value\": \"<the secret as a string>\"}".into(),
        )
    })?;
    if body.value.is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, "`value` is empty".into()));
    }
    let runtime = state.server.runtime();
    let store = runtime.secrets().map_err(|e| {
        ApiError::internal("the secret store could not be opened", format!("{e:#}"))
    })?;
    let info = store
        .set(&name, body.value.as_bytes())
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let kind = if info.version > 1 {
        crate::audit::AuditKind::SecretRotated
    } else {
        crate::audit::AuditKind::SecretSet
    };
    record(
        &state,
        kind,
        None,
        &principal,
        json!({ "secret": info.name, "version": info.version }),
    )?;
    Ok(Json(
        json!({ "secret": info.name, "version": info.version }),
    ))
}

/// Every template, from `warden.toml` and from the API (any role may read:
/// creators pick one to stay within).
pub(crate) async fn list_templates(
    State(state): State<AdminState>,
    _principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let runtime = state.server.runtime();
    let mut out = serde_json::Map::new();
    for (name, template) in &runtime.platform().templates {
        out.insert(
            name.clone(),
            json!({ "source": "warden.toml", "template": template }),
        );
    }
    for (name, template) in runtime
        .registry()
        .templates()
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))?
    {
        out.entry(name)
            .or_insert(json!({ "source": "api", "template": template }));
    }
    Ok(Json(json!({ "templates": out })))
}

pub(crate) async fn put_template(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let template: Template = super::require_json(body).await?;
    let runtime = state.server.runtime();
    if runtime.platform().templates.contains_key(&name) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("template `{name}` is defined in warden.toml; change it there"),
        ));
    }
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "`{name}` is not a valid template name; use 1-63 characters of a-z, 0-9 and '-'"
            ),
        ));
    }
    if let Some((field, problem, fix)) = template.problem(&runtime.platform().connectors) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("template `{name}`: {field}: {problem}\n  fix: {fix}"),
        ));
    }
    runtime
        .registry()
        .set_template(&name, &template, &principal.name)
        .wait()
        .map_err(|e| ApiError::internal("the template could not be stored", e))?;
    record(
        &state,
        crate::audit::AuditKind::TemplateSet,
        None,
        &principal,
        json!({ "template": name, "body": template }),
    )?;
    Ok(Json(json!({ "template": name })))
}
