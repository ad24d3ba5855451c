//! `GET /v1/costs[?month=YYYY-MM][&by=team|cost-center|app]` (every role;
//! a creator sees only their own apps, and no budgets): a month's spend
//! rolled up by team (default), cost center or app, per day and per
//! connector, with each budget as spent (see `crate::costs`).

use super::tokens::{Principal, Role};
use super::{AdminState, ApiError};
use crate::costs::Month;
use crate::costs::report::{By, for_month};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CostsQuery {
    month: Option<String>,
    by: Option<String>,
}

/// `GET /v1/costs`.
pub(crate) async fn report(
    State(state): State<AdminState>,
    principal: Principal,
    Query(q): Query<CostsQuery>,
) -> Result<Json<Value>, ApiError> {
    let bad = |e: String| ApiError(StatusCode::BAD_REQUEST, e);
    let month = match q.month.as_deref() {
        None => Month::current(),
        Some(m) => Month::parse(m).map_err(|e| bad(format!("month: {e}")))?,
    };
    let by = By::parse(q.by.as_deref().unwrap_or("team")).map_err(|e| bad(format!("by: {e}")))?;
    let served = state.server.attributions();
    let owner = (principal.role == Role::Creator).then_some(principal.name.as_str());
    let report = for_month(state.server.runtime(), month, by, &served, owner)
        .await
        .map_err(|e| ApiError::internal("the usage counters could not be read", e))?;
    let mut body = json!(report);
    body["paid_calls_blocked"] = json!(if owner.is_some() {
        Vec::new()
    } else {
        state.server.runtime().paid_calls().apps()
    });
    Ok(Json(body))
}
