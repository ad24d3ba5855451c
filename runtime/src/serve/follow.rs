//! Following the shared registry: where nodes share their state, a deploy,
//! approval, retirement, deletion or quota override made on any node
//! reaches every node's served set as soon as the database announces it.
//!
//! The registry announces each change on `warden_registry`; a node
//! listens on a connection of its own, and on every notice, on every
//! reconnect and — as a safety net for a notice lost with a connection —
//! every second, compares the apps it serves from the registry with the
//! live versions on record and loads, replaces or removes apps to match.
//! Loading (a compile, or the cached artifact) runs outside the server's
//! lock; the change is made under it after the app's record is read again,
//! so a follower that read the registry before a local deploy committed
//! never puts back the version that deploy replaced.

use super::Server;
use crate::registry::Deployment;
use crate::wait::Wait as _;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use warden_host_apis::metering::QuotaRequest;

/// How often the registry is read when no notice comes.
const SAFETY_NET: Duration = Duration::from_secs(1);

/// Stops a watcher thread when dropped.
pub(super) struct Stop(Arc<AtomicBool>);

impl Stop {
    pub(super) fn new() -> (Stop, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (Stop(flag.clone()), flag)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What this node could not load, so it is tried again only when its
/// record or quota changes (not compiled again every second), and said
/// once.
type Unloadable = HashMap<String, (i64, Option<QuotaRequest>)>;

impl Server {
    /// Follows the shared registry on a thread of its own until the
    /// returned [`Stop`] is dropped; `None` without shared state.
    pub(super) fn follow_registry(self: &Arc<Self>) -> Option<Stop> {
        let pg = self.runtime.shared()?;
        let woken =
            crate::state::postgres::notices::listen(pg, crate::state::postgres::registry::CHANNEL);
        let (stop, stopping) = Stop::new();
        let server: Weak<Server> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("warden-registry".into())
            .spawn(move || {
                let mut unloadable = Unloadable::new();
                while !stopping.load(Ordering::SeqCst) {
                    let wake = woken.recv_timeout(SAFETY_NET);
                    if wake == Err(std::sync::mpsc::RecvTimeoutError::Disconnected) {
                        std::thread::sleep(SAFETY_NET);
                    }
                    let Some(server) = server.upgrade() else {
                        break;
                    };
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    server.follow_once(&mut unloadable);
                }
            });
        if let Err(e) = &spawned {
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
        for (name, deployment) in &live {
            let quota = quotas.get(name).cloned();
            match self.loaded(name) {
                // A local `--app` of the same name keeps its place.
                Some(app) if !app.manifest_path.starts_with(&deploys) => continue,
                Some(app)
                    if app.manifest_path == deployment.manifest_path
                        && app.options.quota == quota =>
                {
                    continue;
                }
                _ => {}
            }
            let attempt = (deployment.id, quota);
            if unloadable.get(name) == Some(&attempt) {
                continue;
            }
            match super::deployed::load(&self.runtime, deployment) {
                Ok(app) => {
                    unloadable.remove(name);
                    self.install_if_live(app, deployment);
                }
                Err(e) => {
                    tracing::warn!(
                        "{}@{} (deploy {}), live on record, is not served on this node: {e}",
                        deployment.app,
                        deployment.version,
                        deployment.id
                    );
                    unloadable.insert(name.clone(), attempt);
                }
            }
        }
        for app in self.all_apps() {
            if app.manifest_path.starts_with(&deploys) && !live.contains_key(app.name()) {
                self.remove_if_not_live(app.name());
            }
        }
        unloadable.retain(|name, _| live.contains_key(name));
    }

    /// The live deploy of `app` on record now, `None` with none; `Err` when
    /// the registry cannot say.
    fn live_now(&self, app: &str) -> Result<Option<Deployment>, ()> {
        let versions = self.runtime.registry().versions(app).wait().map_err(|e| {
            tracing::debug!("the shared registry cannot be read now: {e}");
        })?;
        Ok(versions.into_iter().find(|d| d.status.is_live()))
    }

    /// Serves `app` (loaded from `deployment`) if `deployment` is still its
    /// app's live version once the server's lock is held.
    fn install_if_live(&self, app: crate::app::LoadedApp, deployment: &Deployment) {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        match self.live_now(&deployment.app) {
            Ok(Some(live)) if live.id == deployment.id => {}
            _ => return,
        }
        match self.swap_in(app) {
            Ok(_) => tracing::info!(
                app = deployment.app.as_str(),
                version = deployment.version.as_str(),
                deploy = deployment.id,
                "serving the version live on record (deployed, approved or changed on another node)"
            ),
            Err(e) => tracing::warn!(
                "{}@{} (deploy {}), live on record, is not served on this node: {e}",
                deployment.app,
                deployment.version,
                deployment.id
            ),
        }
    }

    /// Stops serving `name` if it has no live version on record once the
    /// server's lock is held.
    fn remove_if_not_live(&self, name: &str) {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(self.live_now(name), Ok(None)) {
            return;
        }
        match self.remove_locked(name) {
            Ok(Some(_)) => tracing::info!(
                app = name,
                "no longer served: it has no live version on record (retired or deleted on another node)"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!("`{name}` could not be removed: {e}"),
        }
    }
}
