//! `warden kill` / `warden unkill`: the operator's stop switch; `warden
//! retire` / `warden unretire`: the end of an app's life, and its way back.

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG, actor};
use clap::Args;

/// Stop an app at once: new requests are refused (503), running ones are
/// trapped within one epoch tick, its credentials are withheld. Persists
/// until `warden unkill`; audited.
#[derive(Args)]
#[command(after_help = "Examples:
  WARDEN_TOKEN=... warden kill expense-dashboard --reason \"exfiltrating customer emails\"
  warden kill expense-dashboard --reason \"...\" --config /etc/warden/warden.toml
  warden kill expense-dashboard --reason \"...\" --offline   # no host running: applies at the next start

Where the kill goes: --server (or WARDEN_SERVER) — or WARDEN_TOKEN alone, with
no --config and no --offline — sends it to a running host's admin API
(default http://127.0.0.1:8081). Otherwise it is written to the data directory
of --config (or the default one): the app must be one that directory knows
(exit 3 names those it knows), and a host must be serving that data directory
(it picks the kill up within ~200 ms); with no host running, nothing is
recorded and the exit code is 4 unless --offline is given.")]
pub struct KillArgs {
    app: String,
    /// Why: recorded in the audit log.
    #[arg(long)]
    reason: String,
    /// Kill through a running host's admin API (token from WARDEN_TOKEN)
    /// instead of writing the local data directory.
    #[arg(long, env = "WARDEN_SERVER")]
    server: Option<String>,
    /// Record the kill even though no running host serves the data
    /// directory (it applies when a host starts).
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Exit code of a local kill that no running host would apply.
pub const EXIT_NOT_SERVED: u8 = 4;

/// Let a killed app run again; audited.
#[derive(Args)]
#[command(after_help = "Example:\n  warden unkill expense-dashboard")]
pub struct UnkillArgs {
    app: String,
    /// Unkill through a running host's admin API.
    #[arg(long, env = "WARDEN_SERVER")]
    server: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn kill(args: KillArgs) -> Outcome {
    if let Some(server) = super::remote(&args.server, &args.config, args.offline) {
        let body = serde_json::json!({ "reason": args.reason });
        return super::client::report(super::client::call(
            &server,
            "POST",
            &format!("/v1/apps/{}/kill", args.app),
            Some(body),
        ));
    }
    let platform = args.config.load()?;
    let dir = super::data_dir_to_read(&platform)?;
    let runtime = args.config.runtime()?;
    let hosts = warden_runtime::presence::live(&dir);
    super::same_state(&runtime, &hosts, "kill")?;
    let known = warden_runtime::known_apps::known_apps(&runtime, &hosts);
    if !known.contains(&args.app) {
        let list: Vec<&str> = known.iter().map(String::as_str).collect();
        return Err(fail(
            EXIT_CONFIG,
            format!(
                "{} knows no app `{}`; it knows: {}\n  fix: check the name, or point at the host that serves it with --config or --server",
                dir.display(),
                args.app,
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            ),
        ));
    }
    if hosts.is_empty() && !args.offline {
        return Err(fail(
            EXIT_NOT_SERVED,
            format!(
                "no running host serves {}, so nothing would stop now; nothing was recorded\n  fix: kill through the host that serves `{}` (--server URL, or --config with its warden.toml), or pass --offline to record the kill for the next start",
                dir.display(),
                args.app
            ),
        ));
    }
    if let Err(e) = runtime.kill(&args.app, &args.reason, &actor()) {
        return Err(fail(EXIT_CONFIG, format!("could not record the kill: {e}")));
    }
    println!("killed `{}`: {}", args.app, args.reason);
    if let Some(pg) = runtime.shared() {
        println!(
            "recorded in the shared state ({}): every node using it stops `{}` within a second",
            pg.location(),
            args.app
        );
        return Ok(());
    }
    let serving: Vec<String> = hosts
        .iter()
        .filter(|h| h.apps.contains(&args.app))
        .map(|h| h.pid.to_string())
        .collect();
    if !serving.is_empty() {
        println!(
            "the host(s) serving it (pid {}) stop it within ~200 ms",
            serving.join(", ")
        );
    } else if hosts.is_empty() {
        println!("recorded offline: it applies when a host starts on this data directory");
    } else {
        println!(
            "recorded: no running host serves `{}` now; it stays killed when one does",
            args.app
        );
    }
    Ok(())
}

pub fn unkill(args: UnkillArgs) -> Outcome {
    if let Some(server) = super::remote(&args.server, &args.config, false) {
        return super::client::report(super::client::call(
            &server,
            "POST",
            &format!("/v1/apps/{}/unkill", args.app),
            None,
        ));
    }
    let runtime = args.config.runtime()?;
    let platform = args.config.load()?;
    let dir = super::data_dir_to_read(&platform)?;
    super::same_state(&runtime, &warden_runtime::presence::live(&dir), "unkill")?;
    match runtime.unkill(&args.app, &actor()) {
        Ok(true) => {
            println!("`{}` may run again", args.app);
            Ok(())
        }
        Ok(false) => {
            println!("`{}` was not killed", args.app);
            Ok(())
        }
        Err(e) => Err(fail(
            EXIT_CONFIG,
            format!("could not record the unkill: {e}"),
        )),
    }
}

/// Retire an app (admin): its live version stops being served and uses no
/// credentials; its stored data stays until its TTL; reversible with
/// `warden unretire`. Audited (app.retired) and kept in the version's
/// history.
#[derive(Args)]
#[command(after_help = "Examples:
  WARDEN_TOKEN=... warden retire lunch-bot --reason \"owner left; nobody uses it\"
  WARDEN_TOKEN=... warden retire lunch-bot --reason \"...\" --server https://warden.internal:8081

Not a kill: a kill is an emergency stop of an app that stays deployed;
retiring ends an app's life without deleting its record or data.")]
pub struct RetireArgs {
    app: String,
    /// Why: kept in the version's history and the audit log.
    #[arg(long)]
    reason: String,
    #[arg(long, env = "WARDEN_SERVER", default_value = super::DEFAULT_SERVER)]
    server: String,
}

/// Put a retired app back (admin): its retired version is checked against
/// the digests recorded at deploy and served again; audited
/// (app.unretired).
#[derive(Args)]
#[command(
    after_help = "Example:\n  WARDEN_TOKEN=... warden unretire lunch-bot --reason \"the team still needs it\""
)]
pub struct UnretireArgs {
    app: String,
    /// Why: kept in the version's history and the audit log.
    #[arg(long)]
    reason: String,
    #[arg(long, env = "WARDEN_SERVER", default_value = super::DEFAULT_SERVER)]
    server: String,
}

pub fn retire(args: RetireArgs) -> Outcome {
    lifecycle(&args.server, &args.app, "retire", &args.reason)
}

pub fn unretire(args: UnretireArgs) -> Outcome {
    lifecycle(&args.server, &args.app, "unretire", &args.reason)
}

fn lifecycle(server: &str, app: &str, verb: &str, reason: &str) -> Outcome {
    super::client::report(super::client::call(
        server,
        "POST",
        &format!("/v1/apps/{app}/{verb}"),
        Some(serde_json::json!({ "reason": reason })),
    ))
}
