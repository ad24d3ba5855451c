//! The publish decision of one deploy: the policy input built from the
//! request, the manifest, the staged component, the template, the catalog
//! and the live version, judged by the host's policy bundle.

use super::tokens::Principal;
use super::{AdminState, ApiError};
use crate::config::AppManifest;
use crate::policy::{Decision, input};
use crate::registry::Deployment;
use sha2::{Digest, Sha256};

/// What [`judge`] needs of a deploy.
pub(super) struct Candidate<'a> {
    pub manifest: &'a AppManifest,
    /// The manifest as the deployer sent it.
    pub text: &'a str,
    /// The owner the deploy records.
    pub owner: Option<&'a str>,
    pub component: Judged,
    /// `POST /v1/policy/check`: nothing is deployed.
    pub dry_run: bool,
}

/// The component a decision reads.
pub(super) enum Judged {
    /// Stored as `components/<SHA-256>.wasm` (staged or uploaded).
    Stored(String),
    /// Sent inline with a check; never stored.
    Sent(Vec<u8>),
    /// None given (a check before the build): rules about the component
    /// have nothing to read.
    Absent,
}

/// Decides a deploy. Errors are the deploy's refusal: a component that
/// cannot be read, a policy that fails to evaluate (fail closed).
pub(super) async fn judge(
    state: &AdminState,
    principal: &Principal,
    candidate: Candidate<'_>,
) -> Result<Decision, ApiError> {
    let versions = super::deploys::versions_of(state, &candidate.manifest.app.name).await?;
    let now = chrono::Utc::now();
    decide_off_thread(
        state,
        Publishing {
            request: input::PublishRequest {
                who: principal.name.clone(),
                role: principal.role.as_str().to_string(),
                team: principal.team.clone(),
                time: crate::policy::now_rfc3339(now),
                dry_run: candidate.dry_run,
            },
            manifest: candidate.manifest.clone(),
            text: candidate.text.to_string(),
            owner: candidate.owner.map(str::to_string),
            component: candidate.component,
            previous: current_of(&versions, None),
            now,
        },
    )
    .await
}

/// One publish to decide, owned, to cross to the blocking pool.
struct Publishing {
    request: input::PublishRequest,
    manifest: AppManifest,
    /// The manifest text as sent.
    text: String,
    owner: Option<String>,
    component: Judged,
    /// The app's current version: (version, status, manifest).
    previous: Option<(String, &'static str, AppManifest)>,
    now: chrono::DateTime<chrono::Utc>,
}

/// Builds the input (component facts, secret scan of component and
/// manifest text, the template) and decides, on the blocking pool: file
/// reading, scanning and evaluation stay off the async workers.
async fn decide_off_thread(state: &AdminState, p: Publishing) -> Result<Decision, ApiError> {
    let runtime = state.server.runtime().clone();
    tokio::task::spawn_blocking(move || decide(&runtime, p))
        .await
        .map_err(|e| ApiError::internal("the policy decision stopped", e))?
}

fn decide(runtime: &crate::runtime::Runtime, p: Publishing) -> Result<Decision, ApiError> {
    let bytes = match p.component {
        Judged::Stored(digest) => {
            let path = runtime
                .data_dir()
                .join("components")
                .join(format!("{digest}.wasm"));
            Some(
                std::fs::read(path)
                    .map_err(|e| ApiError::internal("the staged component could not be read", e))?,
            )
        }
        Judged::Sent(bytes) => Some(bytes),
        Judged::Absent => None,
    };
    let bad = |e: String| ApiError(axum::http::StatusCode::BAD_REQUEST, e);
    let table: toml::Table = toml::from_str(&p.text).map_err(|e| bad(format!("app.toml: {e}")))?;
    let evidence = crate::policy::evidence(&p.text, bytes.as_deref())
        .map_err(|e| bad(format!("component: {e}")))?;
    let template = p
        .manifest
        .app
        .template
        .as_deref()
        .and_then(|t| runtime.template(t));
    let document = input::build(
        &input::Publish {
            request: p.request,
            manifest: &p.manifest,
            manifest_table: &table,
            owner: p.owner.as_deref(),
            component: evidence.facts.as_ref(),
            template: template.as_ref(),
            secrets: &evidence.secrets,
            previous: p
                .previous
                .as_ref()
                .map(|(version, status, manifest)| input::Previous {
                    version,
                    status,
                    manifest,
                }),
        },
        runtime.platform(),
    );
    let bundle = runtime.policy().map_err(refused_by_error)?;
    bundle
        .decide(&p.manifest.app.name, &document, p.now)
        .map_err(refused_by_error)
}

fn refused_by_error(e: crate::policy::PolicyError) -> ApiError {
    ApiError(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "the publish policy could not decide, so the deploy is refused: {e}\n  fix: ask the platform team to correct the policy"
        ),
    )
}

/// The current version's number, status and manifest, if the app has one
/// (other than deploy `except`): the live version, or a retired one. A
/// manifest that cannot be read, or whose bytes are not the ones stored,
/// counts as granting nothing, so every grant of the new version is new
/// (fail closed).
fn current_of(
    all: &[Deployment],
    except: Option<i64>,
) -> Option<(String, &'static str, AppManifest)> {
    let live = all
        .iter()
        .find(|d| d.status.is_current() && Some(d.id) != except)?;
    let intact = std::fs::read(&live.manifest_path).ok().filter(|bytes| {
        live.stored_sha256
            .as_ref()
            .is_none_or(|digest| *digest == hex::encode(Sha256::digest(bytes)))
    });
    let manifest = intact
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| AppManifest::parse(&live.manifest_path, &text).ok())
        .or_else(|| {
            let bare = format!(
                "[app]\nname = \"{}\"\nversion = \"{}\"\ncomponent = \"app.wasm\"\n",
                live.app, live.version
            );
            AppManifest::parse(std::path::Path::new("app.toml"), &bare).ok()
        })?;
    Some((live.version.clone(), live.status.as_str(), manifest))
}

/// The decision on a deploy already recorded, made again now: for the
/// reviewer's view (`dry_run`) and before an approval, so a version the
/// policy refuses today — a new rule, an exception run out — is not
/// approved on an old decision.
pub(super) async fn again(
    state: &AdminState,
    this: &Deployment,
    all: &[Deployment],
    dry_run: bool,
) -> Result<Decision, ApiError> {
    // The manifest as it was sent (comments and all), when it is kept and
    // still has the digest taken at deploy; else the stored one.
    let sent = this
        .manifest_path
        .with_file_name(crate::registry::SENT_MANIFEST);
    let text = std::fs::read_to_string(&sent)
        .ok()
        .filter(|t| {
            this.manifest_sha256.as_deref()
                == Some(hex::encode(Sha256::digest(t.as_bytes())).as_str())
        })
        .map_or_else(|| std::fs::read_to_string(&this.manifest_path), Ok)
        .map_err(|e| ApiError::internal("the deploy's manifest could not be read", e))?;
    let manifest = AppManifest::parse(std::path::Path::new("app.toml"), &text)
        .map_err(|e| ApiError::internal("the deploy's manifest does not parse", e))?;
    let now = chrono::Utc::now();
    decide_off_thread(
        state,
        Publishing {
            // The publish is the deployer's, whoever looks at it or approves it.
            request: input::PublishRequest {
                who: this.deployed_by.clone(),
                role: this
                    .deployed_as
                    .clone()
                    .unwrap_or_else(|| "creator".to_string()),
                team: this.deployed_team.clone(),
                time: crate::policy::now_rfc3339(now),
                dry_run,
            },
            manifest,
            text,
            owner: this.owner.clone(),
            component: Judged::Stored(this.digest.clone()),
            previous: current_of(all, Some(this.id)),
            now,
        },
    )
    .await
}
