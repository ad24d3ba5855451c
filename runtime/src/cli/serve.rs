//! `warden serve`: run the host with the given apps until SIGTERM/Ctrl-C.

use super::{ConfigArgs, EXIT_CONFIG};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use warden_runtime::Runtime;
use warden_runtime::serve::{Server, bind};

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
  warden tokens create --name alice --role creator; WARDEN_TOKEN=... warden deploy app.toml

Apps answer on their `[http] route`. SIGTERM or Ctrl-C stops accepting and
drains in-flight requests (up to `serve.drain_timeout`).")]
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
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(args: ServeArgs) -> ExitCode {
    warden_runtime::host_log::init();
    let platform = match args.config.load() {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Some(files) = warden_runtime::serve::file_limit::raise_file_limit() {
        // Both listeners at their caps, plus the host's own files.
        let wanted = 2 * platform.serve.max_connections as u64 + 256;
        if files < wanted {
            eprintln!(
                "warden: this process may open {files} files, fewer than the {wanted} that 2 × serve.max_connections needs; past it, `accept` fails (and backs off) before connections are answered 503\n  fix: raise `ulimit -n`, or lower serve.max_connections"
            );
        }
    }
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| platform.serve.listen.clone());
    let admin_listen = args
        .admin_listen
        .clone()
        .unwrap_or_else(|| platform.serve.admin_listen.clone());
    let telemetry = match warden_runtime::telemetry::HostTelemetry::start(
        &platform.telemetry,
        &platform.data_dir(),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warden: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match Runtime::new(platform, telemetry.provider.clone()) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("warden: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    super::compile_in_child(&runtime);
    match warden_runtime::config_changes::audit_changes(
        runtime.platform(),
        runtime.data_dir(),
        runtime.audit(),
    ) {
        Ok(Some(entry)) => tracing::info!(
            digest = entry.details["digest"].as_str().unwrap_or_default(),
            changes = entry.details["changes"].as_array().map_or(0, Vec::len),
            "governance settings changed since the last start (audited: config.changed)"
        ),
        Ok(None) => {}
        Err(e) => {
            eprintln!(
                "warden: the change of the governance settings could not be audited: {e:#}
  fix: make the audit log writable; Warden does not start with changes it cannot record"
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let loose = warden_runtime::fsutil::not_private(runtime.data_dir());
    if !loose.is_empty() {
        let listed: Vec<String> = loose
            .iter()
            .take(5)
            .map(|(p, m)| format!("{} ({m:o})", p.display()))
            .collect();
        eprintln!(
            "warden: {} entries of the data directory are open to other users: {}{}\n  fix: chmod 700 {} && chmod -R go-rwx {}",
            loose.len(),
            listed.join(", "),
            if loose.len() > 5 { ", ..." } else { "" },
            runtime.data_dir().display(),
            runtime.data_dir().display()
        );
    }
    let mut apps = Vec::new();
    for path in &args.apps {
        match warden_runtime::serve::deployed::load_local(&runtime, path) {
            Ok(app) => apps.push(app),
            Err(e) => {
                eprintln!("warden: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    let server = match Server::new(runtime.clone(), apps) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("warden: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for problem in server.restore() {
        eprintln!("warden: {problem}");
    }
    server.collect();
    warden_runtime::serve::quota_gauge::register(&server);
    if telemetry.exporting {
        eprintln!("warden: exporting traces, metrics and logs over OTLP");
    }
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warden: cannot start the async runtime: {e}");
            return ExitCode::from(17);
        }
    };
    tokio.block_on(async move {
        let signals = StopSignals::register();
        let (listener, addr) = match bind(&listen).await {
            Ok(bound) => bound,
            Err(e) => {
                eprintln!("warden: cannot listen on {listen}: {e}\n  fix: pick a free address with --listen or `serve.listen`");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let tls = match runtime.platform().serve.tls.as_ref().map(warden_runtime::serve::tls::acceptor) {
            None => None,
            Some(Ok(acceptor)) => Some(acceptor),
            Some(Err(e)) => {
                eprintln!("warden: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("warden: listening on {scheme}://{addr}");
        if server.all_apps().is_empty() {
            eprintln!("warden: no apps yet; pass --app APP.toml, or deploy with `warden deploy APP.toml`");
        }
        for app in server.all_apps().iter().filter(|a| !a.schedules.is_empty()) {
            let patterns: Vec<&str> = app.schedules.iter().map(|s| s.text.as_str()).collect();
            eprintln!("warden: scheduling {}@{} on {} (UTC)", app.name(), app.version(), patterns.join(", "));
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
        let admin_listener = match std::net::TcpListener::bind(&admin_listen) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("warden: cannot listen on {admin_listen} for the admin API: {e}\n  fix: pick a free address with --admin-listen or `serve.admin_listen`");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let admin_addr = admin_listener.local_addr().map(|a| a.to_string()).unwrap_or(admin_listen);
        eprintln!("warden: admin API on {scheme}://{admin_addr} (tokens: `warden tokens create`)");
        let _purger = warden_runtime::purge::spawn_purger(&runtime);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let admin_state = warden_runtime::admin::AdminState::new(server.clone())
            .with_telemetry(telemetry.stats.clone());
        // SLOs are read from the same span store reader as the admin API.
        let _slo = match &admin_state.spans {
            Some(store) => Some(warden_runtime::slo::spawn(
                &server,
                store.clone(),
                runtime.platform().telemetry.slo_interval.get(),
            )),
            None => {
                eprintln!("warden: SLOs are not watched: the span store did not open");
                None
            }
        };
        // The admin API has its own thread and runtime: guests busy on
        // every app worker cannot delay a kill.
        let admin = match warden_runtime::admin::listener::spawn(admin_state, admin_listener, tls.clone(), stop_rx.clone()) {
            Ok(admin) => admin,
            Err(e) => {
                eprintln!("warden: cannot start the admin API: {e}");
                return ExitCode::from(17);
            }
        };
        let mut app_stop = stop_rx.clone();
        tokio::spawn(async move {
            signals.received().await;
            let _ = stop_tx.send(true);
        });
        let served = server
            .run_with(listener, tls, async move {
                let _ = app_stop.wait_for(|stop| *stop).await;
            })
            .await;
        let _ = tokio::task::spawn_blocking(move || admin.join()).await;
        // Spans, metrics and logs of the last requests leave before the exit.
        runtime.flush_metrics();
        telemetry.flush();
        match served {
            Ok(()) => {
                eprintln!("warden: stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("warden: server error: {e}");
                ExitCode::from(17)
            }
        }
    })
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
