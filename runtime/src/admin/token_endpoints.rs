//! Token endpoints (admins; auditors may list): `GET /v1/tokens`,
//! `POST /v1/tokens` (`{"name", "role", "ttl"?, "replace"?}`, answers the
//! token once), `DELETE /v1/tokens/{name-or-id}`. Audited like the CLI's.

use super::token_store::{NewToken, TokenError};
use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, require};
use crate::config::Dur;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    name: String,
    role: Role,
    /// The holder's team (`input.request.team` in publish policies).
    team: Option<String>,
    /// How long it lives (`"8h"`); at most `admin.token_max_ttl`, which
    /// is also the default.
    ttl: Option<Dur>,
    /// Revoke the name's tokens of another role in the same step.
    #[serde(default)]
    replace: bool,
}

fn refused(e: TokenError) -> ApiError {
    let status = match e {
        TokenError::BadName(..) | TokenError::BadTeam(_) | TokenError::TtlOverMax { .. } => {
            StatusCode::BAD_REQUEST
        }
        TokenError::RoleTaken { .. } => StatusCode::CONFLICT,
        TokenError::NotFound(_) => StatusCode::NOT_FOUND,
        TokenError::Store { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        // The store's path is the host's business.
        TokenError::Store { message, .. } => format!("the token store: {message}"),
        other => other.to_string(),
    };
    ApiError(status, message)
}

pub async fn list(
    State(state): State<AdminState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin, Role::Auditor])?;
    let tokens = state.tokens.list().map_err(refused)?;
    Ok(Json(json!({ "tokens": tokens })))
}

pub async fn create(
    State(state): State<AdminState>,
    principal: Principal,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require(&principal, &[Role::Admin])?;
    let body: CreateBody = super::require_json(body).await?;
    let runtime = state.server.runtime();
    let actor = principal.actor();
    let created = state
        .tokens
        .create_audited(
            NewToken {
                name: &body.name,
                role: body.role,
                team: body.team.as_deref(),
                ttl: body.ttl.map(Dur::get),
                max_ttl: runtime.platform().admin.token_max_ttl.get(),
                by: &actor,
                replace: body.replace,
            },
            runtime.audit(),
        )
        .map_err(refused)?;
    let mut out = json!(created.record);
    out["token"] = json!(created.token);
    out["replaced"] = json!(created.replaced);
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn revoke(
    State(state): State<AdminState>,
    principal: Principal,
    Path(which): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let revoked = state
        .tokens
        .revoke_audited(&which, &principal.actor(), state.server.runtime().audit())
        .map_err(refused)?;
    Ok(Json(json!({ "revoked": revoked })))
}
