//! Deploy, review and version endpoints.
//!
//! A deploy uploads a manifest and a component. Warden stores both, checks
//! the app completely (it compiles, links, stays under the platform's
//! maximums), then either serves it at once — when it stays within its
//! template — or holds it for a reviewer, listing every grant beyond the
//! template. A reviewer approves or rejects held deploys of other people's
//! apps, never their own. Every step is an audit event with its actor.

use super::tokens::{Principal, Role};
use super::{AdminState, ApiError, record, require};
use crate::config::AppManifest;
use crate::policy::{Decision, Verdict};
use crate::registry::{Deployment, NewDeploy, Refusal, RegistryError, Status};
use crate::wait::Wait as _;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployBody {
    /// The app's `app.toml`, as text.
    pub(super) manifest: String,
    /// The component, base64 (small components).
    #[serde(default)]
    component: Option<String>,
    /// Or the SHA-256 of a component uploaded with `PUT /v1/components`.
    #[serde(default)]
    component_sha256: Option<String>,
}

/// What a creator can do about a held deploy.
fn held_next(name: &str, version: &str, has_template: bool) -> String {
    let template = if has_template {
        "or stay within the app's template (its allowance: `warden review show`)"
    } else {
        "or name a template that allows these grants in app.template (`GET /v1/templates` lists them) and deploy again"
    };
    format!(
        "held for a reviewer: a reviewer approves it (they see it with `warden review show {name} {version}`), {template}"
    )
}

/// Serves `app` from now on; `owned` applies the route rules for owners
/// (a creator's deploy). A route conflict is 403, anything else 409, both
/// without the host's paths.
pub(super) fn install(
    state: &AdminState,
    app: crate::app::LoadedApp,
    owned: bool,
) -> Result<(), ApiError> {
    let answer = if owned {
        state.server.install_owned(app).map(drop)
    } else {
        state
            .server
            .install(app)
            .map(drop)
            .map_err(crate::serve::Refused::Config)
    };
    answer.map_err(|e| {
        let status = match e {
            crate::serve::Refused::Route(_) => StatusCode::FORBIDDEN,
            crate::serve::Refused::Config(_) => StatusCode::CONFLICT,
        };
        ApiError(
            status,
            for_caller(state.server.runtime().data_dir(), &e.to_string()),
        )
    })
}

/// Collects what the deploys before left behind, off the request path.
fn collect_after(state: &AdminState) {
    let server = state.server.clone();
    tokio::task::spawn_blocking(move || server.collect());
}

/// A place among the deploys in progress for `principal`, or 429.
pub(super) fn deploy_place(
    state: &AdminState,
    principal: &Principal,
) -> Result<crate::caps::Held<String>, ApiError> {
    let deploys = &state.server.runtime().platform().deploys;
    state.deploys.take(principal.name.clone()).map_err(|full| {
        let (what, key, limit) = match full {
            crate::caps::Full::Total => ("deploys are", "max_concurrent", deploys.max_concurrent),
            crate::caps::Full::Key => (
                "of your deploys are",
                "max_concurrent_per_creator",
                deploys.max_concurrent_per_creator,
            ),
        };
        ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{limit} {what} in progress (`deploys.{key}`); try again when one has finished"
            ),
        )
    })
}

/// `POST /v1/apps`. The role and the caps are checked before the body is
/// read; the deploy then runs in a task of its own that holds its place
/// until it is done, so a client that hangs up cannot start more.
pub async fn deploy(
    State(state): State<AdminState>,
    principal: Principal,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    placed(
        state,
        principal,
        body,
        "deploy",
        |state, principal, body| async move {
            let answer = deploy_checked(&state, principal, body).await;
            // Collect after a deploy that stored something (live, held or failed).
            if matches!(&answer, Ok(_) | Err(ApiError(StatusCode::BAD_REQUEST, _))) {
                collect_after(&state);
            }
            answer
        },
    )
    .await
}

/// Runs `work` on a deploy's body (`what`: `deploy`, `check`) in a task of
/// its own that holds one of the caller's deploy places until it is done:
/// the role and the caps are checked before the body is read, and a client
/// that hangs up frees no place while its work goes on.
pub(super) async fn placed<T, F, Fut>(
    state: AdminState,
    principal: Principal,
    body: axum::body::Body,
    what: &str,
    work: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(AdminState, Principal, DeployBody) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    require(&principal, &[Role::Creator, Role::Admin])?;
    let place = deploy_place(&state, &principal)?;
    let limit = super::inline_deploy_limit(state.server.runtime().platform());
    let bytes = super::read_body_within(
        body,
        limit,
        &format!("the {what} body is too large for an inline component; upload the component with PUT /v1/components and name it by `component_sha256` (warden {what} does)"),
    )
    .await?;
    let body: DeployBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the {what} body is not {{\"manifest\", \"component_sha256\" | \"component\"}}: {e}"
            ),
        )
    })?;
    drop(bytes);
    let running = tokio::spawn(async move {
        let _place = place;
        work(state, principal, body).await
    });
    running
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(&format!("the {what} stopped"), e)))
}

/// Refuses a creator's deploy (or check) of an app whose name another
/// owner holds. The registry decides who holds a name when a deploy is
/// recorded; this early answer spares the upload of a doomed deploy, and
/// keeps a check from reading another owner's live version.
pub(super) async fn name_free_for(
    state: &AdminState,
    principal: &Principal,
    name: &str,
    owner: Option<&str>,
) -> Result<(), ApiError> {
    if principal.role != Role::Creator {
        return Ok(());
    }
    let taken = |holder: Option<&str>| holder != owner;
    let held = state
        .server
        .runtime()
        .registry()
        .owner(name)
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))?;
    if held.as_ref().is_some_and(|h| taken(h.as_deref()))
        || state
            .server
            .loaded(name)
            .is_some_and(|a| taken(a.manifest.app.owner.as_deref()))
    {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            Refusal::NameTaken(name.to_string()).to_string(),
        ));
    }
    Ok(())
}

/// Refuses to change an app this host serves from a local manifest
/// (`warden.toml` or `--app`): that is the operator's to change there.
pub(super) fn not_local(state: &AdminState, name: &str) -> Result<(), ApiError> {
    let data_dir = state.server.runtime().data_dir();
    let local = |path: &std::path::Path| !path.starts_with(data_dir);
    if state
        .server
        .loaded(name)
        .is_some_and(|a| local(&a.manifest_path))
        || state
            .server
            .starting_app(name)
            .is_some_and(|a| local(&a.manifest_path))
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "app `{name}` is served from a local manifest (warden.toml or --app) on this host; change it there"
            ),
        ));
    }
    Ok(())
}

/// The owner a deploy by `principal` records: a creator's own name (a
/// creator deploys only their own apps), else the manifest's `app.owner`.
pub(super) fn owner_for(
    principal: &Principal,
    manifest: &AppManifest,
) -> Result<Option<String>, ApiError> {
    match (principal.role, &manifest.app.owner) {
        (Role::Creator, Some(owner)) if *owner != principal.name => Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "app.toml: app.owner is `{owner}`, but creators deploy only their own apps\n  fix: set app.owner = \"{}\" or leave it out",
                principal.name
            ),
        )),
        (Role::Creator, _) => Ok(Some(principal.name.clone())),
        (_, owner) => Ok(owner.clone()),
    }
}

/// A component a deploy (or check) body gives.
pub(super) struct Given {
    /// Its bytes when sent inline; `None` when uploaded before.
    pub bytes: Option<Vec<u8>>,
    pub digest: String,
}

/// The component a deploy (or check) body gives; `None` when it gives
/// none.
pub(super) async fn component_of(
    runtime: &crate::runtime::Runtime,
    body: &DeployBody,
) -> Result<Option<Given>, ApiError> {
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    match (&body.component, &body.component_sha256) {
        (Some(encoded), None) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| bad(format!("component: not base64 ({e})")))?;
            let digest = hex::encode(Sha256::digest(&bytes));
            Ok(Some(Given {
                bytes: Some(bytes),
                digest,
            }))
        }
        (None, Some(digest)) => {
            let digest = digest.trim().to_ascii_lowercase();
            let uploaded = digest.len() == 64
                && digest.bytes().all(|b| b.is_ascii_hexdigit())
                && runtime
                    .registry()
                    .fetch_component(&digest)
                    .await
                    .map_err(|e| ApiError::internal("the registry could not be read", e))?
                    .is_some();
            if !uploaded {
                return Err(bad(format!(
                    "component_sha256: no uploaded component has the digest `{digest}`\n  fix: upload it first with `PUT /v1/components` (warden deploy does both)"
                )));
            }
            Ok(Some(Given {
                bytes: None,
                digest,
            }))
        }
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(bad(
            "give the component either as `component` (base64) or as `component_sha256` (uploaded with PUT /v1/components), not both".into(),
        )),
    }
}

async fn deploy_checked(
    state: &AdminState,
    principal: Principal,
    body: DeployBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let label = std::path::Path::new("app.toml");
    let manifest = AppManifest::parse(label, &body.manifest).map_err(|e| bad(e.to_string()))?;
    let table: toml::Table = toml::from_str(&body.manifest).map_err(|e| bad(e.to_string()))?;
    let name = manifest.app.name.clone();
    let _app = state.app_locks.lock(&name).await;
    let owner = owner_for(&principal, &manifest)?;
    name_free_for(state, &principal, &name, owner.as_deref()).await?;
    // Checked again when it goes live (install_owned); here it spares the
    // creator an upload and a compile that cannot be served.
    if principal.role == Role::Creator
        && let Some(http) = &manifest.http
        && let Some(conflict) = crate::serve::route_owners::conflict(
            &state.server.route_holders(),
            &name,
            owner.as_deref(),
            &http.route,
        )
    {
        return Err(ApiError(StatusCode::FORBIDDEN, conflict.to_string()));
    }
    not_local(state, &name)?;
    let manifest_sha256 = hex::encode(Sha256::digest(body.manifest.as_bytes()));
    let runtime = state.server.runtime().clone();
    let Given {
        bytes: component,
        digest,
    } = component_of(&runtime, &body).await?.ok_or_else(|| {
        bad("give the component as `component` (base64) or as `component_sha256` (uploaded with PUT /v1/components)".into())
    })?;
    let deployment = runtime
        .registry()
        .stage(NewDeploy {
            app: name.clone(),
            version: manifest.app.version.clone(),
            owner: owner.clone(),
            deployed_by: principal.name.clone(),
            deployed_as: principal.role.as_str().to_string(),
            deployed_team: principal.team.clone(),
            manifest_sha256: manifest_sha256.clone(),
            owner_must_match: principal.role == Role::Creator,
            manifest: table,
            sent_text: body.manifest.clone(),
            component,
            digest: digest.clone(),
        })
        .await
        .map_err(|e| match e {
            // A version, once deployed, means one manifest and one
            // component: what a reviewer read is what an approval turns on.
            RegistryError::Refused(refusal @ Refusal::VersionTaken(_)) => {
                ApiError(StatusCode::CONFLICT, refusal.to_string())
            }
            RegistryError::Refused(refusal @ Refusal::NameTaken(_)) => {
                ApiError(StatusCode::FORBIDDEN, refusal.to_string())
            }
            e => ApiError::internal("the deploy could not be stored", format!("{e}")),
        })?;
    // Check everything now, so a deploy that cannot run fails here and not
    // when a reviewer approves it.
    let checking = deployment.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let mut approved = checking;
        approved.approved = true;
        crate::serve::deployed::load(&runtime, &approved)
    })
    .await
    .map_err(|e| ApiError::internal("the deploy check stopped", e))?;
    let registry = state.server.runtime().registry();
    let app = match loaded {
        Ok(app) => app,
        Err(e) => {
            let message = for_caller(state.server.runtime().data_dir(), &e.to_string());
            let _ = registry.fail(deployment.id, &message).await;
            // Every publish that does not go live is on record, with why.
            record(
                state,
                crate::audit::AuditKind::AppRefused,
                Some(&name),
                &principal,
                json!({ "version": deployment.version, "deploy": deployment.id, "error": message }),
            )?;
            return Err(bad(message));
        }
    };
    let decision = super::publish::judge(
        state,
        &principal,
        super::publish::Candidate {
            manifest: &manifest,
            text: &body.manifest,
            owner: owner.as_deref(),
            component: super::publish::Judged::Stored(digest.clone()),
            dry_run: false,
        },
    )
    .await;
    let decision = match decision {
        Ok(d) => d,
        Err(e) => {
            let _ = state
                .server
                .runtime()
                .registry()
                .fail(deployment.id, &e.1)
                .await;
            // A publish the policy could not decide is refused, on record.
            record(
                state,
                crate::audit::AuditKind::AppRefused,
                Some(&name),
                &principal,
                json!({ "version": deployment.version, "deploy": deployment.id, "error": e.1 }),
            )?;
            return Err(e);
        }
    };
    // The revision travels with every later step of the deploy's history.
    record_revision(state, deployment.id, &decision.revision).await;
    if decision.verdict == Verdict::Refused {
        return Err(refuse(state, &principal, &deployment, &decision).await);
    }
    let mut reasons = decision.reasons();
    // The check's compile is the one that counts ("compiled" or "cached").
    let artifact = app.artifact;
    // What goes live without a reviewer is served unapproved, so a data
    // class that needs approval stays shut whatever the policy waived (an
    // exception, an enforcement level): such a deploy waits for a reviewer.
    let app = if reasons.is_empty() {
        let runtime = state.server.runtime().clone();
        let unapproved = deployment.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            crate::serve::deployed::load(&runtime, &unapproved)
        })
        .await
        .map_err(|e| ApiError::internal("the deploy check stopped", e))?;
        match loaded {
            Ok(unapproved) => unapproved,
            Err(e) => {
                reasons.push(format!(
                    "a reviewer must approve it: {}",
                    for_caller(state.server.runtime().data_dir(), &e.to_string())
                ));
                app
            }
        }
    } else {
        app
    };
    // A version of a killed app goes live killed: the kill is the app's.
    let killed = state.server.runtime().kill_switch(&name).is_killed();
    let details = json!({
        "version": deployment.version,
        "digest": deployment.digest,
        "component_sha256": deployment.digest,
        "manifest_sha256": manifest_sha256,
        "deploy": deployment.id,
        "artifact": artifact,
        "status": match (reasons.is_empty(), killed) {
            (false, _) => "pending",
            (true, true) => "killed",
            (true, false) => "active",
        },
        "reasons": reasons,
        "policy": decision,
    });
    let replaced = if reasons.is_empty() {
        versions_of(state, &name)
            .await
            .ok()
            .and_then(|all| live_before(&all, &deployment))
    } else {
        None
    };
    // From here to the audit entry nothing awaits: a request dropped at an
    // await (the client gone, the drain timeout) would leave an app live,
    // or a deploy recorded, without its entry. The registry is waited for.
    if reasons.is_empty() {
        if let Err(e) = install(state, app, principal.role == Role::Creator) {
            let _ = registry.fail(deployment.id, &e.1).wait();
            return Err(e);
        }
        match registry.activate(deployment.id, None).wait() {
            Ok(true) if killed => state.server.runtime().mark_version(
                &name,
                true,
                "warden",
                "the app is killed: live, refused until unkilled",
            ),
            Ok(true) => {}
            Ok(false) => return Err(withdrawn(state, &name, &deployment).await),
            Err(e) => {
                restore_recorded(state, &name).await;
                return Err(ApiError::internal("the deploy could not be recorded", e));
            }
        }
    } else {
        registry
            .hold(deployment.id, &reasons)
            .wait()
            .map_err(|e| ApiError::internal("the deploy could not be recorded", e))?;
    }
    record(
        state,
        crate::audit::AuditKind::AppDeployed,
        Some(&name),
        &principal,
        details.clone(),
    )?;
    record_superseded(state, &principal, replaced.as_ref(), &deployment)?;
    let verdict = if reasons.is_empty() { "live" } else { "held" };
    let unattested = super::attestations::attest_or_warn(
        state,
        &deployment,
        verdict,
        Some(&details["policy"]),
        None,
    );
    tracing::info!(
        app = name.as_str(),
        version = deployment.version.as_str(),
        deploy = deployment.id,
        actor = principal.actor().as_str(),
        status = if reasons.is_empty() {
            "active"
        } else {
            "pending"
        },
        "app deployed"
    );
    let status = if reasons.is_empty() {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    let mut out = details;
    out["app"] = json!(name);
    if let Some(e) = unattested {
        out["attestation_error"] = json!(e);
    }
    if status == StatusCode::ACCEPTED {
        out["next"] = json!(held_next(
            &name,
            &manifest.app.version,
            manifest.app.template.is_some()
        ));
    }
    Ok((status, Json(out)))
}

/// Refuses a deploy the policy denied: the deploy is marked failed, the
/// decision audited (`app.refused`), and the caller told every finding
/// with its fix (HTTP 422).
async fn refuse(
    state: &AdminState,
    principal: &Principal,
    deployment: &Deployment,
    decision: &Decision,
) -> ApiError {
    let message = format!(
        "the publish policy refused {} {}:\n{}",
        deployment.app,
        deployment.version,
        decision.refusals()
    );
    let _ = state
        .server
        .runtime()
        .registry()
        .fail(deployment.id, &message)
        .await;
    let details = json!({
        "version": deployment.version,
        "component_sha256": deployment.digest,
        "deploy": deployment.id,
        "policy": decision,
    });
    if let Err(e) = record(
        state,
        crate::audit::AuditKind::AppRefused,
        Some(&deployment.app),
        principal,
        details.clone(),
    ) {
        return e;
    }
    super::attestations::attest_or_warn(
        state,
        deployment,
        "refused",
        Some(&details["policy"]),
        None,
    );
    tracing::info!(
        app = deployment.app.as_str(),
        version = deployment.version.as_str(),
        deploy = deployment.id,
        actor = principal.actor().as_str(),
        denied = decision.deny.len(),
        "deploy refused by the publish policy"
    );
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// The version `activating` is about to replace, if any: the live one,
/// or a retired one.
fn live_before(all: &[Deployment], activating: &Deployment) -> Option<Deployment> {
    all.iter()
        .find(|d| d.status.is_current() && d.id != activating.id)
        .cloned()
}

/// Audits that `old` stopped being its app's version when `new` went live
/// (the step is in `old`'s history too); an unwritable audit log is the
/// caller's error, as for every governance event.
fn record_superseded(
    state: &AdminState,
    principal: &Principal,
    old: Option<&Deployment>,
    new: &Deployment,
) -> Result<(), ApiError> {
    let Some(old) = old else {
        return Ok(());
    };
    record(
        state,
        crate::audit::AuditKind::VersionSuperseded,
        Some(&old.app),
        principal,
        json!({
            "version": old.version,
            "deploy": old.id,
            "by_version": new.version,
            "by_deploy": new.id,
            "component_sha256": old.digest,
        }),
    )
}

/// Records the policy revision a deploy's decision rests on, for the
/// later steps of its history; a registry that cannot take it is logged,
/// not a reason to strand the deploy.
async fn record_revision(state: &AdminState, deploy: i64, revision: &str) {
    if let Err(e) = state
        .server
        .runtime()
        .registry()
        .decided(deploy, revision)
        .await
    {
        tracing::warn!(deploy, "the decision's revision is not in the history: {e}");
    }
}

/// Every deploy of `name`, newest first.
pub(super) async fn versions_of(
    state: &AdminState,
    name: &str,
) -> Result<Vec<Deployment>, ApiError> {
    state
        .server
        .runtime()
        .registry()
        .versions(name)
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))
}

/// The deploy that holds `version` for `principal`: one that did not fail
/// (and was not deleted) if there is one, else the newest.
pub(super) fn holder<'a>(
    all: &'a [Deployment],
    principal: &Principal,
    version: &str,
) -> Option<&'a Deployment> {
    all.iter()
        .filter(|d| d.version == version && visible(principal, d))
        .min_by_key(|d| matches!(d.status, Status::Failed | Status::Deleted))
}

/// Whether `principal` may see deploy `d`: creators see their own.
pub(super) fn visible(principal: &Principal, d: &Deployment) -> bool {
    principal.role != Role::Creator || d.owner.as_deref() == Some(principal.name.as_str())
}

pub async fn versions(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let all = versions_of(&state, &name).await?;
    let visible: Vec<&Deployment> = all.iter().filter(|d| visible(&principal, d)).collect();
    if visible.is_empty() {
        return Err(ApiError::not_found(&format!("deploys of app `{name}`")));
    }
    Ok(Json(json!({ "app": name, "versions": visible })))
}

/// Deploys waiting for a reviewer (reviewers, admins and auditors see all;
/// creators their own).
pub async fn pending(
    State(state): State<AdminState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let all = state
        .server
        .runtime()
        .registry()
        .pending()
        .await
        .map_err(|e| ApiError::internal("the registry could not be read", e))?;
    let visible: Vec<&Deployment> = all.iter().filter(|d| visible(&principal, d)).collect();
    Ok(Json(json!({ "pending": visible })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewBody {
    /// The version to review (default: the latest pending one).
    version: Option<String>,
    /// The exact deploy reviewed (its id in `/v1/reviews`).
    deploy: Option<i64>,
    /// The component digest the reviewer saw; refused if it differs.
    digest: Option<String>,
    /// Why; required to reject.
    note: Option<String>,
}

/// The pending deploy a review is about; refuses reviewers' own apps.
fn pending_for(
    state: &AdminState,
    principal: &Principal,
    name: &str,
    exact: &ReviewBody,
) -> Result<Deployment, ApiError> {
    let version = exact.version.as_deref();
    let versions = state
        .server
        .runtime()
        .registry()
        .versions(name)
        .wait()
        .map_err(|e| ApiError::internal("the registry could not be read", e))?;
    let deployment = versions
        .into_iter()
        .find(|d| {
            d.status == Status::Pending
                && version.is_none_or(|v| d.version == v)
                && exact.deploy.is_none_or(|id| d.id == id)
        })
        .ok_or_else(|| {
            ApiError::not_found(&format!(
                "a pending deploy of `{name}`{}",
                version.map(|v| format!(" version {v}")).unwrap_or_default()
            ))
        })?;
    if let Some(digest) = &exact.digest
        && !digest.eq_ignore_ascii_case(&deployment.digest)
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "deploy {} of `{name}` has component {}, not the {digest} given; review what is pending now",
                deployment.id, deployment.digest
            ),
        ));
    }
    if deployment.deployed_by == principal.name
        || deployment.owner.as_deref() == Some(principal.name.as_str())
    {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "reviewers may not review their own apps; ask another reviewer".into(),
        ));
    }
    Ok(deployment)
}

pub async fn approve(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Reviewer])?;
    let body: ReviewBody = super::read_json(body).await?.unwrap_or_default();
    let _app = state.app_locks.lock(&name).await;
    let mut deployment = pending_for(&state, &principal, &name, &body)?;
    // Approved on today's decision, not the deploy's: a rule added or an
    // exception run out since can refuse it now.
    let all = versions_of(&state, &name).await?;
    let decision = super::publish::again(&state, &deployment, &all, false).await?;
    if decision.verdict == Verdict::Refused {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the publish policy now refuses {} {}, so it cannot be approved:\n{}",
                deployment.app,
                deployment.version,
                decision.refusals()
            ),
        ));
    }
    record_revision(&state, deployment.id, &decision.revision).await;
    deployment.approved = true;
    let runtime = state.server.runtime().clone();
    let loading = deployment.clone();
    let app = tokio::task::spawn_blocking(move || crate::serve::deployed::load(&runtime, &loading))
        .await
        .map_err(|e| ApiError::internal("loading stopped", e))?
        .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))?;
    // Deploys recorded before Warden kept the deployer's role count as a
    // creator's: the owner rules apply unless an admin deployed it.
    let owned = deployment.deployed_as.as_deref() != Some(Role::Admin.as_str());
    let replaced = live_before(&all, &deployment);
    // From here to the audit entry nothing awaits (see `deploy_checked`).
    install(&state, app, owned)?;
    let note = body.note.unwrap_or_default();
    let activated = state
        .server
        .runtime()
        .registry()
        .activate(deployment.id, Some((&principal.name, &note)))
        .wait();
    let killed = state.server.runtime().kill_switch(&name).is_killed();
    match activated {
        Ok(true) if killed => state.server.runtime().mark_version(
            &name,
            true,
            "warden",
            "the app is killed: live, refused until unkilled",
        ),
        Ok(true) => {}
        Ok(false) => return Err(withdrawn(&state, &name, &deployment).await),
        Err(e) => {
            restore_recorded(&state, &name).await;
            return Err(ApiError::internal("the approval could not be recorded", e));
        }
    }
    record(
        &state,
        crate::audit::AuditKind::AppApproved,
        Some(&name),
        &principal,
        json!({
            "version": deployment.version,
            "deploy": deployment.id,
            "note": note,
            "reasons": deployment.reasons,
            "component_sha256": deployment.digest,
            "manifest_sha256": deployment.manifest_sha256,
            "policy": decision,
        }),
    )?;
    record_superseded(&state, &principal, replaced.as_ref(), &deployment)?;
    tracing::info!(
        app = name.as_str(),
        version = deployment.version.as_str(),
        deploy = deployment.id,
        actor = principal.actor().as_str(),
        "app approved"
    );
    let unattested = super::attestations::attest_or_warn(
        &state,
        &deployment,
        "approved",
        serde_json::to_value(&decision).ok().as_ref(),
        Some((&principal, &note)),
    );
    collect_after(&state);
    Ok(Json(json!({
        "app": name,
        "version": deployment.version,
        "status": if killed { "killed" } else { "active" },
        "attestation_error": unattested,
    })))
}

pub async fn reject(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Reviewer])?;
    let body: ReviewBody = super::require_json(body).await?;
    let _app = state.app_locks.lock(&name).await;
    let deployment = pending_for(&state, &principal, &name, &body)?;
    let note = body.note.unwrap_or_default();
    if note.trim().is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "say why in `note`; the creator sees it".into(),
        ));
    }
    let rejected = state
        .server
        .runtime()
        .registry()
        .reject(deployment.id, &principal.name, &note)
        .await
        .map_err(|e| ApiError::internal("the rejection could not be recorded", e))?;
    if !rejected {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "deploy {} of `{name}` is no longer pending (approved, cancelled or deleted meanwhile); nothing was rejected",
                deployment.id
            ),
        ));
    }
    record(
        &state,
        crate::audit::AuditKind::AppRejected,
        Some(&name),
        &principal,
        json!({ "version": deployment.version, "deploy": deployment.id, "note": note }),
    )?;
    let unattested = super::attestations::attest_or_warn(
        &state,
        &deployment,
        "rejected",
        None,
        Some((&principal, &note)),
    );
    tracing::info!(
        app = name.as_str(),
        version = deployment.version.as_str(),
        deploy = deployment.id,
        actor = principal.actor().as_str(),
        "app rejected"
    );
    collect_after(&state);
    Ok(Json(json!({
        "app": name,
        "version": deployment.version,
        "status": "rejected",
        "attestation_error": unattested,
    })))
}

/// `DELETE /v1/apps/{app}` (admin): every deploy of the app is marked
/// deleted (kept as a record in `versions`), it stops being served and
/// its schedules stop, its quota override, stored data (rows and data
/// key), spans and usage tallies are removed, and its name is free for
/// anyone — what is kept under the name would otherwise pass to the next
/// app that takes it. The kill switch and the audit entries stay. An app
/// served from a local manifest is refused (409): it is removed where it
/// is configured. Safe to repeat: a delete that failed part way finishes
/// on the next call.
pub async fn delete(
    State(state): State<AdminState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require(&principal, &[Role::Admin])?;
    let _app = state.app_locks.lock(&name).await;
    let runtime = state.server.runtime().clone();
    not_local(&state, &name)?;
    let known = versions_of(&state, &name).await?;
    if known.is_empty() {
        return Err(ApiError::not_found(&format!("deploys of app `{name}`")));
    }
    // From here to the audit entry nothing awaits (see `deploy_checked`).
    let deploys = runtime
        .registry()
        .delete_app(&name, &principal.actor())
        .wait()
        .map_err(|e| ApiError::internal("the registry could not be changed", e))?;
    state
        .server
        .remove(&name)
        .map_err(|e| ApiError::internal("the app could not be unloaded", e))?;
    let rows = runtime
        .storage()
        .delete_app(&name)
        .wait()
        .map_err(|e| ApiError::internal("its stored data could not be deleted", e))?;
    let invocations = match &state.spans {
        Some(spans) => spans
            .delete_app(&name)
            .map_err(|e| ApiError::internal("its spans could not be deleted", e))?,
        None => 0,
    };
    let killed = runtime.kill_state().contains_key(&name);
    record(
        &state,
        crate::audit::AuditKind::AppDeleted,
        Some(&name),
        &principal,
        json!({ "deploys": deploys, "storage_rows": rows, "invocations": invocations }),
    )?;
    tracing::info!(
        app = name.as_str(),
        deploys,
        actor = principal.actor().as_str(),
        "app deleted"
    );
    collect_after(&state);
    Ok(Json(json!({
        "app": name,
        "deploys_deleted": deploys,
        "storage_rows_deleted": rows,
        "invocations_deleted": invocations,
        "killed": killed,
    })))
}

/// The answer when a deploy went live in memory but its record had been
/// withdrawn meanwhile (by another host on the data directory): what the
/// registry records as live is served again.
async fn withdrawn(state: &AdminState, name: &str, deployment: &Deployment) -> ApiError {
    restore_recorded(state, name).await;
    ApiError(
        StatusCode::CONFLICT,
        format!(
            "deploy {} of `{name}` was cancelled, reviewed or deleted while it was checked; nothing of it is served",
            deployment.id
        ),
    )
}

/// Serves what the registry records as the live version of `name` again
/// — after a deploy went live in memory but could not be recorded — or,
/// with none recorded, nothing: what is served matches what is recorded.
/// When the registry cannot be read either (its database is down), what
/// it records is not known — the failed recording may even have
/// committed — so nothing is taken down on a guess: the host keeps what
/// it serves, and the registry follower (nodes on shared state, once the
/// database answers) or a restart puts back what is recorded.
async fn restore_recorded(state: &AdminState, name: &str) {
    let runtime = state.server.runtime().clone();
    let active = match runtime.registry().versions(name).await {
        Ok(all) => all.into_iter().find(|d| d.status.is_live()),
        Err(e) => {
            tracing::warn!(
                "`{name}` may be served in a version the registry does not record as live: the registry cannot be read ({e}); {}",
                if runtime.shared().is_some() {
                    "this node follows the record once the database answers"
                } else {
                    "restart the host once it can be read"
                }
            );
            return;
        }
    };
    let restored = match active {
        Some(d) => {
            let loading = runtime.clone();
            match tokio::task::spawn_blocking(move || crate::serve::deployed::load(&loading, &d))
                .await
            {
                Ok(Ok(app)) => state
                    .server
                    .install(app)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        None => state
            .server
            .remove(name)
            .map(drop)
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = restored {
        tracing::warn!("`{name}` could not be put back as recorded: {e}; restart the host");
    }
}

/// `text` without the host's data-directory paths: a deploy's manifest is
/// named `app.toml` and other files by their place inside the data
/// directory, so a creator learns nothing of the host's layout.
fn for_caller(data_dir: &std::path::Path, text: &str) -> String {
    let dir = data_dir.display().to_string();
    let deploys = format!("{dir}/deploys/");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&deploys) {
        out.push_str(&rest[..at]);
        let after = &rest[at + deploys.len()..];
        // `<id>/` names the deploy's own directory: drop it too.
        let id = after.bytes().take_while(u8::is_ascii_digit).count();
        rest = match after[id..].strip_prefix('/') {
            Some(tail) if id > 0 => tail,
            _ => after,
        };
    }
    out.push_str(rest);
    out.replace(&format!("{dir}/"), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_for_callers_name_files_without_the_hosts_paths() {
        let dir = std::path::Path::new("/var/lib/warden");
        let text = "/var/lib/warden/deploys/12/app.toml: field `app.component`: /var/lib/warden/components/ab.wasm does not compile";
        assert_eq!(
            for_caller(dir, text),
            "app.toml: field `app.component`: components/ab.wasm does not compile"
        );
    }
}
