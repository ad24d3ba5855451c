//! `warden kill` / `warden unkill`: the operator's stop switch.

use super::{ConfigArgs, EXIT_CONFIG, actor};
use clap::Args;
use std::process::ExitCode;

/// Stop an app at once: new requests are refused (503), running ones are
/// trapped within one epoch tick, its credentials are withheld. Persists
/// until `warden unkill`; audited.
#[derive(Args)]
#[command(after_help = "Examples:
  warden kill expense-dashboard --reason \"exfiltrating customer emails\"
  warden unkill expense-dashboard

A host serving from the same data directory picks the change up within
~200 ms.")]
pub struct KillArgs {
    app: String,
    /// Why: recorded in the audit log.
    #[arg(long)]
    reason: String,
    /// Kill through a running host's admin API (token from WARDEN_TOKEN)
    /// instead of writing the local data directory.
    #[arg(long, env = "WARDEN_SERVER")]
    server: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

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

pub fn kill(args: KillArgs) -> ExitCode {
    if let Some(server) = &args.server {
        let body = serde_json::json!({ "reason": args.reason });
        return super::client::report(super::client::call(
            server,
            "POST",
            &format!("/v1/apps/{}/kill", args.app),
            Some(body),
        ));
    }
    let runtime = match args.config.runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.kill(&args.app, &args.reason, &actor()) {
        Ok(()) => {
            println!("killed `{}`: {}", args.app, args.reason);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("warden: could not record the kill: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

pub fn unkill(args: UnkillArgs) -> ExitCode {
    if let Some(server) = &args.server {
        return super::client::report(super::client::call(
            server,
            "POST",
            &format!("/v1/apps/{}/unkill", args.app),
            None,
        ));
    }
    let runtime = match args.config.runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.unkill(&args.app, &actor()) {
        Ok(true) => {
            println!("`{}` may run again", args.app);
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("`{}` was not killed", args.app);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("warden: could not record the unkill: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
