//! Serving what the deploy registry holds: at start-up every active
//! version comes back (from the artifact cache, without recompiling), and
//! an operator's quota change reloads the app it applies to.

use super::Server;
use super::starting::StartingApp;
use crate::app::{CheckedApp, LoadOptions, LoadedApp};
use crate::config::ConfigError;
use crate::registry::Deployment;
use crate::runtime::Runtime;
use crate::wait::Wait as _;
use sha2::Digest as _;
use std::sync::Arc;

/// How `app` loads on this host: its review state and the operator's
/// quota override, if any.
/// The load options of `app`'s deployed version. An operator's quota
/// override that cannot be read fails the load (the version served before
/// stays): loading without it could serve past a limit the operator set.
fn options(
    runtime: &Runtime,
    app: &str,
    approved: bool,
    manifest: &std::path::Path,
) -> Result<LoadOptions, ConfigError> {
    let quota = runtime.registry().quota(app).wait().map_err(|e| {
        ConfigError::invalid(
            manifest,
            "quota",
            format!("the operator's quota override of `{app}` cannot be read: {e}"),
            "the app is loaded once the registry answers (a restart, or the next follow on shared state)",
        )
    })?;
    Ok(LoadOptions { approved, quota })
}

/// Loads a deployed version with its review state and quota override,
/// once its files are shown to be the ones deployed (and approved): the
/// manifest before it is read, the component by the digest the load takes
/// of the very bytes it compiles (no second read; what is checked is what
/// runs).
pub fn load(runtime: &Runtime, deployment: &Deployment) -> Result<LoadedApp, ConfigError> {
    compile(runtime, deployment, check(runtime, deployment)?)
}

/// Every check of [`load`] before the compile, the digests included.
pub(crate) fn check(runtime: &Runtime, deployment: &Deployment) -> Result<CheckedApp, ConfigError> {
    let manifest = &deployment.manifest_path;
    if let Some(stored) = &deployment.stored_sha256 {
        let found = digest_of(manifest);
        if found != *stored {
            return Err(tampered(runtime, deployment, manifest, stored, &found));
        }
    }
    let options = options(runtime, &deployment.app, deployment.approved, manifest)?;
    match runtime.check_app_with(manifest, &options) {
        Ok(mut app) if app.digest == deployment.digest => {
            // The registry says whose it is now (an app may have been
            // passed to someone else since it was deployed).
            app.manifest.app.owner = deployment.owner.clone();
            Ok(app)
        }
        Ok(app) => {
            let component = app.manifest.component_path(manifest);
            Err(tampered(
                runtime,
                deployment,
                &component,
                &deployment.digest,
                &app.digest,
            ))
        }
        // A component that no longer reads may be one that was changed.
        Err(e) => {
            let component = crate::config::AppManifest::load(manifest)
                .map(|m| m.component_path(manifest))
                .ok();
            match component.map(|c| (digest_of(&c), c)) {
                Some((found, c)) if found != deployment.digest => Err(tampered(
                    runtime,
                    deployment,
                    &c,
                    &deployment.digest,
                    &found,
                )),
                _ => Err(e),
            }
        }
    }
}

/// The last stage of [`load`]: compiles a checked deployed version, and
/// audits an artifact that had to be compiled again because its seal did
/// not verify.
pub(crate) fn compile(
    runtime: &Runtime,
    deployment: &Deployment,
    checked: CheckedApp,
) -> Result<LoadedApp, ConfigError> {
    let app = runtime.compile_app(checked)?;
    if app.artifact == crate::artifact_cache::ArtifactSource::Replaced {
        artifact_replaced(runtime, deployment, &app);
    }
    Ok(app)
}

/// Audits (`deploy.tampered`) a compiled artifact whose seal did not
/// verify. It was not loaded: the version runs from its component, checked
/// against its digest and compiled again, so it is served.
fn artifact_replaced(runtime: &Runtime, deployment: &Deployment, app: &LoadedApp) {
    let file = runtime.artifact_cache().path_for_digest(&app.digest);
    audit_tampered(
        runtime,
        deployment,
        &file,
        serde_json::json!({
            "artifact": "its seal did not verify; not loaded, compiled again from the component",
        }),
    );
    tracing::warn!(
        app = deployment.app.as_str(),
        deploy = deployment.id,
        file = %file.display(),
        "a compiled artifact was changed on disk; it was not loaded and the component was compiled again (audited: deploy.tampered)"
    );
}

/// Audits `deploy.tampered` for `file` of `deployment`, with `found` (an
/// object) saying what was wrong with it.
fn audit_tampered(
    runtime: &Runtime,
    deployment: &Deployment,
    file: &std::path::Path,
    found: serde_json::Value,
) {
    let mut details = serde_json::json!({
        "version": deployment.version,
        "deploy": deployment.id,
        "file": file.display().to_string(),
    });
    if let (Some(details), serde_json::Value::Object(found)) = (details.as_object_mut(), found) {
        details.extend(found);
    }
    let _ = runtime.audit().append_blocking(crate::audit::AuditEvent {
        kind: crate::audit::AuditKind::DeployTampered,
        app: Some(deployment.app.clone()),
        actor: "warden".into(),
        details,
    });
}

/// A deployed version whose record cannot be found: it is not loaded
/// unchecked.
fn no_live_record(manifest: &std::path::Path, name: &str) -> ConfigError {
    ConfigError::invalid(
        manifest,
        "registry",
        format!("no live record of `{name}` to check this version against"),
        "look at `warden versions` and the registry; the app keeps its current load",
    )
}

/// Lowercase hex SHA-256 of a file, or why it cannot be read.
fn digest_of(path: &std::path::Path) -> String {
    std::fs::read(path)
        .map(|bytes| hex::encode(sha2::Sha256::digest(bytes)))
        .unwrap_or_else(|e| format!("unreadable ({e})"))
}

/// Audits (`deploy.tampered`) and describes a deployed file whose bytes
/// are not the ones recorded.
fn tampered(
    runtime: &Runtime,
    deployment: &Deployment,
    file: &std::path::Path,
    expected: &str,
    found: &str,
) -> ConfigError {
    audit_tampered(
        runtime,
        deployment,
        file,
        serde_json::json!({ "expected_sha256": expected, "found_sha256": found }),
    );
    tracing::warn!(
        app = deployment.app.as_str(),
        deploy = deployment.id,
        file = %file.display(),
        "a deployed file changed on disk; the version is not loaded (audited: deploy.tampered)"
    );
    ConfigError::invalid(
        file,
        "sha256",
        format!(
            "deploy {} ({} {}): this file has SHA-256 {found}, but {expected} was deployed; it changed on disk since, so it is not served",
            deployment.id, deployment.app, deployment.version
        ),
        "deploy the app again, and find out who changed the file",
    )
}

/// Checks an app given on the command line (`--app`), with the
/// operator's quota override for its name; the host compiles it after.
pub(crate) fn check_local(
    runtime: &Runtime,
    manifest: &std::path::Path,
) -> Result<CheckedApp, ConfigError> {
    let name = crate::config::AppManifest::load(manifest)?.app.name;
    runtime.check_app_with(manifest, &options(runtime, &name, false, manifest)?)
}

impl Server {
    /// Serves every active deploy in the registry: each is checked now and
    /// compiled in the background ([`super::starting`]). An app already
    /// served or starting (given with `--app`) keeps its place, which the
    /// log says. Returns one message per deploy that could not be served;
    /// the others are served regardless. Must be called inside a tokio
    /// runtime.
    pub fn restore(self: &Arc<Self>) -> Vec<String> {
        let active = match self.runtime.registry().active().wait() {
            Ok(active) => active,
            Err(e) => return vec![format!("cannot read the deploy registry: {e}")],
        };
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for deployment in active {
            // Newest first: one live version per app, whatever an older
            // Warden sharing the directory left.
            if !seen.insert(deployment.app.clone()) {
                continue;
            }
            // The history follows the kill state, the one that is enforced
            // (kills made before versions had the status, or missed).
            let killed = self.runtime.kill_switch(&deployment.app).is_killed();
            if killed != (deployment.status == crate::registry::Status::Killed) {
                let why = if killed {
                    "killed, as the kill state says (found at start)"
                } else {
                    "not killed, as the kill state says (found at start)"
                };
                self.runtime
                    .mark_version(&deployment.app, killed, "warden", why);
            }
            if self.loaded(&deployment.app).is_some()
                || self.starting_app(&deployment.app).is_some()
            {
                tracing::warn!(
                    "{}@{} is deployed but a local --app of the same name is served instead",
                    deployment.app,
                    deployment.version
                );
                continue;
            }
            let compiling = deployment.clone();
            let started = check(&self.runtime, &deployment).and_then(|app| {
                self.start_in_background(
                    app,
                    Box::new(move |runtime, app| compile(runtime, &compiling, app)),
                )
            });
            if let Err(e) = started {
                problems.push(format!(
                    "{}@{} (deploy {}) is not served: {e}",
                    deployment.app, deployment.version, deployment.id
                ));
            }
        }
        problems
    }

    /// Reloads `name` as it was loaded, with its current quota override,
    /// and serves the result.
    /// An app still compiling, or whose start failed, starts again with
    /// what it is loaded with now (its compile's result would carry the
    /// old quota or owner).
    pub(crate) fn reload(self: &Arc<Self>, name: &str) -> Result<(), ConfigError> {
        let Some(current) = self.loaded(name) else {
            return match self.starting_app(name) {
                // A start that failed is tried again; if it cannot even
                // be checked now, it stays failed, which the log says (the
                // change that asked for the reload is made regardless).
                Some(starting) if starting.failed().is_some() => {
                    if let Err(e) = self.restart(name, &starting) {
                        tracing::warn!(app = name, "not started again: {e}");
                    }
                    Ok(())
                }
                Some(starting) => self.restart(name, &starting),
                None => Ok(()),
            };
        };
        // A deployed version is checked against its recorded digests like
        // any other load of it.
        let deployed = self.live_record(name, &current.manifest_path);
        let app = match deployed {
            Some(mut deployment) => {
                deployment.approved = current.options.approved;
                load(&self.runtime, &deployment)?
            }
            // A deployed version with no live record (the registry cannot
            // be read, or another host replaced it) is not loaded unchecked.
            None if current
                .manifest_path
                .starts_with(self.runtime.data_dir().join("deploys")) =>
            {
                return Err(no_live_record(&current.manifest_path, name));
            }
            None => self.runtime.load_app_with(
                &current.manifest_path,
                &options(
                    &self.runtime,
                    name,
                    current.options.approved,
                    &current.manifest_path,
                )?,
            )?,
        };
        self.install(app).map(|_| ())
    }
}

impl Server {
    /// The live record of `name`'s version at `manifest`, if the registry
    /// answers and has one.
    fn live_record(&self, name: &str, manifest: &std::path::Path) -> Option<Deployment> {
        let active = self.runtime.registry().active().wait().ok()?;
        active
            .into_iter()
            .find(|d| d.app == name && d.manifest_path == manifest)
    }

    /// Checks `starting` again, with the options it would load with now,
    /// and compiles it again in the background in its place.
    fn restart(self: &Arc<Self>, name: &str, starting: &StartingApp) -> Result<(), ConfigError> {
        let path = &starting.manifest_path;
        if !path.starts_with(self.runtime.data_dir().join("deploys")) {
            let app = check_local(&self.runtime, path)?;
            return self
                .start_in_background(app, Box::new(|runtime, app| runtime.compile_app(app)));
        }
        let deployment = self
            .live_record(name, path)
            .ok_or_else(|| no_live_record(path, name))?;
        let app = check(&self.runtime, &deployment)?;
        self.start_in_background(
            app,
            Box::new(move |runtime, app| compile(runtime, &deployment, app)),
        )
    }
}

impl Server {
    /// Removes the files of versions no longer kept, components nothing
    /// names and artifacts nothing serves (see
    /// [`crate::registry::collect`]); logs what went.
    pub fn collect(&self) {
        // One collection at a time; one asked for meanwhile is skipped
        // (the running one sees the same state or newer).
        if self
            .collecting
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        // What compiles now is served too: its artifact is being written.
        // One snapshot, so an app moving from compiling to served is kept.
        let set = self.current();
        let served: std::collections::BTreeSet<String> = set
            .all
            .iter()
            .map(|a| a.digest.clone())
            .chain(set.starting.iter().map(|s| s.digest().to_string()))
            .collect();
        let runtime = &self.runtime;
        let collected = runtime
            .registry()
            .collect(
                runtime.platform().deploys.keep_versions,
                &served,
                &runtime.data_dir().join("artifacts"),
                crate::registry::collect::GRACE,
            )
            .wait();
        self.collecting
            .store(false, std::sync::atomic::Ordering::SeqCst);
        match collected {
            Ok(c) if c.manifests + c.components + c.artifacts > 0 => tracing::info!(
                "collected {} old manifests, {} components and {} artifacts ({})",
                c.manifests,
                c.components,
                c.artifacts,
                crate::invoke::human_bytes(c.bytes)
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("collecting old deploy files failed: {e:#}"),
        }
    }
}
