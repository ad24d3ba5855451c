//! A running Warden host, as a library: what `warden serve` starts, for
//! anyone who embeds Warden or tests it without a child process.
//!
//! [`Host::start`] assembles the host stage by stage — telemetry and
//! runtime, the audited record of changed governance settings, the apps,
//! the listeners, then the background work (purger, SLO watch, admin API)
//! — and returns a [`RunningHost`] with its addresses. [`RunningHost::stop`]
//! stops accepting and drains; [`RunningHost::stopped`] waits for the
//! drain and flushes telemetry. Operational messages go through `tracing`
//! (to stderr with `warden serve`, and to the OpenTelemetry logs pipeline
//! when it exports).

use crate::config::PlatformConfig;
use crate::runtime::Runtime;
use crate::serve::{Server, bind};
use crate::telemetry::HostTelemetry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What a host is started with.
pub struct HostOptions {
    pub platform: PlatformConfig,
    /// `app.toml` files to serve, besides the apps deployed before.
    pub apps: Vec<PathBuf>,
    /// Overrides `serve.listen` (e.g. `127.0.0.1:0` for any free port).
    pub listen: Option<String>,
    /// Overrides `serve.admin_listen`.
    pub admin_listen: Option<String>,
    /// Compile components in child processes of this program (the `warden`
    /// binary), each under `deploys.compile_timeout`; `None` compiles in
    /// this process, without a time budget.
    pub compiler: Option<PathBuf>,
    /// Refuse to start when a deployed version cannot be served (it is
    /// only logged otherwise); `warden serve --strict` also stops when an
    /// app's background compile fails ([`crate::serve::Server::started`]).
    pub strict: bool,
}

impl HostOptions {
    /// A host for `platform` with no apps of its own, on its configured
    /// addresses.
    pub fn new(platform: PlatformConfig) -> Self {
        HostOptions {
            platform,
            apps: Vec::new(),
            listen: None,
            admin_listen: None,
            compiler: None,
            strict: false,
        }
    }
}

/// Why a host did not start. Each message says what and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration, an app, a listener address or the audit log is
    /// not usable: the operator can fix it.
    #[error("{0}")]
    Config(String),
    /// The process could not start a part of the host (a thread, the
    /// async runtime).
    #[error("{0}")]
    Internal(String),
}

/// A host that is serving. Dropping it begins the drain as
/// [`RunningHost::stop`] does (unless a [`RunningHost::stopper`] is still
/// held), but nothing more: only [`RunningHost::stopped`] waits for the
/// drain, ends the purger and SLO watch and writes the usage counters.
pub struct RunningHost {
    /// Where apps answer.
    pub app_addr: SocketAddr,
    /// Where the admin API answers.
    pub admin_addr: SocketAddr,
    /// `https` when `[serve.tls]` is set, else `http`.
    pub scheme: &'static str,
    pub server: Arc<Server>,
    stop: watch::Sender<bool>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    admin: std::thread::JoinHandle<()>,
    telemetry: HostTelemetry,
    purger: tokio::task::JoinHandle<()>,
    slo: Option<tokio::task::JoinHandle<()>>,
    /// Signs audit checkpoints (`crate::serve::checkpoints`).
    checkpoints: tokio::task::JoinHandle<()>,
    /// Rules the platform set that act on their own, when configured:
    /// suspending lapsed apps (`crate::serve::lifecycle`), checking
    /// budgets (`crate::costs::budgets`).
    automations: Vec<tokio::task::JoinHandle<()>>,
    /// Forward the audit log to its sinks (`crate::audit::forward`).
    forwarders: Vec<tokio::task::JoinHandle<()>>,
    forwarding: Arc<crate::audit::forward::Forwarding>,
}

/// The entry point: see the module documentation.
pub struct Host;

impl Host {
    /// Starts a host; must be called inside a multi-threaded tokio runtime.
    ///
    /// # Errors
    /// A [`StartError`] saying which part did not start and how to fix it.
    pub async fn start(options: HostOptions) -> Result<RunningHost, StartError> {
        warn_on_file_limit(&options.platform);
        let listen = options
            .listen
            .clone()
            .unwrap_or_else(|| options.platform.serve.listen.clone());
        let admin_listen = options
            .admin_listen
            .clone()
            .unwrap_or_else(|| options.platform.serve.admin_listen.clone());
        crate::audit::forward::check(&options.platform).map_err(|(field, problem, fix)| {
            StartError::Config(format!("{field}: {problem}\n  fix: {fix}"))
        })?;
        let (runtime, telemetry) = open_runtime(options.platform)?;
        if let Some(program) = options.compiler {
            runtime.compile_in_child(program);
        }
        audit_changed_settings(&runtime)?;
        warn_on_loose_permissions(&runtime);
        let server = load_apps(&runtime, &options.apps, options.strict)?;
        if telemetry.exporting {
            tracing::info!("exporting traces, metrics and logs over OTLP");
        }
        let (listener, app_addr) = bind(&listen).await.map_err(|e| {
            StartError::Config(format!(
                "cannot listen on {listen}: {e}\n  fix: pick a free address with --listen or `serve.listen`"
            ))
        })?;
        let tls = match runtime.platform().serve.tls.as_ref() {
            None => None,
            Some(settings) => Some(
                crate::serve::tls::acceptor(settings)
                    .map_err(|e| StartError::Config(e.to_string()))?,
            ),
        };
        let admin_listener = std::net::TcpListener::bind(&admin_listen).map_err(|e| {
            StartError::Config(format!(
                "cannot listen on {admin_listen} for the admin API: {e}\n  fix: pick a free address with --admin-listen or `serve.admin_listen`"
            ))
        })?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|e| StartError::Internal(format!("the admin listener has no address: {e}")))?;
        let (stop, stop_rx) = watch::channel(false);
        let following = Arc::downgrade(&server);
        let (forwarding, forwarders) = crate::audit::forward::spawn(
            &runtime,
            Arc::new(move || following.upgrade().map(|s| s.runs_schedules())),
        );
        let mut admin_state =
            crate::admin::AdminState::new(server.clone()).with_telemetry(telemetry.stats.clone());
        admin_state.forwarding = Some(forwarding.clone());
        // SLOs are read where the admin API reads them.
        let slo = match &admin_state.tallies {
            Some(tallies) => Some(crate::slo::spawn(
                &server,
                tallies.clone(),
                runtime.platform().telemetry.slo_interval.get(),
            )),
            None => {
                tracing::warn!("SLOs are not watched: the span store did not open");
                None
            }
        };
        // The admin API has its own thread and runtime: guests busy on
        // every app worker cannot delay a kill.
        let admin = crate::admin::listener::spawn(
            admin_state,
            admin_listener,
            tls.clone(),
            stop_rx.clone(),
        )
        .map_err(|e| {
            if let Some(slo) = &slo {
                slo.abort();
            }
            StartError::Internal(format!("cannot start the admin API: {e}"))
        })?;
        let purger = crate::purge::spawn_purger(&runtime);
        let checkpoints = crate::serve::checkpoints::spawn(
            &server,
            runtime.platform().audit.checkpoint_interval.get(),
        );
        let automations = [
            crate::serve::lifecycle::spawn(&server),
            crate::costs::budgets::spawn(&server),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Known in the data directory before the start returns: a `warden
        // kill` right after the announcement finds this host and its apps.
        server.announce(&app_addr.to_string());
        let mut app_stop = stop_rx;
        let serving = tokio::spawn(server.clone().run_with(listener, tls.clone(), async move {
            let _ = app_stop.wait_for(|stop| *stop).await;
        }));
        Ok(RunningHost {
            app_addr,
            admin_addr,
            scheme: if tls.is_some() { "https" } else { "http" },
            server,
            stop,
            serving,
            admin,
            telemetry,
            purger,
            slo,
            checkpoints,
            automations,
            forwarders,
            forwarding,
        })
    }
}

impl RunningHost {
    /// The host's runtime (its configuration, data directory, audit log).
    pub fn runtime(&self) -> &Arc<Runtime> {
        self.server.runtime()
    }

    /// Waits until every app the host started with is compiled and served,
    /// or failed to compile (see [`crate::serve::starting`]).
    pub async fn ready(&self) -> crate::serve::starting::Started {
        self.server.started().await
    }

    /// Stops accepting connections on both listeners and begins draining
    /// in-flight requests (up to `serve.drain_timeout`).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// A handle that stops the host from elsewhere (a signal handler).
    pub fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let stop = self.stop.clone();
        move || {
            let _ = stop.send(true);
        }
    }

    /// Waits until the host has stopped and drained, ends its background
    /// work (purger, SLO watch), writes every app's usage counters, then
    /// sends the last spans, metrics and logs.
    ///
    /// # Errors
    /// The app listener failed while serving.
    pub async fn stopped(self) -> std::io::Result<()> {
        let served = match self.serving.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        // An app still compiling will not be served: its compile ends now
        // instead of holding the exit for up to `deploys.compile_timeout`.
        self.server.runtime().stop_compiles();
        let admin = self.admin;
        let _ = tokio::task::spawn_blocking(move || admin.join()).await;
        self.purger.abort();
        self.checkpoints.abort();
        for automation in &self.automations {
            automation.abort();
        }
        // The shutdown checkpoint is signed: the sinks get it, and what
        // else is left, before the host exits (bounded).
        self.forwarding
            .drain(
                self.server.runtime().audit(),
                std::time::Duration::from_secs(5),
            )
            .await;
        for forwarder in &self.forwarders {
            forwarder.abort();
        }
        if let Some(slo) = &self.slo {
            slo.abort();
        }
        for app in self.server.all_apps() {
            if let Err(e) = app.meter.flush().await {
                tracing::warn!("usage counters for `{}` not saved: {e}", app.name());
            }
        }
        // Spans, metrics and logs of the last requests leave before the end.
        self.server.runtime().flush_metrics();
        self.telemetry.flush();
        served
    }
}

/// Warns when the process may open fewer files than both listeners at
/// their connection caps need.
fn warn_on_file_limit(platform: &PlatformConfig) {
    if let Some(files) = crate::serve::file_limit::raise_file_limit() {
        // Both listeners at their caps, plus the host's own files.
        let wanted = 2 * platform.serve.max_connections as u64 + 256;
        if files < wanted {
            tracing::warn!(
                "this process may open {files} files, fewer than the {wanted} that 2 × serve.max_connections needs; past it, `accept` fails (and backs off) before connections are answered 503\n  fix: raise `ulimit -n`, or lower serve.max_connections"
            );
        }
    }
}

/// Telemetry (span store, OTLP) and the runtime on top of it.
fn open_runtime(platform: PlatformConfig) -> Result<(Arc<Runtime>, HostTelemetry), StartError> {
    let telemetry = HostTelemetry::start(&platform.telemetry, &platform.data_dir())
        .map_err(|e| StartError::Config(format!("{e:#}")))?;
    let runtime = Runtime::new(platform, telemetry.provider.clone())
        .map_err(|e| StartError::Config(format!("{e:#}")))?;
    // On shared state, this node's SLO tallies are every node's too.
    if let (Some(store), Some(pg)) = (&telemetry.store, runtime.shared()) {
        let node = crate::state::postgres::tallies::node_id(runtime.data_dir()).map_err(|e| {
            StartError::Config(format!(
                "cannot read or create {}: {e}",
                runtime.data_dir().join("node.id").display()
            ))
        })?;
        store.share_tallies(Arc::new(crate::state::postgres::tallies::PgTallies::new(
            pg.clone(),
            node,
        )));
    }
    // Fail closed: no host serves deploys it cannot judge.
    runtime.policy().map_err(|e| {
        StartError::Config(format!(
            "{e}\n  fix: correct the policy at the place named, or set `[policy] paths` in warden.toml to working files"
        ))
    })?;
    // The attestation key is made here, once, before any deploy can race
    // to create it; without it, decisions are still made and audited, and
    // each deploy answer says it was not attested.
    if let Err(e) = runtime.signer() {
        tracing::warn!("publish decisions will not be signed: {e}");
    }
    // Compiled artifacts are native code, loaded unchecked by wasmtime:
    // a serving host loads only those it sealed.
    if let Err(e) = runtime.seal_artifacts() {
        tracing::warn!(
            "compiled artifacts cannot be sealed, so none on disk is trusted and every load compiles: {e:#}"
        );
    }
    Ok((Arc::new(runtime), telemetry))
}

/// Records a change of the governance settings since the last start
/// (`config.changed`); a host does not start with changes it cannot record.
fn audit_changed_settings(runtime: &Runtime) -> Result<(), StartError> {
    match crate::config_changes::audit_changes(
        runtime.platform(),
        runtime.data_dir(),
        runtime.audit(),
    ) {
        Ok(Some(entry)) => {
            tracing::info!(
                digest = entry.details["digest"].as_str().unwrap_or_default(),
                changes = entry.details["changes"].as_array().map_or(0, Vec::len),
                "governance settings changed since the last start (audited: config.changed)"
            );
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(StartError::Config(format!(
            "the change of the governance settings could not be audited: {e:#}\n  fix: make the audit log writable; Warden does not start with changes it cannot record"
        ))),
    }
}

/// Warns about entries of the data directory other users can open.
fn warn_on_loose_permissions(runtime: &Runtime) {
    let loose = crate::fsutil::not_private(runtime.data_dir());
    if loose.is_empty() {
        return;
    }
    let listed: Vec<String> = loose
        .iter()
        .take(5)
        .map(|(p, m)| format!("{} ({m:o})", p.display()))
        .collect();
    tracing::warn!(
        "{} entries of the data directory are open to other users: {}{}\n  fix: chmod 700 {} && chmod -R go-rwx {}",
        loose.len(),
        listed.join(", "),
        if loose.len() > 5 { ", ..." } else { "" },
        runtime.data_dir().display(),
        runtime.data_dir().display()
    );
}

/// The server with the given apps and those deployed before, each checked
/// now and compiling in the background ([`crate::serve::starting`]), its
/// collector and quota gauge running.
fn load_apps(
    runtime: &Arc<Runtime>,
    paths: &[PathBuf],
    strict: bool,
) -> Result<Arc<Server>, StartError> {
    let apps = paths
        .iter()
        .map(|path| crate::serve::deployed::check_local(runtime, path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let server = Arc::new(
        Server::new(runtime.clone(), Vec::new()).map_err(|e| StartError::Config(e.to_string()))?,
    );
    server.start_up_begins();
    for app in apps {
        server
            .start_in_background(app, Box::new(|runtime, app| runtime.compile_app(app)))
            .map_err(|e| StartError::Config(e.to_string()))?;
    }
    let problems = server.restore();
    if strict && !problems.is_empty() {
        runtime.stop_compiles();
        return Err(StartError::Config(format!(
            "{}\n  fix: start once without --strict (the host serves the others), then deploy a working version of each or retire it (`warden retire APP --reason ...`)",
            problems.join("\n")
        )));
    }
    for problem in problems {
        tracing::warn!("{problem}");
    }
    server.start_up_held();
    server.collect();
    crate::serve::quota_gauge::register(&server);
    Ok(server)
}
