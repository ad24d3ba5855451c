//! The admin API: JSON over HTTP on its own listener (default
//! 127.0.0.1:8081), described by `GET /openapi.json`.
//!
//! Authentication: `Authorization: Bearer <token>` with a token from
//! `warden tokens create`, or — when `[admin.oidc]` is configured — a JWT
//! from the company's identity provider (see [`oidc`]). Roles decide what
//! a caller may do:
//!
//! | endpoint                                   | creator  | reviewer | admin | auditor |
//! |--------------------------------------------|----------|----------|-------|---------|
//! | `GET /v1/apps`, `/v1/apps/{app}`, `…/versions`, `…/versions/{v}` | own apps | all | all | all |
//! | `PUT /v1/components` (upload, streamed)    | yes      | —        | yes   | —       |
//! | `POST /v1/apps` (deploy)                   | own apps | —        | yes   | —       |
//! | `GET /v1/reviews` (pending deploys)        | own      | all      | all   | all     |
//! | `POST /v1/apps/{app}/approve`, `/reject`   | —        | others' apps | — | —       |
//! | `GET /v1/reviews/due` (periodic reviews)   | —        | yes      | yes   | yes     |
//! | `POST /v1/apps/{app}/review` (periodic)    | —        | others' apps | — | —       |
//! | `POST /v1/apps/{app}/kill`, `/unkill`      | —        | —        | yes   | —       |
//! | `POST /v1/apps/{app}/drill` (kill switch)  | —        | —        | yes   | —       |
//! | `DELETE /v1/apps/{app}` (deploys and data) | —        | —        | yes   | —       |
//! | `POST /v1/apps/{app}/transfer` (new owner) | —        | —        | yes   | —       |
//! | `/scim/v2/Users`, `…/{id}`, `/scim/v2/ServiceProviderConfig` | — | — | yes | — (and the `scim` role, which may call only these) |
//! | `PUT /v1/apps/{app}/quota`                 | —        | —        | yes   | —       |
//! | `GET /v1/secrets`                          | —        | —        | yes   | yes     |
//! | `PUT /v1/secrets/{name}`                   | —        | —        | yes   | —       |
//! | `GET /v1/tokens`                           | —        | —        | yes   | yes     |
//! | `POST /v1/tokens`, `DELETE /v1/tokens/{name-or-id}` | — | —      | yes   | —       |
//! | `GET /v1/templates`                        | yes      | yes      | yes   | yes     |
//! | `PUT /v1/templates/{name}`                 | —        | —        | yes   | —       |
//! | `GET /v1/audit`, `/verify`, `/keys`        | —        | —        | yes   | yes     |
//! | `GET /v1/apps/{app}/export`                | —        | —        | yes   | yes     |
//! | `GET /v1/top`, `/v1/apps/{app}/traces`, `…/usage`, `/v1/telemetry` | own apps | all | all | all |
//! | `GET /v1/costs` (spend and budgets)        | own apps | all      | all   | all     |
//! | `GET /v1/whoami` (name, role, actor)       | yes      | yes      | yes   | yes     |
//! | `GET /v1/oidc/config`, `POST /v1/oidc/token` (dashboard sign-in; no token) | — | — | — | — |
//! | `GET /dashboard`, `/dashboard.js` (static; the data needs a token) | — | — | — | — |
//! | `GET /readyz`, `/livez` (probes: yes or no, `admin/probes.rs`; no token) | — | — | — | — |
//!
//! No token: 401. A token without the role: 403. Every change is an audit
//! event with the caller as actor (`token:NAME`, `oidc:NAME`). Error bodies say what was wrong,
//! never why a token failed: that goes to the host's log.

pub(crate) mod app_locks;
mod apps;
mod attestations;
mod costs;
mod deploys;
pub mod listener;
mod observe;
pub mod oidc;
mod operate;
mod periodic;
mod policy_check;
mod probes;
mod publish;
mod retire;
mod review_show;
mod scim;
mod token_endpoints;
pub mod token_store;
pub mod tokens;
mod transfer;
mod uploads;

use crate::serve::Server;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;
use std::sync::Arc;
use token_store::Refused;
use tokens::{Principal, Role, TokenStore};

#[derive(Clone)]
pub struct AdminState {
    pub server: Arc<Server>,
    pub tokens: Arc<TokenStore>,
    /// Set when `[admin.oidc]` is configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
    /// The host's telemetry pipeline counters, when it has one.
    pub telemetry: Option<Arc<crate::telemetry::pipeline::PipelineStats>>,
    /// The embedded span store, for traces, usage charts and `top`.
    pub spans: Option<Arc<crate::telemetry::store::SpanStore>>,
    /// Where SLO burn rates are read: the span store, or every node's
    /// tallies on shared state.
    pub(crate) tallies: Option<Arc<dyn crate::telemetry::tally::TallySource>>,
    /// Deploys in progress, in total and per caller.
    pub deploys: Arc<crate::caps::Caps<String>>,
    /// One change at a time per app (deploy, review, delete).
    pub app_locks: Arc<app_locks::AppLocks>,
    /// The audit sinks and how far each is behind, when the host forwards.
    pub forwarding: Option<Arc<crate::audit::forward::Forwarding>>,
    /// The list of people the identity provider keeps (SCIM).
    pub people: Arc<crate::people::store::PeopleStore>,
}

/// Whether `row` (an app as `GET /v1/apps` lists it) is held to the
/// compliance scope `scope` (`[app] compliance`; case does not matter).
pub fn held_to(row: &serde_json::Value, scope: &str) -> bool {
    row["compliance"].as_array().is_some_and(|all| {
        all.iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(scope)))
    })
}

impl AdminState {
    /// The admin API of `server`: its token store and, if configured, OIDC.
    pub fn new(server: Arc<Server>) -> AdminState {
        let runtime = server.runtime();
        let spans = crate::telemetry::store::SpanStore::open(
            runtime.data_dir(),
            runtime.platform().telemetry.keep.get(),
            runtime.platform().telemetry.max_spans,
        )
        .map(Arc::new)
        .map_err(|e| tracing::warn!("the admin API cannot read spans: {e}"))
        .ok();
        let tallies: Option<Arc<dyn crate::telemetry::tally::TallySource>> = match runtime.shared()
        {
            Some(pg) => Some(Arc::new(
                crate::state::postgres::tallies::PgTallies::reader(pg.clone()),
            )),
            None => spans
                .clone()
                .map(|s| s as Arc<dyn crate::telemetry::tally::TallySource>),
        };
        AdminState {
            tokens: Arc::new(TokenStore::of(runtime)),
            people: Arc::new(crate::people::store::PeopleStore::of(runtime)),
            oidc: runtime
                .platform()
                .admin
                .oidc
                .clone()
                .map(|s| Arc::new(oidc::Oidc::new(s))),
            spans,
            tallies,
            deploys: crate::caps::Caps::new(
                runtime.platform().deploys.max_concurrent,
                runtime.platform().deploys.max_concurrent_per_creator,
            ),
            app_locks: server.app_locks().clone(),
            server,
            telemetry: None,
            forwarding: None,
        }
    }

    /// Reports `stats` on `GET /v1/telemetry`.
    pub(crate) fn with_telemetry(
        mut self,
        stats: Arc<crate::telemetry::pipeline::PipelineStats>,
    ) -> Self {
        self.telemetry = Some(stats);
        self
    }
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
    pub(crate) fn not_found(what: &str) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// 500: what could not be done, and why.
    pub fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{what}: {e}"))
    }
}

/// Records an admin action with its actor (`token:<name>`); an action
/// that cannot be audited fails.
pub fn record(
    state: &AdminState,
    kind: crate::audit::AuditKind,
    app: Option<&str>,
    principal: &Principal,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    // The write itself goes to the blocking pool; this waits for it.
    state
        .server
        .runtime()
        .audit()
        .append_blocking(crate::audit::AuditEvent {
            kind,
            app: app.map(str::to_string),
            actor: principal.actor(),
            details,
        })
        .map(|_| ())
        .map_err(|e| ApiError::internal("the audit log could not be written", e))
}

/// Logs why a JWT was refused: escaped (the reason may quote the caller's
/// text, such as a `kid`) and at most one line per second, saying how
/// many refusals the quiet time left out — a flood of forged tokens does
/// not flood the host's log.
fn log_refusal(reason: &str) {
    static LAST: std::sync::Mutex<(Option<std::time::Instant>, u64)> =
        std::sync::Mutex::new((None, 0));
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let quiet = last
        .0
        .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1));
    if quiet {
        last.1 += 1;
        return;
    }
    let left_out = std::mem::take(&mut last.1);
    last.0 = Some(std::time::Instant::now());
    drop(last);
    let more = if left_out > 0 {
        format!(" ({left_out} more refused in the second before)")
    } else {
        String::new()
    };
    tracing::warn!(
        "admin API: a sign-in was refused: {}{more}",
        reason.escape_debug()
    );
}

/// The one answer to a credential that does not sign in, whatever failed.
const REFUSED: &str = "missing, unknown or invalid bearer token";

impl FromRequestParts<AdminState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        if parts
            .headers
            .get_all(axum::http::header::AUTHORIZATION)
            .iter()
            .nth(1)
            .is_some()
        {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "send one Authorization header".into(),
            ));
        }
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let unauthorized = |m: String| ApiError(StatusCode::UNAUTHORIZED, m);
        let principal = match (token, &state.oidc) {
            (Some(t), Some(oidc)) if !t.starts_with("wdn_") => {
                oidc.verify(t).await.map_err(|reason| {
                    // The reason helps an operator, and would help an
                    // attacker probing which check a forged token fails.
                    log_refusal(&reason);
                    unauthorized(REFUSED.into())
                })
            }
            (Some(t), _) => state.tokens.verify(t).map_err(|refused| match refused {
                // Its holder learns why, and what to do.
                Refused::Expired(at) => unauthorized(format!(
                    "this token expired at {at}; ask an admin for a new one (warden tokens create)"
                )),
                Refused::Revoked(at) => unauthorized(format!(
                    "this token was revoked at {at}; ask an admin for a new one"
                )),
                Refused::Unknown => unauthorized(REFUSED.into()),
            }),
            (None, _) => Err(unauthorized(REFUSED.into())),
        }?;
        let scim_path = parts.uri.path().starts_with("/scim/");
        if principal.role == Role::Scim && !scim_path {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "a token of the scim role calls only /scim/v2 (the identity provider's endpoints)"
                    .into(),
            ));
        }
        // Someone the identity provider deactivated signs in as no one,
        // whatever credential they still hold. A list that cannot be read
        // lets no one in (but the provider, which keeps it).
        if principal.role != Role::Scim {
            let (people, name) = (state.people.clone(), principal.name.clone());
            let gone = tokio::task::spawn_blocking(move || people.is_deactivated(&name))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            match gone {
                Ok(false) => {}
                Ok(true) => {
                    return Err(unauthorized(format!(
                        "`{}` was deactivated by the company's identity provider; ask an admin",
                        principal.name
                    )));
                }
                Err(e) => {
                    tracing::warn!("sign-in refused: the list of people cannot be read: {e}");
                    return Err(ApiError(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the list of people cannot be read now, so no sign-in can be checked against it; try again shortly".into(),
                    ));
                }
            }
        }
        Ok(principal)
    }
}

/// 403 unless the principal has one of `roles`.
pub(crate) fn require(principal: &Principal, roles: &[Role]) -> Result<(), ApiError> {
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

/// Largest small JSON body (kill, review, quota, template, secret): 1 MiB.
pub(crate) const SMALL_BODY_MAX: usize = 1024 * 1024;

/// The request body, read only now — handlers call this after checking
/// the caller's role, so a caller without the role is refused before any
/// of their body is read or parsed. 413 above [`SMALL_BODY_MAX`].
pub(crate) async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    read_body_within(
        body,
        SMALL_BODY_MAX,
        &format!("the body is larger than {SMALL_BODY_MAX} bytes"),
    )
    .await
}

/// [`read_body`] with its own `limit` and 413 message.
pub(crate) async fn read_body_within(
    body: axum::body::Body,
    limit: usize,
    too_large: &str,
) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if over {
            ApiError(StatusCode::PAYLOAD_TOO_LARGE, too_large.into())
        } else {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            )
        }
    })
}

/// The body as JSON `T` (see [`read_body`]); an empty body is `None`.
/// A body that does not parse is a 422 naming what was wrong.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    body: axum::body::Body,
) -> Result<Option<T>, ApiError> {
    let bytes = read_body(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, format!("the body: {e}")))
}

/// The body as JSON `T`; an empty body is a 422 too.
pub(crate) async fn require_json<T: serde::de::DeserializeOwned>(
    body: axum::body::Body,
) -> Result<T, ApiError> {
    read_json(body).await?.ok_or_else(|| {
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body is empty; this request needs a JSON body".into(),
        )
    })
}

/// `{"reason": "..."}`, the body of a kill, a retire and an unretire:
/// the reason as given, or 400 when it is missing or blank.
pub(crate) async fn reason_of(body: axum::body::Body) -> Result<String, ApiError> {
    #[derive(serde::Deserialize)]
    struct Why {
        /// Kept in the audit log (and a version's history).
        reason: String,
    }
    let why: Why = require_json(body).await?;
    if why.reason.trim().is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "a reason is required (`{\"reason\": \"...\"}`)".into(),
        ));
    }
    Ok(why.reason)
}

/// Largest component a deploy may carry inline as base64 (16 MiB).
pub(crate) const INLINE_COMPONENT_MAX: usize = 16 * 1024 * 1024;

/// Largest deploy body (JSON with an inline base64 component) read.
pub(crate) fn inline_deploy_limit(platform: &crate::config::PlatformConfig) -> usize {
    // A component inline in the deploy's JSON is held in memory several
    // times over (body, base64 text, bytes), so only small ones come that
    // way; larger ones are uploaded with `PUT /v1/components`, streamed to
    // disk. base64 grows the component by a third; the manifest is small.
    let inline = platform
        .serve
        .max_component_size
        .as_usize()
        .min(INLINE_COMPONENT_MAX);
    inline / 3 * 4 + 1024 * 1024
}

pub(crate) fn router(state: AdminState) -> axum::Router {
    axum::Router::new()
        .route("/openapi.json", get(openapi))
        .route("/livez", get(probes::live))
        .route("/readyz", get(probes::ready))
        .route("/dashboard", get(dashboard))
        .route("/dashboard.js", get(dashboard_js))
        .route("/v1/apps", get(apps::list).post(deploys::deploy))
        .route(
            "/v1/components",
            put(uploads::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/v1/apps/{app}", get(apps::inspect).delete(deploys::delete))
        .route("/v1/apps/{app}/versions", get(deploys::versions))
        .route("/v1/apps/{app}/versions/{version}", get(review_show::show))
        .route(
            "/v1/apps/{app}/versions/{version}/attestation",
            get(attestations::show),
        )
        .route("/v1/attestations/key", get(attestations::key))
        .route("/v1/policy/check", post(policy_check::check))
        .route("/v1/apps/{app}/approve", post(deploys::approve))
        .route("/v1/apps/{app}/reject", post(deploys::reject))
        .route("/v1/apps/{app}/quota", put(operate::set_quota))
        .route("/v1/reviews", get(deploys::pending))
        .route("/v1/reviews/due", get(periodic::list))
        .route("/v1/costs", get(costs::report))
        .route("/scim/v2/ServiceProviderConfig", get(scim::config))
        .route("/scim/v2/Users", get(scim::list).post(scim::create))
        .route(
            "/scim/v2/Users/{id}",
            get(scim::get)
                .put(scim::replace)
                .patch(scim::patch)
                .delete(scim::delete),
        )
        .route("/v1/apps/{app}/review", post(periodic::review))
        .route("/v1/secrets", get(operate::list_secrets))
        .route("/v1/secrets/{name}", put(operate::put_secret))
        .route(
            "/v1/tokens",
            get(token_endpoints::list).post(token_endpoints::create),
        )
        .route(
            "/v1/tokens/{which}",
            axum::routing::delete(token_endpoints::revoke),
        )
        .route("/v1/templates", get(operate::list_templates))
        .route("/v1/templates/{name}", put(operate::put_template))
        .route("/v1/apps/{app}/kill", post(apps::kill))
        .route("/v1/apps/{app}/drill", post(apps::drill))
        .route("/v1/apps/{app}/unkill", post(apps::unkill))
        .route("/v1/apps/{app}/retire", post(retire::retire))
        .route("/v1/apps/{app}/transfer", post(transfer::transfer))
        .route("/v1/apps/{app}/unretire", post(retire::unretire))
        .route("/v1/audit", get(apps::audit))
        .route("/v1/audit/verify", get(apps::verify_audit))
        .route("/v1/audit/keys", get(apps::audit_keys))
        .route("/v1/apps/{app}/export", get(apps::export))
        .route("/v1/telemetry", get(telemetry_stats))
        .route("/v1/whoami", get(whoami))
        .route("/v1/oidc/config", get(oidc_config))
        .route("/v1/oidc/token", post(oidc_token))
        .route("/v1/top", get(observe::top))
        .route("/v1/apps/{app}/traces", get(observe::traces))
        .route("/v1/apps/{app}/usage", get(observe::usage))
        .with_state(state)
}

/// `GET /v1/oidc/config` (no token: the dashboard asks before anyone has
/// signed in): where the browser signs in, and `enabled: false` when
/// dashboard sign-in is not configured.
async fn oidc_config(
    axum::extract::State(state): axum::extract::State<AdminState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut config = state
        .oidc
        .as_ref()
        .and_then(|o| o.sign_in())
        .unwrap_or_else(|| json!({}));
    config["enabled"] = json!(!config.as_object().is_some_and(|o| o.is_empty()));
    Ok(Json(config))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeExchange {
    code: String,
    code_verifier: String,
    redirect_uri: String,
}

/// `POST /v1/oidc/token` (no token: this is how one is got): exchanges
/// the provider's code and the PKCE verifier for the ID token, verified
/// like any bearer token. A refusal is one generic 401; why is in the
/// host's log.
async fn oidc_token(
    axum::extract::State(state): axum::extract::State<AdminState>,
    peer: Option<axum::Extension<listener::Peer>>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let Some(oidc) = state.oidc.as_ref().filter(|o| o.sign_in().is_some()) else {
        return Err(ApiError::not_found("dashboard sign-in"));
    };
    let body: CodeExchange = require_json(body).await?;
    let client = peer.map(|p| p.0.0);
    match oidc
        .exchange(&body.code, &body.code_verifier, &body.redirect_uri, client)
        .await
    {
        Ok((token, principal)) => Ok(Json(json!({
            "id_token": token,
            "name": principal.name,
            "role": principal.role.as_str(),
        }))
        .into_response()),
        Err(oidc::ExchangeError::TooMany) => {
            let mut answer = ApiError(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "more than {} sign-ins from this address in {} s; try again shortly",
                    oidc::MAX_EXCHANGES,
                    oidc::EXCHANGE_WINDOW.as_secs()
                ),
            )
            .into_response();
            answer.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(oidc::EXCHANGE_WINDOW.as_secs()),
            );
            Ok(answer)
        }
        Err(oidc::ExchangeError::NotConfigured) => Err(ApiError::not_found("dashboard sign-in")),
        Err(oidc::ExchangeError::Refused(reason)) => {
            log_refusal(&reason);
            Err(ApiError(StatusCode::UNAUTHORIZED, REFUSED.into()))
        }
    }
}

/// Who the caller is: principal name, role and how they signed in (any
/// role; the dashboard shows what the role may do).
async fn whoami(principal: Principal) -> Json<serde_json::Value> {
    Json(json!({
        "name": principal.name,
        "role": principal.role.as_str(),
        "actor": principal.actor(),
    }))
}

/// Telemetry counters: spans queued, stored, dropped (queue full),
/// exported and failed to export; metric samples dropped. Any role.
async fn telemetry_stats(
    axum::extract::State(state): axum::extract::State<AdminState>,
    _principal: Principal,
) -> Json<serde_json::Value> {
    use std::sync::atomic::Ordering::Relaxed;
    let spans = match &state.telemetry {
        None => serde_json::Value::Null,
        Some(s) => json!({
            "queued": s.queued.load(Relaxed),
            "stored": s.stored.load(Relaxed),
            "dropped": s.dropped.load(Relaxed),
            "exported": s.exported.load(Relaxed),
            "export_failed": s.export_failed.load(Relaxed),
        }),
    };
    let audit_sinks = match &state.forwarding {
        Some(f) => f.report(state.server.runtime().audit()).await,
        None => Vec::new(),
    };
    Json(json!({
        "spans": spans,
        "metrics": { "samples_dropped": state.server.runtime().metric_samples_dropped() },
        "audit_sinks": audit_sinks,
    }))
}

/// The dashboard: one static page; every figure on it comes from the API
/// with the token the operator pastes (kept in the tab's session storage),
/// so it shows exactly what that token's role may see.
async fn dashboard() -> impl IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
            (axum::http::header::X_FRAME_OPTIONS, "DENY"),
            (axum::http::header::REFERRER_POLICY, "no-referrer"),
        ],
        include_str!("dashboard.html"),
    )
}

/// The dashboard's script, served from the admin origin so the page's
/// content security policy allows no inline script.
async fn dashboard_js() -> impl IntoResponse {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("dashboard.js"),
    )
}

async fn openapi() -> Json<serde_json::Value> {
    Json(serde_json::from_str(include_str!("openapi.json")).unwrap_or_default())
}
