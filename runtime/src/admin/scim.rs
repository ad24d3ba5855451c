//! SCIM 2.0 for the company's identity provider (RFC 7644): the IdP keeps
//! Warden's list of people (`crate::people`) as it keeps its own.
//!
//! | method and path                          | does |
//! |------------------------------------------|------|
//! | `GET /scim/v2/ServiceProviderConfig`     | what this server supports |
//! | `GET /scim/v2/Users[?filter=userName eq "…"]` | a ListResponse |
//! | `POST /scim/v2/Users`                    | create (409 `uniqueness` when the userName is taken) |
//! | `GET /scim/v2/Users/{id}`                | one User |
//! | `PUT /scim/v2/Users/{id}`                | replace |
//! | `PATCH /scim/v2/Users/{id}`              | a PatchOp (`active` false deactivates) |
//! | `DELETE /scim/v2/Users/{id}`             | delete (204) |
//!
//! Bearer token of the `scim` role (`warden tokens create --name okta
//! --role scim`), which may call nothing else; an admin may call these
//! too. Bodies are `application/scim+json` (plain JSON is accepted).
//!
//! A person deactivated or deleted loses every active Warden token under
//! any of their names at once (`token.revoked`, by `scim:<token>`), is
//! refused at sign-in from then on, and the apps they own are flagged as
//! orphaned; the change is audited as `person.deactivated` with the
//! tokens revoked and the apps orphaned. Every other change is audited as
//! `person.created`, `person.updated` or `person.deleted`.

use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, require};
use crate::audit::{AuditEvent, AuditKind};
use crate::people::{self, Change, ScimError, store::PersonRow};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

const SCIM_JSON: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A SCIM answer: `status` with `body` as `application/scim+json`.
fn scim(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(kind) = self.scim_type {
            body["scimType"] = json!(kind);
        }
        scim(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        )
    }
}

fn allowed(principal: &Principal) -> Result<(), ApiError> {
    require(principal, &[Role::Scim, Role::Admin])
}

fn parse(body: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid("invalidSyntax", format!("the body is not JSON: {e}")))
}

/// Runs `work` on the blocking pool (the store and the audit log are
/// files or a database), with the principal's actor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ScimError {
            status: 500,
            scim_type: None,
            detail: format!("the request did not complete: {e}"),
        })
    })
}

/// `GET /scim/v2/ServiceProviderConfig` (RFC 7643 §5).
pub(crate) async fn config(principal: Principal) -> Result<Response, ApiError> {
    allowed(&principal)?;
    Ok(scim(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": 1000 },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "a Warden token of the scim role (warden tokens create --role scim)",
                "primary": true
            }]
        }),
    ))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<usize>,
    count: Option<usize>,
}

/// `GET /scim/v2/Users`: a page of the people the filter selects.
pub(crate) async fn list(
    State(state): State<AdminState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    allowed(&principal)?;
    let store = state.people.clone();
    let found = blocking(move || people::filtered(&store, q.filter.as_deref())).await;
    let found = match found {
        Ok(found) => found,
        Err(e) => return Ok(e.into_response()),
    };
    // 1-based; a count of 0 asks only for the total (RFC 7644 §3.4.2.4).
    let start = q.start_index.unwrap_or(1).max(1);
    let count = q.count.unwrap_or(100).min(1000);
    let page: Vec<Value> = found
        .iter()
        .skip(start - 1)
        .take(count)
        .map(people::to_scim)
        .collect();
    Ok(scim(
        StatusCode::OK,
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": found.len(),
            "startIndex": start,
            "itemsPerPage": page.len(),
            "Resources": page,
        }),
    ))
}

/// `GET /scim/v2/Users/{id}`.
pub(crate) async fn get(
    State(state): State<AdminState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    allowed(&principal)?;
    let store = state.people.clone();
    Ok(match blocking(move || people::get(&store, &id)).await {
        Ok(person) => scim(StatusCode::OK, people::to_scim(&person)),
        Err(e) => e.into_response(),
    })
}

/// What a change to a person means, applied: tokens revoked and apps
/// flagged for a deactivation, and the audit entry.
fn effects(
    state: &AdminState,
    actor: &str,
    change: &Change,
    kind: AuditKind,
) -> Result<Value, ScimError> {
    let person = &change.after;
    let mut details = json!({
        "id": person.id,
        "user_name": person.user_name,
        "active": person.active,
    });
    let mut kind = kind;
    // Whenever the person ends inactive — a deactivation, a delete, a
    // creation as inactive, or the IdP's retry of a change whose revoking
    // failed half way — whatever is still active under their names goes.
    if !person.active {
        let (revoked, orphaned) = deactivate(state, actor, person)?;
        details["revoked_tokens"] = json!(revoked);
        details["orphaned_apps"] = json!(orphaned);
        if change.deactivated() && kind != AuditKind::PersonDeleted {
            kind = AuditKind::PersonDeactivated;
        }
    } else if change.reactivated() {
        details["reactivated"] = json!(true);
    }
    // Whose apps are orphaned may have changed with this person.
    state.server.runtime().orphans().forget();
    state
        .server
        .runtime()
        .audit()
        .append_blocking(AuditEvent {
            kind,
            app: None,
            actor: actor.to_string(),
            details: details.clone(),
        })
        .map_err(|e| ScimError {
            status: 500,
            scim_type: None,
            detail: format!("the change was made, but the audit log could not be written: {e}"),
        })?;
    Ok(details)
}

/// Revokes every active token whose name is one of the person's names
/// (never by a token's id, and never a `scim` token: the provider's own
/// credential is not a person's); returns the ids revoked and the live
/// apps they own.
fn deactivate(
    state: &AdminState,
    actor: &str,
    person: &PersonRow,
) -> Result<(Vec<String>, Vec<String>), ScimError> {
    let runtime = state.server.runtime();
    let names: Vec<&str> = person
        .aliases
        .split('\n')
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .collect();
    let held = state.tokens.list().map_err(|e| ScimError {
        status: 500,
        scim_type: None,
        detail: format!("the person is deactivated, but their tokens could not be read: {e}; they are refused at sign-in all the same"),
    })?;
    let mut revoked = Vec::new();
    for token in held
        .iter()
        .filter(|t| t.state == "active" && t.role != Role::Scim && names.contains(&t.name.as_str()))
    {
        match state
            .tokens
            .revoke_audited(&token.id, actor, runtime.audit())
        {
            Ok(tokens) => revoked.extend(tokens.into_iter().map(|t| t.id)),
            Err(super::token_store::TokenError::NotFound(_)) => {}
            Err(e) => {
                return Err(ScimError {
                    status: 500,
                    scim_type: None,
                    detail: format!(
                        "the person is deactivated, but their tokens could not be revoked: {e}; they are refused at sign-in all the same"
                    ),
                });
            }
        }
    }
    let orphaned = crate::lifecycle::orphans::owned_by(runtime, &person.aliases);
    Ok((revoked, orphaned))
}

/// Applies `change` to the list as the principal's provider, with its
/// effects and audit entry; answers `status` with the User.
async fn changed(
    state: AdminState,
    principal: &Principal,
    status: StatusCode,
    kind: AuditKind,
    change: impl FnOnce(&people::store::PeopleStore) -> Result<Change, ScimError> + Send + 'static,
) -> Result<Response, ApiError> {
    allowed(principal)?;
    let actor = format!("scim:{}", principal.name);
    let answer = blocking(move || {
        let change = change(&state.people)?;
        effects(&state, &actor, &change, kind)?;
        Ok(people::to_scim(&change.after))
    })
    .await;
    Ok(match answer {
        Ok(user) => scim(status, user),
        Err(e) => e.into_response(),
    })
}

/// `POST /scim/v2/Users`.
pub(crate) async fn create(
    State(state): State<AdminState>,
    principal: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let created = move |store: &people::store::PeopleStore| people::create(store, parse(&body)?);
    changed(
        state,
        &principal,
        StatusCode::CREATED,
        AuditKind::PersonCreated,
        created,
    )
    .await
}

/// `PUT /scim/v2/Users/{id}`.
pub(crate) async fn replace(
    State(state): State<AdminState>,
    principal: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let replaced =
        move |store: &people::store::PeopleStore| people::replace(store, &id, parse(&body)?);
    changed(
        state,
        &principal,
        StatusCode::OK,
        AuditKind::PersonUpdated,
        replaced,
    )
    .await
}

/// `PATCH /scim/v2/Users/{id}`.
pub(crate) async fn patch(
    State(state): State<AdminState>,
    principal: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let patched =
        move |store: &people::store::PeopleStore| people::patch(store, &id, &parse(&body)?);
    changed(
        state,
        &principal,
        StatusCode::OK,
        AuditKind::PersonUpdated,
        patched,
    )
    .await
}

/// `DELETE /scim/v2/Users/{id}`.
pub(crate) async fn delete(
    State(state): State<AdminState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    allowed(&principal)?;
    let actor = format!("scim:{}", principal.name);
    let answer = blocking(move || {
        let change = people::delete(&state.people, &id)?;
        effects(&state, &actor, &change, AuditKind::PersonDeleted)
    })
    .await;
    Ok(match answer {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    })
}
