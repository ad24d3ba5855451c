//! Serving what the deploy registry holds: at start-up every active
//! version comes back (from the artifact cache, without recompiling), and
//! an operator's quota change reloads the app it applies to.

use super::Server;
use crate::app::{LoadOptions, LoadedApp};
use crate::config::ConfigError;
use crate::registry::Deployment;
use crate::runtime::Runtime;
use crate::wait::Wait as _;

/// How `app` loads on this host: its review state and the operator's
/// quota override, if any.
fn options(runtime: &Runtime, app: &str, approved: bool) -> LoadOptions {
    LoadOptions {
        approved,
        quota: runtime.registry().quota(app).wait().ok().flatten(),
    }
}

/// Loads a deployed version with its review state and quota override.
pub fn load(runtime: &Runtime, deployment: &Deployment) -> Result<LoadedApp, ConfigError> {
    runtime.load_app_with(
        &deployment.manifest_path,
        &options(runtime, &deployment.app, deployment.approved),
    )
}

/// Loads an app given on the command line (`--app`), with the operator's
/// quota override for its name.
pub(crate) fn load_local(
    runtime: &Runtime,
    manifest: &std::path::Path,
) -> Result<LoadedApp, ConfigError> {
    let name = crate::config::AppManifest::load(manifest)?.app.name;
    runtime.load_app_with(manifest, &options(runtime, &name, false))
}

impl Server {
    /// Serves every active deploy in the registry. An app already served
    /// (given with `--app`) keeps its place. Returns one message per
    /// deploy that could not be served; the others are served regardless.
    pub fn restore(&self) -> Vec<String> {
        let active = match self.runtime.registry().active().wait() {
            Ok(active) => active,
            Err(e) => return vec![format!("cannot read the deploy registry: {e}")],
        };
        let mut problems = Vec::new();
        for deployment in active {
            if self.loaded(&deployment.app).is_some() {
                problems.push(format!(
                    "{}@{} is deployed but a local --app of the same name is served instead",
                    deployment.app, deployment.version
                ));
                continue;
            }
            if let Err(e) = load(&self.runtime, &deployment).and_then(|app| self.install(app)) {
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
    pub(crate) fn reload(&self, name: &str) -> Result<(), ConfigError> {
        let Some(current) = self.loaded(name) else {
            return Ok(());
        };
        let app = self.runtime.load_app_with(
            &current.manifest_path,
            &options(&self.runtime, name, current.options.approved),
        )?;
        self.install(app).map(|_| ())
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
        let served: std::collections::BTreeSet<String> =
            self.all_apps().iter().map(|a| a.digest.clone()).collect();
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
