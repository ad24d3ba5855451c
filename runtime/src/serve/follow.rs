//! Following the shared registry: where nodes share their state, a deploy,
//! approval, retirement, deletion or quota override made on any node
//! reaches every node's served set as soon as the database announces it.
//!
//! The registry announces each change on `warden_registry`; a node
//! listens on a connection of its own, and on every notice, on every
//! reconnect and — as a safety net for a notice lost with a connection —
//! every second, compares the apps it serves from the registry with the
//! live versions on record and loads, replaces or removes apps to match.
//! An app is changed under its app lock, the one this node's admin API
//! holds for a change of the app, after its record is read again (see
//! [`Server::follow_app`]).

use super::{Server, Stop};
use crate::registry::Deployment;
use crate::wait::Wait as _;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;
use warden_host_apis::metering::QuotaRequest;

/// How often the registry is read when no notice comes.
const SAFETY_NET: Duration = Duration::from_secs(1);

/// What this node could not load, so it is tried again only when its
/// record or quota changes (not compiled again every second), and said
/// once.
type Unloadable = HashMap<String, (i64, Option<QuotaRequest>)>;

impl Server {
    /// Follows the shared registry on a thread of its own until the
    /// returned [`Stop`] is dropped; `None` without shared state.
    pub(super) fn follow_registry(self: &Arc<Self>) -> Option<Stop> {
        let pg = self.runtime.shared()?;
        let (stop, stopping) = Stop::new();
        let server: Weak<Server> = Arc::downgrade(self);
        let mut unloadable = Unloadable::new();
        let mut warmed = HashSet::new();
        let following = crate::state::postgres::notices::on_notice(
            pg,
            crate::state::postgres::registry::CHANNEL,
            "warden-registry",
            SAFETY_NET,
            stopping,
            move || {
                let Some(server) = server.upgrade() else {
                    return false;
                };
                server.follow_once(&mut unloadable);
                server.warm_pending(&mut warmed);
                true
            },
        );
        if let Err(e) = &following {
            tracing::warn!("cannot follow deploys made on other nodes: {e}");
        }
        Some(stop)
    }

    /// Brings the apps served from the registry in line with the live
    /// versions on record (see the module doc).
    fn follow_once(&self, unloadable: &mut Unloadable) {
        let registry = self.runtime.registry();
        let (active, quotas) = match (registry.active().wait(), registry.quotas().wait()) {
            (Ok(active), Ok(quotas)) => (active, quotas),
            // The database is away: serve what is served; the pool and the
            // listener reconnect by themselves.
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!("the shared registry cannot be read now: {e}");
                return;
            }
        };
        let deploys = self.runtime.data_dir().join("deploys");
        let mut live: BTreeMap<String, Deployment> = BTreeMap::new();
        for d in active {
            // Newest first: one live version per app.
            live.entry(d.app.clone()).or_insert(d);
        }
        let mut differing = BTreeSet::new();
        for (name, deployment) in &live {
            let quota = quotas.get(name).cloned();
            let same = self.loaded(name).is_some_and(|app| {
                app.manifest_path == deployment.manifest_path && app.options.quota == quota
            });
            if !same && unloadable.get(name) != Some(&(deployment.id, quota)) {
                differing.insert(name.clone());
            }
        }
        for app in self.all_apps() {
            if app.manifest_path.starts_with(&deploys) && !live.contains_key(app.name()) {
                differing.insert(app.name().to_string());
            }
        }
        for app in self.starting() {
            if app.manifest_path.starts_with(&deploys) && !live.contains_key(app.name()) {
                differing.insert(app.name().to_string());
            }
        }
        for name in differing {
            let quota = quotas.get(&name).cloned();
            self.follow_app(&name, quota, unloadable);
        }
        unloadable.retain(|name, _| live.contains_key(name));
    }

    /// Compiles each deploy that waits (for its checks on the node that
    /// took it, or for a reviewer) once, so that when it goes live this
    /// node loads it from its artifact cache instead of compiling then: a
    /// version live on one node is served by the others about as soon.
    /// Deploys of an app whose lock this node holds are its own (the
    /// deploy is compiling here already). `warmed` holds the deploys done.
    fn warm_pending(&self, warmed: &mut HashSet<i64>) {
        let Ok(pending) = self.runtime.registry().pending().wait() else {
            return;
        };
        warmed.retain(|id| pending.iter().any(|d| d.id == *id));
        for mut deployment in pending {
            if warmed.contains(&deployment.id) {
                continue;
            }
            let Some(_app) = self.app_locks.try_lock(&deployment.app) else {
                continue;
            };
            warmed.insert(deployment.id);
            // Loaded as approved (as a deploy's own check loads it): the
            // grants a reviewer may open do not stop the compile.
            deployment.approved = true;
            if let Err(e) = super::deployed::load(&self.runtime, &deployment) {
                tracing::debug!(
                    "{}@{} (deploy {}), waiting, does not load on this node: {e}",
                    deployment.app,
                    deployment.version,
                    deployment.id
                );
            }
        }
    }

    /// Brings `name` in line with its record. Holds the app's lock, which
    /// a local change of the app (a deploy, approval, retirement or
    /// deletion on this node) holds from changing what is served until
    /// its record is written — so this never undoes such a change on the
    /// strength of a record read before it — and reads the record again
    /// under it. An app whose lock is taken is left to the next pass.
    fn follow_app(&self, name: &str, quota: Option<QuotaRequest>, unloadable: &mut Unloadable) {
        let Some(_app) = self.app_locks.try_lock(name) else {
            return;
        };
        let versions = match self.runtime.registry().versions(name).wait() {
            Ok(versions) => versions,
            Err(e) => {
                tracing::debug!("the shared registry cannot be read now: {e}");
                return;
            }
        };
        let deploys = self.runtime.data_dir().join("deploys");
        let served = self.loaded(name);
        let starting = self.starting_app(name);
        // A local `--app` of the same name keeps its place, also while it
        // compiles.
        if served
            .as_ref()
            .map(|app| &app.manifest_path)
            .or(starting.as_ref().map(|app| &app.manifest_path))
            .is_some_and(|path| !path.starts_with(&deploys))
        {
            return;
        }
        let Some(deployment) = versions.into_iter().find(|d| d.status.is_live()) else {
            if served.is_some() || starting.is_some() {
                match self.remove(name) {
                    Ok(_) => tracing::info!(
                        app = name,
                        "no longer served: it has no live version on record (retired or deleted on another node)"
                    ),
                    Err(e) => tracing::warn!("`{name}` could not be removed: {e}"),
                }
            }
            return;
        };
        if served.is_some_and(|app| {
            app.manifest_path == deployment.manifest_path
                && app.options.quota == quota
                && app.manifest.app.owner == deployment.owner
        }) {
            return;
        }
        // The version on record is compiling here already (the host's
        // start-up): it is served when ready, not compiled twice.
        if starting.is_some_and(|app| {
            app.failed().is_none() && app.manifest_path == deployment.manifest_path
        }) {
            return;
        }
        let attempt = (deployment.id, quota);
        if unloadable.get(name) == Some(&attempt) {
            return;
        }
        // Installed under the route rules the deciding node applied: a
        // creator's version may not take another owner's path here either.
        let owned =
            deployment.deployed_as.as_deref() != Some(crate::admin::tokens::Role::Admin.as_str());
        let installed = super::deployed::load(&self.runtime, &deployment)
            .map_err(|e| e.to_string())
            .and_then(|app| match owned {
                true => self.install_owned(app).map_err(|e| e.to_string()),
                false => self.install(app).map_err(|e| e.to_string()),
            });
        match installed {
            Ok(_) => {
                unloadable.remove(name);
                tracing::info!(
                    app = name,
                    version = deployment.version.as_str(),
                    deploy = deployment.id,
                    "serving the version live on record (deployed, approved or changed on another node)"
                );
            }
            Err(e) => {
                tracing::warn!(
                    "{name}@{} (deploy {}), live on record, is not served on this node: {e}",
                    deployment.version,
                    deployment.id
                );
                unloadable.insert(name.to_string(), attempt);
            }
        }
    }
}
