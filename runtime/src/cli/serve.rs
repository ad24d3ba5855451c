//! `warden serve`: run the host with the given apps until SIGTERM/Ctrl-C.

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG, EXIT_INTERNAL};
use clap::Args;
use std::path::PathBuf;
use warden_runtime::host::{Host, HostOptions, RunningHost, StartError};

/// Serve apps over HTTP and on schedules, with the admin API and dashboard.
///
/// Each request runs in a fresh sandbox under the app's limits, quotas and
/// concurrency cap. Apps come from `--app` and from earlier deploys (kept
/// in the data directory).
#[derive(Args)]
#[command(after_help = "Examples:
  warden serve --app examples/hello-http/app.toml
  warden serve --app examples/hello-http/app.toml --app examples/report-formatter/app.toml --listen 127.0.0.1:9000
  curl http://127.0.0.1:8080/hello/ada
  warden serve --strict --app app.toml      # in CI: exit 3 if an app does not start
  warden tokens create --name alice --role creator; WARDEN_TOKEN=... warden deploy app.toml

Apps answer on their `[http] route`. Each app is checked before the host
listens (a bad manifest stops it there), then compiles in the background: its
route answers 503 with Retry-After until it is ready, and `warden: ready` is
printed once every app is. An app whose compile or link fails answers 500
while the others serve, unless --strict stops the host. SIGTERM or Ctrl-C
stops accepting and drains in-flight requests (up to `serve.drain_timeout`).
Port 0 picks a free port; the addresses are printed. The host signs the audit
chain ([audit] checkpoint_interval) and forwards it to [[audit.sinks]]; each
sink's lag is in GET /v1/telemetry.")]
pub struct ServeArgs {
    /// An app to serve (repeatable).
    #[arg(long = "app", value_name = "APP.toml")]
    apps: Vec<PathBuf>,
    /// Address to listen on (default: `serve.listen`, 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Address of the admin API (default: `serve.admin_listen`, 127.0.0.1:8081).
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<String>,
    /// Stop (exit 3, as for a bad configuration) if an app does not start:
    /// a deployed version that fails its check, or a compile or link that
    /// fails once the host is listening. Without it the host serves the
    /// other apps, and that one answers 500 or is not served.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(args: ServeArgs) -> Outcome {
    warden_runtime::host_log::init();
    let platform = args.config.load()?;
    let options = HostOptions {
        platform,
        apps: args.apps,
        listen: args.listen,
        admin_listen: args.admin_listen,
        compiler: super::this_program(),
        strict: args.strict,
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            fail(
                EXIT_INTERNAL,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    tokio.block_on(async move {
        let signals = StopSignals::register();
        let host = Host::start(options).await.map_err(|e| {
            let code = match e {
                StartError::Config(_) => EXIT_CONFIG,
                StartError::Internal(_) => EXIT_INTERNAL,
            };
            fail(code, e)
        })?;
        announce(&host);
        let server = host.server.clone();
        let stop_if_any_failed = args.strict.then(|| host.stopper());
        let did_not_start = std::sync::Arc::new(std::sync::OnceLock::new());
        let failed = did_not_start.clone();
        tokio::spawn(async move {
            let started = server.started().await;
            match stop_if_any_failed {
                // Not "ready": a script waiting for that line would call a
                // host that is stopping.
                Some(stop) if !started.failed.is_empty() => {
                    let names = names(&started.failed);
                    eprintln!("warden: stopping: {names} did not start, and --strict was given");
                    let _ = failed.set(names);
                    stop();
                }
                _ => announce_ready(&started),
            }
        });
        let stop = host.stopper();
        tokio::spawn(async move {
            signals.received().await;
            stop();
        });
        host.stopped()
            .await
            .map_err(|e| fail(EXIT_INTERNAL, format!("server error: {e}")))?;
        eprintln!("warden: stopped");
        match did_not_start.get() {
            Some(names) => Err(fail(
                EXIT_CONFIG,
                format!("did not start: {names} (see above; --strict stops the host when an app does not start)"),
            )),
            None => Ok(()),
        }
    })
}

/// Tells the operator where the host answers and what it serves.
fn announce(host: &RunningHost) {
    let (scheme, addr) = (host.scheme, host.app_addr);
    let server = &host.server;
    eprintln!("warden: listening on {scheme}://{addr}");
    if server.all_apps().is_empty() && server.starting().is_empty() {
        eprintln!(
            "warden: no apps yet; pass --app APP.toml, or deploy with `warden deploy APP.toml`"
        );
    }
    for app in server.all_apps().iter().filter(|a| !a.schedules.is_empty()) {
        let patterns: Vec<&str> = app.schedules.iter().map(|s| s.text.as_str()).collect();
        eprintln!(
            "warden: scheduling {}@{} on {} (UTC)",
            app.name(),
            app.version(),
            patterns.join(", ")
        );
    }
    for served in server.apps() {
        eprintln!(
            "warden: serving {}@{} ({}) on {scheme}://{addr}{}",
            served.app.name(),
            served.app.version(),
            served.app.world,
            served.route
        );
    }
    for app in server.starting() {
        let on = app
            .route()
            .map(|route| format!(" on {scheme}://{addr}{route}"))
            .unwrap_or_default();
        eprintln!(
            "warden: starting {}@{}{on} (compiling; 503 until it is ready)",
            app.name(),
            app.version()
        );
    }
    eprintln!(
        "warden: admin API on {scheme}://{} (tokens: `warden tokens create`)",
        host.admin_addr
    );
}

/// Says when every app the host started with is compiled: the line a
/// script waits for before its first request.
fn announce_ready(started: &warden_runtime::serve::starting::Started) {
    match started.failed.len() {
        0 => eprintln!("warden: ready ({} apps)", started.ready),
        n => eprintln!(
            "warden: ready ({} apps); {n} did not start: {} (see above)",
            started.ready,
            names(&started.failed)
        ),
    }
}

/// The names of apps that did not start, comma-separated.
fn names(failed: &[(String, String)]) -> String {
    failed
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// SIGTERM and SIGINT, registered at once (before the listeners are
/// announced), so a stop signal sent the moment the host is up drains it
/// instead of killing it with the default action.
struct StopSignals {
    term: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn register() -> StopSignals {
        use tokio::signal::unix::{SignalKind, signal};
        StopSignals {
            term: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    async fn received(mut self) {
        async fn one(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(self.term.as_mut()) => {}
            _ = one(self.interrupt.as_mut()) => {}
        }
        eprintln!("warden: shutting down; draining in-flight requests");
    }
}
