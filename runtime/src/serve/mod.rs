//! `warden serve`: the long-running host. Serves HTTP-triggered apps on
//! their routes, each request in a fresh instance from the app's
//! `InstancePre`, under the app's limits, quota and concurrency cap.
//!
//! Guarantees: an unknown route is 404; an app at its concurrency cap or
//! over `requests_per_minute` gets 429 with `Retry-After`; a killed app gets
//! 503; a request body over `serve.max_request_body` gets 413; a failing
//! app gets a generic error with a request id, never host internals. One
//! app spinning or growing memory is stopped by its own limits while the
//! others keep answering. On shutdown the listener closes at once and
//! in-flight requests drain for up to `serve.drain_timeout`.

pub(crate) mod checkpoints;
pub mod connections;
pub mod cookies;
pub mod deployed;
pub mod drill;
pub(crate) mod file_limit;
mod follow;
pub(crate) mod lifecycle;
pub(crate) mod quota_gauge;
pub(crate) mod respond;
pub(crate) mod route_owners;
pub mod routes;
pub(crate) mod send_deadline;
pub mod starting;
pub mod tls;

use crate::app::LoadedApp;
use crate::config::ConfigError;
use crate::invoke::{HttpParts, InvocationRequest};
use crate::runtime::Runtime;
use crate::world::World;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use respond::Response;
use routes::{Route, RouteTable};
use starting::StartingApp;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// One app as the server holds it: the app and its concurrency slots.
pub struct ServedApp {
    pub app: Arc<LoadedApp>,
    pub route: String,
    concurrency: Semaphore,
    limit: usize,
}

impl ServedApp {
    pub(crate) fn is_killed(&self) -> bool {
        self.app.kill_switch().is_killed()
    }

    /// Requests of this app running now.
    pub fn in_flight(&self) -> usize {
        self.limit - self.concurrency.available_permits()
    }
}

/// What an invocation sees of a request's head.
fn http_parts(parts: http::request::Parts, path: String) -> HttpParts {
    HttpParts {
        method: parts.method,
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or(path),
        headers: parts.headers,
    }
}

/// What a node that does not hold the cluster's scheduler lease says.
const OTHER_NODE: &str = "another node of the cluster runs the schedules; this one serves requests and takes over when that node stops";

/// Where a host stands with its data directory's scheduler lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchedulerLease {
    /// Not tried yet (the host is starting, or not serving).
    NotTried = 0,
    /// This host runs the schedules.
    Held = 1,
    /// Another host on the data directory runs them.
    OtherHost = 2,
    /// The lease file could not be locked (see the host's log).
    Failed = 3,
}

/// Why an app was not installed.
#[derive(Debug)]
pub enum Refused {
    /// Its route takes another owner's path, or the root.
    Route(route_owners::Conflict),
    /// It does not fit next to the apps served (e.g. the same route).
    Config(ConfigError),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Route(c) => c.fmt(f),
            Refused::Config(e) => e.fmt(f),
        }
    }
}

/// The apps a server holds at one moment. A deploy builds a new set and
/// swaps it in; requests already routed keep the set they started with.
struct AppSet {
    served: Vec<Arc<ServedApp>>,
    /// Every loaded app, HTTP or not (schedules run for all of them).
    all: Vec<Arc<LoadedApp>>,
    /// Apps compiling in the background, or whose compile failed: their
    /// routes are held ([`starting`]).
    starting: Vec<Arc<StartingApp>>,
    routes: RouteTable<Slot>,
    /// App names in the order they first joined the set (held or
    /// installed): `all` and `starting` are kept in this order, so
    /// listings read as the host was configured (`--app` order, then
    /// deploys), not in the order background compiles happened to finish.
    arrivals: Vec<String>,
}

/// What a route leads to: an app served, or one still starting.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Served(usize),
    Starting(usize),
}

impl AppSet {
    /// Builds the route table. Apps without `[http] route` are not served
    /// over HTTP; a command app with a route is an error. Apps already in
    /// `previous` keep their concurrency slots. A starting app of the name
    /// of a loaded one is dropped: the loaded one replaced it. Apps keep
    /// their place in `previous`'s order; new ones come after.
    fn build(
        per_app: usize,
        mut all: Vec<Arc<LoadedApp>>,
        starting: Vec<Arc<StartingApp>>,
        previous: Option<&AppSet>,
    ) -> Result<AppSet, ConfigError> {
        let mut routes = RouteTable::default();
        let mut served = Vec::new();
        let mut starting: Vec<Arc<StartingApp>> = starting
            .into_iter()
            .filter(|s| all.iter().all(|a| a.name() != s.name()))
            .collect();
        let arrivals = arrival_order(previous, &all, &starting);
        let rank = ranks(&arrivals);
        all.sort_by_key(|a| rank.get(a.name()).copied());
        starting.sort_by_key(|a| rank.get(a.name()).copied());
        for app in &all {
            let Some(http) = app.manifest.http.clone() else {
                continue;
            };
            if app.world == World::Command {
                return Err(ConfigError::invalid(
                    &app.manifest_path,
                    "http.route",
                    "a wasi:cli/command app cannot answer HTTP requests",
                    "remove [http], or build the app for wasi:http/proxy or the warden:host/app world",
                ));
            }
            let route = parse_route(&app.manifest_path, &http.route)?;
            routes
                .insert(route, Slot::Served(served.len()))
                .map_err(|p| route_taken(&app.manifest_path, &http.route, p))?;
            let kept = previous.and_then(|set| {
                set.served
                    .iter()
                    .find(|s| Arc::ptr_eq(&s.app, app))
                    .cloned()
            });
            served.push(kept.unwrap_or_else(|| {
                Arc::new(ServedApp {
                    app: app.clone(),
                    route: http.route,
                    concurrency: Semaphore::new(per_app),
                    limit: per_app,
                })
            }));
        }
        for (i, app) in starting.iter().enumerate() {
            let Some(text) = app.route() else {
                continue;
            };
            let route = parse_route(&app.manifest_path, text)?;
            routes
                .insert(route, Slot::Starting(i))
                .map_err(|p| route_taken(&app.manifest_path, text, p))?;
        }
        Ok(AppSet {
            served,
            all,
            starting,
            routes,
            arrivals,
        })
    }
}

/// The names of `all` and `starting`: those in `previous` in its order,
/// then the new ones in the order given.
fn arrival_order(
    previous: Option<&AppSet>,
    all: &[Arc<LoadedApp>],
    starting: &[Arc<StartingApp>],
) -> Vec<String> {
    let present: std::collections::HashSet<&str> = all
        .iter()
        .map(|a| a.name())
        .chain(starting.iter().map(|s| s.name()))
        .collect();
    let mut order: Vec<String> = previous
        .map(|p| p.arrivals.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|name| present.contains(name.as_str()))
        .cloned()
        .collect();
    let mut known: std::collections::HashSet<String> = order.iter().cloned().collect();
    for name in all
        .iter()
        .map(|a| a.name())
        .chain(starting.iter().map(|s| s.name()))
    {
        if known.insert(name.to_string()) {
            order.push(name.to_string());
        }
    }
    order
}

/// Each name's place in `names`, 0 first.
fn ranks(names: &[String]) -> std::collections::HashMap<&str, usize> {
    names
        .iter()
        .enumerate()
        .map(|(rank, name)| (name.as_str(), rank))
        .collect()
}

/// `[http] route` parsed, or the error naming the field.
fn parse_route(manifest_path: &std::path::Path, route: &str) -> Result<Route, ConfigError> {
    Route::parse(route).map_err(|p| {
        ConfigError::invalid(
            manifest_path,
            "http.route",
            p,
            "write a path such as \"/expense/...\"",
        )
    })
}

/// Two apps on one route.
fn route_taken(manifest_path: &std::path::Path, route: &str, problem: String) -> ConfigError {
    ConfigError::invalid(
        manifest_path,
        "http.route",
        format!("`{route}`: {problem}"),
        "give each app its own route",
    )
}

type ScheduleTasks = (
    Arc<crate::schedule::ScheduleStats>,
    Vec<tokio::task::JoinHandle<()>>,
);

pub struct Server {
    runtime: Arc<Runtime>,
    set: std::sync::RwLock<Arc<AppSet>>,
    /// Serializes changes to the set (deploys, reloads).
    changing: std::sync::Mutex<()>,
    /// The async runtime that serves apps; schedules run there, even when
    /// a deploy through the admin API (on its own runtime) starts them.
    apps_runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// Set once no app of the start-up is compiling (see
    /// [`Server::started_up`]).
    started_up: std::sync::atomic::AtomicBool,
    /// Set once every app of the start-up is held or served.
    start_up_held: std::sync::atomic::AtomicBool,
    /// Set while a collection of old deploy files runs.
    collecting: std::sync::atomic::AtomicBool,
    schedules: std::sync::Mutex<std::collections::HashMap<String, ScheduleTasks>>,
    /// Whether this host holds the data directory's scheduler lease (see
    /// [`crate::scheduler_lease`]): only then do schedules run here.
    scheduling: std::sync::atomic::AtomicBool,
    /// What the last try for the lease found ([`SchedulerLease`] as u8).
    lease_seen: std::sync::atomic::AtomicU8,
    lease: std::sync::Mutex<Option<crate::scheduler_lease::Lease>>,
    /// This host's presence file while it serves (see [`crate::presence`]).
    presence: std::sync::Mutex<Option<crate::presence::Presence>>,
    /// One change at a time per app: the admin API's (deploy, review,
    /// retire, delete) and, on shared state, the registry follower's.
    app_locks: Arc<crate::admin::app_locks::AppLocks>,
    requests: AtomicU64,
    /// The random key of request ids.
    ids: std::hash::RandomState,
    /// Told of every change of the set, and of a start-up compile that
    /// failed ([`Server::started`] waits on it).
    changes: tokio::sync::watch::Sender<()>,
}

impl Server {
    /// A server for `apps`; fails if two share a route or a command app
    /// has one.
    pub fn new(runtime: Arc<Runtime>, apps: Vec<LoadedApp>) -> Result<Server, ConfigError> {
        let per_app = runtime.platform().serve.max_concurrency_per_app as usize;
        let all = apps.into_iter().map(Arc::new).collect();
        let set = AppSet::build(per_app, all, Vec::new(), None)?;
        Ok(Server {
            runtime,
            set: std::sync::RwLock::new(Arc::new(set)),
            changing: std::sync::Mutex::default(),
            apps_runtime: std::sync::OnceLock::new(),
            started_up: std::sync::atomic::AtomicBool::new(false),
            // A server made for other uses than a host's start-up has
            // nothing to wait for; `load_apps` says when one does.
            start_up_held: std::sync::atomic::AtomicBool::new(true),
            collecting: std::sync::atomic::AtomicBool::new(false),
            schedules: std::sync::Mutex::default(),
            scheduling: std::sync::atomic::AtomicBool::new(false),
            lease_seen: std::sync::atomic::AtomicU8::new(SchedulerLease::NotTried as u8),
            lease: std::sync::Mutex::default(),
            presence: std::sync::Mutex::default(),
            app_locks: Arc::default(),
            requests: AtomicU64::new(0),
            ids: std::hash::RandomState::new(),
            changes: tokio::sync::watch::Sender::new(()),
        })
    }

    fn current(&self) -> Arc<AppSet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes `set` the current one and tells the presence file and
    /// whoever waits for the start-up. Called with `changing` held.
    fn replace_set(&self, set: AppSet) {
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        self.publish();
        self.changes.send_replace(());
        // A change that ends the last start-up compile (a removal, a
        // replacement) latches readiness as a finished compile does.
        self.started_up();
    }

    /// The set after a change: `all` and `starting`, the apps kept from
    /// `current` keeping their concurrency slots.
    fn next_set(
        &self,
        all: Vec<Arc<LoadedApp>>,
        starting: Vec<Arc<StartingApp>>,
        current: &AppSet,
    ) -> Result<AppSet, ConfigError> {
        let per_app = self.runtime.platform().serve.max_concurrency_per_app as usize;
        AppSet::build(per_app, all, starting, Some(current))
    }

    /// Holds the route of an app that is starting, until it is served.
    fn hold(&self, app: Arc<StartingApp>) -> Result<(), ConfigError> {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.current();
        let mut starting: Vec<Arc<StartingApp>> = current
            .starting
            .iter()
            .filter(|s| s.name() != app.name())
            .cloned()
            .collect();
        starting.push(app);
        self.replace_set(self.next_set(current.all.clone(), starting, &current)?);
        Ok(())
    }

    /// Serves `app` from now on, replacing any app of the same name (its
    /// in-flight requests finish on the old version). Fails, changing
    /// nothing, if its route is taken by another app.
    pub(crate) fn install(&self, app: LoadedApp) -> Result<Arc<LoadedApp>, ConfigError> {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        self.swap_in(app)
    }

    /// Like [`Server::install`] for a creator's app: refused when its route
    /// takes another owner's path or the root ([`route_owners`]). Checked
    /// under the lock that installs, so two deploys, or an approval and a
    /// deploy, cannot both take one path.
    pub(crate) fn install_owned(&self, app: LoadedApp) -> Result<Arc<LoadedApp>, Refused> {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(http) = &app.manifest.http
            && let Some(conflict) = route_owners::conflict(
                &self.route_holders(),
                app.name(),
                app.manifest.app.owner.as_deref(),
                &http.route,
            )
        {
            return Err(Refused::Route(conflict));
        }
        self.swap_in(app).map_err(Refused::Config)
    }

    /// Puts `app` in the served set in place of any app of its name.
    /// Called with `changing` held.
    fn swap_in(&self, app: LoadedApp) -> Result<Arc<LoadedApp>, ConfigError> {
        let current = self.current();
        let app = Arc::new(app);
        let mut all: Vec<Arc<LoadedApp>> = current
            .all
            .iter()
            .filter(|a| a.name() != app.name())
            .cloned()
            .collect();
        all.push(app.clone());
        self.replace_set(self.next_set(all, current.starting.clone(), &current)?);
        let before = current
            .all
            .iter()
            .find(|a| a.name() == app.name())
            .and_then(|a| a.manifest.http.as_ref().map(|h| h.route.clone()));
        let after = app.manifest.http.as_ref().map(|h| h.route.clone());
        if before != after {
            tracing::info!(
                app = app.name(),
                from = before.as_deref().unwrap_or("-"),
                to = after.as_deref().unwrap_or("-"),
                "route changed"
            );
        }
        if self.scheduling.load(Ordering::SeqCst) {
            self.start_schedules(&app);
        }
        Ok(app)
    }

    /// Stops serving the app called `name` (its in-flight requests
    /// finish) and stops its schedules; returns it, or `None` when no app
    /// of that name is served.
    pub fn remove(&self, name: &str) -> Result<Option<Arc<LoadedApp>>, ConfigError> {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.current();
        let starting: Vec<Arc<StartingApp>> = current
            .starting
            .iter()
            .filter(|s| s.name() != name)
            .cloned()
            .collect();
        let Some(removed) = current.all.iter().find(|a| a.name() == name).cloned() else {
            // Removed while it compiled: its compile's result is dropped.
            if starting.len() < current.starting.len() {
                self.replace_set(self.next_set(current.all.clone(), starting, &current)?);
            }
            return Ok(None);
        };
        let all = current
            .all
            .iter()
            .filter(|a| a.name() != name)
            .cloned()
            .collect();
        self.replace_set(self.next_set(all, starting, &current)?);
        // Not served (retired, deleted): it holds no access tokens either.
        self.runtime.credentials().drop_tokens(name);
        if let Some(route) = removed.manifest.http.as_ref().map(|h| h.route.as_str()) {
            tracing::info!(app = name, from = route, to = "-", "route changed");
        }
        let mut schedules = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, tasks)) = schedules.remove(name) {
            for task in tasks {
                task.abort();
            }
        }
        Ok(Some(removed))
    }

    /// Each app served now, with its version (what a presence file says);
    /// an app still compiling is served by this host too (a kill finds it).
    fn served_versions(&self) -> Vec<(String, String)> {
        let set = self.current();
        let served = set
            .all
            .iter()
            .map(|a| (a.name().to_string(), a.version().to_string()));
        // A failed start serves nothing: only a compiling app is listed.
        let starting = set
            .starting
            .iter()
            .filter(|s| s.failed().is_none())
            .map(|s| (s.name().to_string(), s.version().to_string()));
        served.chain(starting).collect()
    }

    /// Writes the names of the apps served now into this host's presence
    /// file, if it has one. Called with `changing` held.
    fn publish(&self) {
        let presence = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(presence) = presence.as_ref() {
            let names = self.served_versions();
            if let Err(e) = presence.serving(names) {
                tracing::warn!("the presence file could not be updated: {e}");
            }
        }
    }

    /// (Re)starts the schedules of `app`, stopping those of the version it
    /// replaces.
    fn start_schedules(&self, app: &Arc<LoadedApp>) {
        let mut schedules = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, tasks)) = schedules.remove(app.name()) {
            for task in tasks {
                task.abort();
            }
        }
        if !app.schedules.is_empty() {
            let Some(handle) = self
                .apps_runtime
                .get()
                .cloned()
                .or_else(|| tokio::runtime::Handle::try_current().ok())
            else {
                tracing::warn!(
                    "schedules of `{}` not started: the server is not running",
                    app.name()
                );
                return;
            };
            let entry = crate::schedule::spawn(&handle, self.runtime.clone(), app.clone());
            schedules.insert(app.name().to_string(), entry);
        }
    }

    /// Every route held now, by an app served or one still compiling (a
    /// creator may take neither's path: see [`route_owners`]).
    pub(crate) fn route_holders(&self) -> Vec<route_owners::Holder> {
        let set = self.current();
        let served = set.served.iter().map(|s| route_owners::Holder {
            name: s.app.name().to_string(),
            owner: s.app.manifest.app.owner.clone(),
            route: s.route.clone(),
        });
        let starting = set.starting.iter().filter_map(|s| {
            Some(route_owners::Holder {
                name: s.name().to_string(),
                owner: s.owner().map(str::to_string),
                route: s.route()?.to_string(),
            })
        });
        served.chain(starting).collect()
    }

    /// The HTTP-served apps, by route.
    pub fn apps(&self) -> Vec<Arc<ServedApp>> {
        self.current().served.clone()
    }

    pub fn app(&self, name: &str) -> Option<Arc<ServedApp>> {
        self.current()
            .served
            .iter()
            .find(|a| a.app.name() == name)
            .cloned()
    }

    /// Scheduler counters of `app`, once the server runs.
    pub fn schedule_stats(&self, app: &str) -> Option<Arc<crate::schedule::ScheduleStats>> {
        let schedules = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        schedules.get(app).map(|(stats, _)| stats.clone())
    }

    /// Every loaded app, HTTP-triggered or not.
    pub fn all_apps(&self) -> Vec<Arc<LoadedApp>> {
        self.current().all.clone()
    }

    /// Whether this host serves `name` or is compiling it (or failed to):
    /// then it has a row of its own, and a version of it pending or
    /// retired must not be listed again.
    pub fn holds(&self, name: &str) -> bool {
        self.current().arrivals.iter().any(|n| n == name)
    }

    /// Each app served or compiling, with its place in the order the host
    /// was given them (`--app` order, then deploys): 0 first.
    pub fn arrival_ranks(&self) -> std::collections::HashMap<String, usize> {
        let set = self.current();
        ranks(&set.arrivals)
            .into_iter()
            .map(|(name, rank)| (name.to_string(), rank))
            .collect()
    }

    /// Every app this host holds, served or compiling (or failed to), with
    /// who pays for it: what budgets and cost reports attribute to.
    pub(crate) fn attributions(&self) -> Vec<(String, crate::costs::report::Attribution)> {
        let set = self.current();
        let served = set.all.iter().map(|a| {
            (
                a.name().to_string(),
                crate::costs::report::Attribution::of(&a.manifest),
            )
        });
        let starting = set
            .starting
            .iter()
            .map(|s| (s.name().to_string(), s.attribution().clone()));
        served.chain(starting).collect()
    }

    /// Writes every served app's usage counters not yet written (a meter
    /// writes on its app's next invocation, which may not come), before a
    /// check that reads them from the store: budgets, orphans.
    pub(crate) async fn flush_meters(&self) {
        for app in self.all_apps() {
            if let Err(e) = app.meter.flush().await {
                tracing::warn!(app = app.name(), "usage counters not saved: {e}");
            }
        }
    }

    /// The loaded app called `name`, if served.
    pub fn loaded(&self, name: &str) -> Option<Arc<LoadedApp>> {
        self.current()
            .all
            .iter()
            .find(|a| a.name() == name)
            .cloned()
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The per-app change locks (see [`crate::admin::app_locks`]).
    pub(crate) fn app_locks(&self) -> &Arc<crate::admin::app_locks::AppLocks> {
        &self.app_locks
    }

    /// Whether the async workers that serve apps run a task within
    /// `within`: false when every worker is stuck (a blocking call on
    /// one, a deadlock), which a process that still answers the admin API
    /// on its own runtime would otherwise hide. True before the app
    /// listener runs: nothing can be stuck there yet.
    pub async fn workers_answer(&self, within: std::time::Duration) -> bool {
        let Some(workers) = self.apps_runtime.get() else {
            return true;
        };
        let ran = workers.spawn(async {});
        matches!(tokio::time::timeout(within, ran).await, Ok(Ok(())))
    }

    /// A request id that tells a caller nothing about the host (no
    /// process id, no request count): a keyed hash of a counter, with a
    /// key chosen at random per process.
    fn request_id(&self) -> String {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = self.ids.build_hasher();
        hasher.write_u64(self.requests.fetch_add(1, Ordering::Relaxed));
        format!("{:016x}", hasher.finish())
    }

    /// Answers one request.
    pub async fn handle(&self, request: hyper::Request<Incoming>) -> Response {
        let id = self.request_id();
        let path = request.uri().path().to_string();
        let set = self.current();
        let served = match set.routes.find(&path) {
            Some(&Slot::Served(i)) => set.served.get(i).cloned(),
            Some(&Slot::Starting(i)) => {
                return match set.starting.get(i) {
                    Some(app) => respond::starting(app, &id),
                    None => respond::error(StatusCode::NOT_FOUND, "no app serves this path", &id),
                };
            }
            None => None,
        };
        let Some(served) = served else {
            return respond::error(StatusCode::NOT_FOUND, "no app serves this path", &id);
        };
        let (parts, body) = request.into_parts();
        if served.is_killed() {
            // Refused before its body is read, and traced like every other
            // refusal — without a second look at the switch, so an unkill
            // landing now cannot run the guest on an empty body.
            drop(body);
            let request =
                InvocationRequest::http(http_parts(parts, path), Vec::new()).with_request_id(&id);
            let report = self.runtime.refuse(
                &served.app,
                &request,
                crate::invoke::outcome::InvocationError::Killed,
            );
            return respond::from_report(report, &id);
        }
        let serve = &self.runtime.platform().serve;
        let max = serve.max_request_body.as_usize();
        // A request without a body (most GETs) has nothing to wait for:
        // no timer is armed for it.
        let reading = async {
            if hyper::body::Body::is_end_stream(&body) {
                return Ok(Ok(Bytes::new()));
            }
            tokio::time::timeout(serve.body_timeout.get(), Limited::new(body, max).collect())
                .await
                .map(|read| read.map(|collected| collected.to_bytes()))
        };
        let body: Bytes = match reading.await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return respond::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                    &id,
                );
            }
            Ok(Err(_)) => {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    "could not read the request body",
                    &id,
                );
            }
            Err(_) => return respond::request_timeout(&id),
        };
        // The slot is taken only now: a client that never finishes its body
        // holds no slot of the app.
        let Ok(_permit) = served.concurrency.try_acquire() else {
            return respond::too_many("too many requests in flight for this app", 1, &id);
        };
        let report = self
            .runtime
            .invoke(
                &served.app,
                InvocationRequest::http(http_parts(parts, path), body.to_vec())
                    .with_request_id(&id),
            )
            .await;
        if let Err(e) = &report.result {
            tracing::warn!("request {id} to `{}` failed: {e}", served.app.name());
        }
        let mut response = respond::from_report(report, &id);
        cookies::scope_all(response.headers_mut(), &served.route);
        response
    }

    /// Serves on `listener` until `shutdown` resolves, then drains.
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.run_with(listener, None, shutdown).await
    }

    /// Makes this host known in the data directory's `hosts/` (with the
    /// apps it serves, for `warden kill` and `apps`), once; a host started
    /// through [`crate::host::Host`] is known before its start returns.
    /// Must be called inside the runtime that serves the apps.
    pub fn announce(&self, listen: &str) {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.apps_runtime.set(tokio::runtime::Handle::current());
        let mut presence = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        if presence.is_some() {
            return;
        }
        let names = self.served_versions();
        let shared = self.runtime.shared().map(|pg| pg.location().to_string());
        match crate::presence::Presence::announce(self.runtime.data_dir(), listen, names, shared) {
            Ok(p) => *presence = Some(p),
            Err(e) => tracing::warn!(
                "this host could not announce itself in {}/hosts ({e}); `warden kill` on this data directory will not see it — use --server",
                self.runtime.data_dir().display()
            ),
        }
    }

    /// [`Server::run`], speaking TLS when `tls` is given.
    pub(crate) async fn run_with(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let watch = self.watch_kills();
        let following = self.follow_registry();
        let listen = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        self.announce(&listen);
        let leasing = tokio::spawn(self.clone().take_scheduler_lease());
        let drain = self.runtime.platform().serve.drain_timeout.get();
        let gate = connections::Gate::new(connections::ClientLimits::of(
            &self.runtime.platform().serve,
        ));
        let server = self.clone();
        connections::accept_loop(
            &listener,
            &gate,
            "app listener",
            shutdown,
            |stream, admission| {
                let server = server.clone();
                let service = service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                });
                connections::serve_http1(
                    stream,
                    admission,
                    tls.clone(),
                    graceful.watcher(),
                    service,
                )
            },
        )
        .await;
        drop(listener);
        leasing.abort();
        {
            let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
            self.scheduling.store(false, Ordering::SeqCst);
        }
        let stopped: Vec<ScheduleTasks> = self
            .schedules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, entry)| entry)
            .collect();
        for task in stopped.iter().flat_map(|(_, tasks)| tasks) {
            task.abort();
        }
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(drain) => tracing::warn!("drain timeout; closing remaining connections"),
        }
        drop(watch);
        drop(following);
        // The shutdown checkpoint, signed while this host still holds the
        // lease (so no other host signs at once).
        let holds = self
            .lease
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if holds {
            let runtime = self.runtime.clone();
            let _ =
                tokio::task::spawn_blocking(move || checkpoints::sign_now(&runtime, "shutdown"))
                    .await;
        }
        // Another host may run the schedules from now on.
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.presence.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Takes the data directory's scheduler lease, waiting for it while
    /// another host holds it, then starts every app's schedules.
    async fn take_scheduler_lease(self: Arc<Self>) {
        if let Some(pg) = self.runtime.shared().cloned() {
            return self.take_shared_scheduler_lease(pg).await;
        }
        let dir = self.runtime.data_dir().to_path_buf();
        let mut said = String::new();
        loop {
            let (seen, line) = match crate::scheduler_lease::try_take(&dir) {
                Ok(Some(lease)) => {
                    self.hold_scheduler_lease(lease);
                    checkpoints::on_lease_taken(&self.runtime);
                    if !said.is_empty() {
                        tracing::warn!("this host now runs the schedules of {}", dir.display());
                    }
                    return;
                }
                Ok(None) => (
                    SchedulerLease::OtherHost,
                    format!(
                        "another host runs the schedules of {} ({}); this one serves requests and takes over when that host stops",
                        dir.display(),
                        crate::scheduler_lease::holder(&dir)
                    ),
                ),
                Err(e) => (
                    SchedulerLease::Failed,
                    format!(
                        "the scheduler lease {} cannot be taken ({e}); schedules wait, retrying every {} s",
                        crate::scheduler_lease::path(&dir).display(),
                        crate::scheduler_lease::RETRY.as_secs()
                    ),
                ),
            };
            self.lease_seen.store(seen as u8, Ordering::SeqCst);
            // Said once, and again only when it changes.
            if line != said {
                tracing::warn!("{line}");
                said = line;
            }
            tokio::time::sleep(crate::scheduler_lease::RETRY).await;
        }
    }

    /// [`Server::take_scheduler_lease`] among nodes sharing a database:
    /// the lease is a session advisory lock; when its connection ends this
    /// node stops its schedules and tries again.
    fn take_shared_scheduler_lease(
        self: Arc<Self>,
        pg: Arc<crate::state::postgres::Postgres>,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        // Boxed: losing the lease starts this again, and the cycle needs
        // one named type.
        Box::pin(async move {
            let mut said = String::new();
            loop {
                let (seen, line) = match crate::scheduler_lease::try_take_shared(&pg).await {
                    Ok(Some((lease, gone))) => {
                        self.hold_scheduler_lease(lease);
                        checkpoints::on_lease_taken(&self.runtime);
                        tracing::info!("this node runs the schedules of the cluster");
                        tokio::spawn(self.clone().lose_scheduler_lease_when(gone));
                        return;
                    }
                    Ok(None) => (SchedulerLease::OtherHost, OTHER_NODE.to_string()),
                    Err(e) => (
                        SchedulerLease::Failed,
                        format!(
                            "the cluster's scheduler lease cannot be taken ({e}); schedules wait, retrying every {} s",
                            crate::scheduler_lease::RETRY.as_secs()
                        ),
                    ),
                };
                self.lease_seen.store(seen as u8, Ordering::SeqCst);
                if line != said {
                    tracing::warn!("{line}");
                    said = line;
                }
                tokio::time::sleep(crate::scheduler_lease::RETRY).await;
            }
        })
    }

    /// Stops this node's schedules once the connection holding the shared
    /// lease ends (the server has released the lock: another node may take
    /// it), and tries for the lease again. Nothing to do at shutdown, when
    /// the lease was let go on purpose.
    async fn lose_scheduler_lease_when(self: Arc<Self>, gone: tokio::sync::oneshot::Receiver<()>) {
        let _ = gone.await;
        {
            let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
            if self
                .lease
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .is_none()
            {
                return;
            }
            self.scheduling.store(false, Ordering::SeqCst);
            self.lease_seen
                .store(SchedulerLease::Failed as u8, Ordering::SeqCst);
            let mut schedules = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
            for (_, (_, tasks)) in schedules.drain() {
                for task in tasks {
                    task.abort();
                }
            }
        }
        tracing::warn!(
            "the connection holding the cluster's scheduler lease ended; this node's schedules stop until it takes the lease again"
        );
        tokio::spawn(self.take_scheduler_lease());
    }

    /// Keeps `lease` and starts every app's schedules: from now on this
    /// host runs them.
    fn hold_scheduler_lease(&self, lease: crate::scheduler_lease::Lease) {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
        self.scheduling.store(true, Ordering::SeqCst);
        self.lease_seen
            .store(SchedulerLease::Held as u8, Ordering::SeqCst);
        for app in self.current().all.iter() {
            self.start_schedules(app);
        }
    }

    /// Where this host stands with its data directory's scheduler lease.
    pub(crate) fn scheduler_lease(&self) -> SchedulerLease {
        match self.lease_seen.load(Ordering::SeqCst) {
            x if x == SchedulerLease::Held as u8 => SchedulerLease::Held,
            x if x == SchedulerLease::OtherHost as u8 => SchedulerLease::OtherHost,
            x if x == SchedulerLease::Failed as u8 => SchedulerLease::Failed,
            _ => SchedulerLease::NotTried,
        }
    }

    /// The app listener's address, once announced.
    pub(crate) fn listen_addr(&self) -> Option<String> {
        self.presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|p| p.listen())
    }

    /// Whether this host runs the schedules of its data directory.
    pub fn runs_schedules(&self) -> bool {
        self.scheduling.load(Ordering::SeqCst)
    }
}

impl Server {
    /// Picks up kills and unkills made by other processes (`warden kill`)
    /// — or, on shared state, on any node, as the database announces them —
    /// by watching `killed.json`, on a thread of its own so that busy
    /// guests cannot delay it; stops with the server.
    fn watch_kills(&self) -> Stop {
        let runtime = Arc::downgrade(&self.runtime);
        let (stop, stopping) = Stop::new();
        // Shared state: told of every change by the database, reloaded at
        // least every second as a safety net.
        if let Some(pg) = self.runtime.shared() {
            let spawned = crate::state::postgres::notices::on_notice(
                pg,
                crate::state::postgres::kills::CHANNEL,
                "warden-kills",
                std::time::Duration::from_secs(1),
                stopping,
                move || {
                    let Some(runtime) = runtime.upgrade() else {
                        return false;
                    };
                    runtime.refresh_kills();
                    true
                },
            );
            if let Err(e) = &spawned {
                tracing::warn!("cannot watch for kills made on other nodes: {e}");
            }
            return stop;
        }
        let spawned = std::thread::Builder::new()
            .name("warden-kills".into())
            .spawn(move || {
                let mut last = None;
                while !stopping.load(Ordering::SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    let Some(runtime) = runtime.upgrade() else {
                        break;
                    };
                    let modified = std::fs::metadata(runtime.data_dir().join("killed.json"))
                        .and_then(|m| m.modified())
                        .ok();
                    if modified != last {
                        last = modified;
                        runtime.refresh_kills();
                    }
                }
            });
        if let Err(e) = &spawned {
            tracing::warn!("cannot watch for kills made by `warden kill`: {e}");
        }
        stop
    }
}

/// Stops a watcher thread when dropped.
pub(super) struct Stop(Arc<std::sync::atomic::AtomicBool>);

impl Stop {
    /// The guard, and the flag the thread watches.
    pub(super) fn new() -> (Stop, Arc<std::sync::atomic::AtomicBool>) {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        (Stop(flag.clone()), flag)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Binds `addr` (use port 0 for any) and returns the listener and address.
pub async fn bind(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
