//! Apps a host compiles in the background while it serves the others.
//!
//! At start-up every app is checked before the host listens (a bad
//! manifest, quota, grant, limit or file still fails the start), then its
//! component compiles on a blocking thread: an 18 MiB Python interpreter
//! takes 15 s or more on a fresh host, and the other apps answer meanwhile.
//! Until an app is ready its route is held — no other app can take it — and
//! answers 503 with `Retry-After`; a compile that fails leaves the route
//! answering 500 and says why in the host's log, until a deploy replaces
//! the app or it is removed. [`Server::started`] waits for all of them.

use super::Server;
use crate::app::{CheckedApp, LoadedApp};
use crate::config::ConfigError;
use crate::runtime::Runtime;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use warden_host_apis::kill::KillSwitch;

/// What a client retries after, in seconds, while an app compiles: a
/// compile takes seconds to tens of seconds, and a retry that comes early
/// costs the host a 503 and nothing else.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// An app whose component is compiling: its name, version and route are
/// known (checked), its entry point not yet.
pub struct StartingApp {
    name: String,
    version: String,
    /// Who owns and pays for it (costs are attributed while it compiles).
    attribution: crate::costs::report::Attribution,
    route: Option<String>,
    pub(crate) manifest_path: PathBuf,
    /// SHA-256 of its component, hex.
    digest: String,
    kill: Arc<KillSwitch>,
    since: Instant,
    /// Why it did not start, once its compile failed.
    failed: OnceLock<String>,
}

impl StartingApp {
    fn of(app: &CheckedApp) -> StartingApp {
        StartingApp {
            name: app.name().to_string(),
            version: app.version().to_string(),
            attribution: crate::costs::report::Attribution::of(&app.manifest),
            route: app.manifest.http.as_ref().map(|h| h.route.clone()),
            manifest_path: app.manifest_path.clone(),
            digest: app.digest.clone(),
            kill: app.kill_switch().clone(),
            since: Instant::now(),
            failed: OnceLock::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn owner(&self) -> Option<&str> {
        self.attribution.owner.as_deref()
    }

    /// Its owner, team and cost center, from its manifest.
    pub fn attribution(&self) -> &crate::costs::report::Attribution {
        &self.attribution
    }

    /// Its `[http] route`, if it has one.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// SHA-256 of its component, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Why its compile failed; `None` while it compiles.
    pub fn failed(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.kill.is_killed()
    }

    /// Seconds since its compile began.
    pub fn compiling_for(&self) -> f64 {
        self.since.elapsed().as_secs_f64()
    }
}

/// What the start-up compiles came to ([`Server::started`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Apps loaded and served (or scheduled) now.
    pub ready: usize,
    /// Apps whose compile failed: name and why.
    pub failed: Vec<(String, String)>,
}

/// The compile of a checked app (a deployed version also audits an
/// artifact it had to replace).
pub(crate) type Compile =
    Box<dyn FnOnce(&Runtime, CheckedApp) -> Result<LoadedApp, ConfigError> + Send>;

impl Server {
    /// Holds `app`'s route and compiles it on a blocking thread; installs
    /// it when it is ready. Fails, changing nothing, when its route is
    /// another app's. Must be called inside a tokio runtime.
    pub(crate) fn start_in_background(
        self: &Arc<Self>,
        app: CheckedApp,
        compile: Compile,
    ) -> Result<(), ConfigError> {
        let starting = Arc::new(StartingApp::of(&app));
        self.hold(starting.clone())?;
        let server = self.clone();
        tokio::task::spawn_blocking(move || {
            // A compile that panics is a failed start, not one that never
            // ends (its route would answer "starting" for ever).
            let runtime = &server.runtime;
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compile(runtime, app)))
                    .unwrap_or_else(|_| {
                        Err(ConfigError::invalid(
                            &starting.manifest_path,
                            "app.component",
                            "its compile stopped with an internal error (see the log above)",
                            "report it with the log; the host serves the other apps",
                        ))
                    });
            server.finish_starting(&starting, result);
        });
        Ok(())
    }

    /// The apps compiling now, or whose start-up compile failed.
    pub fn starting(&self) -> Vec<Arc<StartingApp>> {
        self.current().starting.clone()
    }

    /// The app called `name`, if it is compiling (or failed to).
    pub fn starting_app(&self, name: &str) -> Option<Arc<StartingApp>> {
        self.current()
            .starting
            .iter()
            .find(|s| s.name == name)
            .cloned()
    }

    /// Whether start-up is over: no app it began is still compiling (what
    /// `warden: ready` says; `GET /readyz`). Once true it stays true: a
    /// compile started later (a quota override or a transfer restarting
    /// an app that did not start) concerns that app, and the others serve
    /// on — a load balancer must not drop the whole node for it.
    pub fn started_up(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.started_up.load(Ordering::Acquire) {
            return true;
        }
        // Not before every start-up app is held: the first may compile
        // (from the cache) before the next one is even checked.
        if !self.start_up_held.load(Ordering::Acquire) {
            return false;
        }
        let compiling = self.current().starting.iter().any(|s| s.failed().is_none());
        if !compiling {
            self.started_up.store(true, Ordering::Release);
        }
        !compiling
    }

    /// Says that a host's start-up begins: [`Server::started_up`] stays
    /// false until [`Server::start_up_held`].
    pub(crate) fn start_up_begins(&self) {
        self.start_up_held
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Says that every app of the start-up (given and deployed) is now
    /// served or compiling: from here [`Server::started_up`] can be true.
    pub(crate) fn start_up_held(&self) {
        self.start_up_held
            .store(true, std::sync::atomic::Ordering::Release);
        self.started_up();
    }

    /// Waits until no app is compiling: every start-up app is served,
    /// failed, or was replaced or removed meanwhile.
    pub async fn started(&self) -> Started {
        let mut changes = self.changes.subscribe();
        loop {
            let set = self.current();
            if set.starting.iter().all(|s| s.failed().is_some()) {
                return Started {
                    ready: set.all.len(),
                    failed: set
                        .starting
                        .iter()
                        .map(|s| (s.name.clone(), s.failed().unwrap_or_default().to_string()))
                        .collect(),
                };
            }
            if changes.changed().await.is_err() {
                // The server is gone: nothing will start any more.
                return Started {
                    ready: set.all.len(),
                    failed: Vec::new(),
                };
            }
        }
    }

    /// Serves the compiled app in its held place, or records why it did
    /// not start. A version deployed (or a removal) meanwhile wins: the
    /// compile's result is then dropped.
    fn finish_starting(&self, starting: &Arc<StartingApp>, result: Result<LoadedApp, ConfigError>) {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let held = self
            .current()
            .starting
            .iter()
            .any(|s| Arc::ptr_eq(s, starting));
        if !held {
            tracing::info!(
                app = starting.name(),
                version = starting.version(),
                "compiled, but replaced or removed meanwhile; not served"
            );
            return;
        }
        let seconds = format!("{:.1}", starting.compiling_for());
        match result.and_then(|app| self.swap_in(app)) {
            Ok(app) => tracing::info!(
                app = app.name(),
                version = app.version(),
                world = %app.world,
                artifact = ?app.artifact,
                seconds,
                "app ready"
            ),
            Err(e) => {
                tracing::error!(
                    app = starting.name(),
                    version = starting.version(),
                    seconds,
                    "app did not start: {e}"
                );
                let _ = starting.failed.set(e.to_string());
                self.publish();
                self.changes.send_replace(());
                // Latched now, not at the first probe, as a served app's
                // swap latches it (`replace_set`): a compile started after
                // start-up must not make the node unready.
                self.started_up();
            }
        }
    }
}
