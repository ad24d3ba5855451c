//! Liveness and readiness probes, `GET /livez` and `GET /readyz`, named
//! as Kubernetes' API server names its own. An orchestrator or a load
//! balancer asks them without a token, so they answer `{"live"}` or
//! `{"ready"}` and nothing else: which apps are starting or failed is for
//! a token holder (`GET /v1/apps`).
//!
//! Ready means start-up is over (see [`crate::serve::Server::started_up`]):
//! no app the host began with is still compiling, so a rolling restart
//! does not send traffic to a node whose big app still answers 503. Until
//! then `/readyz` answers 503 with `Retry-After`, as the held routes do.
//! An app that did not start does not hold readiness back; `--strict`
//! stops the host instead.

use super::AdminState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// How long the app workers may take to run an empty task before the
/// process counts as not live: far above a scheduling delay under load,
/// so a busy host is not restarted for being busy. A kubelet's default
/// probe timeout is 1 s, so its `timeoutSeconds` must be 3 or more (the
/// README says so).
const WORKERS_WITHIN: Duration = Duration::from_secs(2);

/// 200 `{"live": true}` when the async workers that serve apps run a task
/// within two seconds; 503 `{"live": false}` when they do not (all stuck),
/// so an orchestrator restarts the process. The admin API runs on its own
/// runtime, so answering here alone would prove nothing of the apps' side.
pub async fn live(State(state): State<AdminState>) -> Response {
    if state.server.workers_answer(WORKERS_WITHIN).await {
        return Json(json!({ "live": true })).into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "live": false })),
    )
        .into_response()
}

/// 200 `{"ready": true}` once start-up is over, else 503
/// `{"ready": false}` with `Retry-After`.
pub async fn ready(State(state): State<AdminState>) -> Response {
    if state.server.started_up() {
        return Json(json!({ "ready": true })).into_response();
    }
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "ready": false })),
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::serve::starting::RETRY_AFTER_SECS),
    );
    response
}
