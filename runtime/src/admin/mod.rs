//! The admin API: JSON over HTTP on its own listener (default
//! 127.0.0.1:8081), described by `GET /openapi.json`.
//!
//! Authentication: `Authorization: Bearer <token>` from `warden tokens
//! create`. Roles decide what a token may do:
//!
//! | endpoint                         | creator | reviewer | admin | auditor |
//! |----------------------------------|---------|----------|-------|---------|
//! | `GET /v1/apps`, `GET /v1/apps/{app}` | own apps | all  | all   | all     |
//! | `POST /v1/apps/{app}/kill`, `/unkill` | —   | —        | yes   | —       |
//! | `GET /v1/audit`                  | —       | —        | yes   | yes     |
//!
//! No token: 401. A token without the role: 403. Every change is an audit
//! event with the token's name as actor. Error bodies say what was wrong,
//! never why a token failed beyond "missing or unknown".

mod apps;
pub mod tokens;

use crate::serve::Server;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;
use tokens::{Principal, Role, TokenStore};

#[derive(Clone)]
pub struct AdminState {
    pub server: Arc<Server>,
    pub tokens: Arc<TokenStore>,
}

/// An API error: status and a message for the caller.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED
            && let Ok(v) = "Bearer realm=\"warden\"".parse()
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

impl ApiError {
    pub fn not_found(what: &str) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
}

impl FromRequestParts<AdminState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        token.and_then(|t| state.tokens.verify(t)).ok_or_else(|| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or unknown bearer token".into(),
            )
        })
    }
}

/// 403 unless the principal has one of `roles`.
pub fn require(principal: &Principal, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&principal.role) {
        Ok(())
    } else {
        let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "the {} role may not do this; it needs {}",
                principal.role.as_str(),
                allowed.join(" or ")
            ),
        ))
    }
}

pub fn router(state: AdminState) -> axum::Router {
    axum::Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/apps", get(apps::list))
        .route("/v1/apps/{app}", get(apps::inspect))
        .route("/v1/apps/{app}/kill", post(apps::kill))
        .route("/v1/apps/{app}/unkill", post(apps::unkill))
        .route("/v1/audit", get(apps::audit))
        .with_state(state)
}

async fn openapi() -> Json<serde_json::Value> {
    Json(serde_json::from_str(include_str!("openapi.json")).unwrap_or_default())
}
