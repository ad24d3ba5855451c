//! `warden drill APP`: an incident drill on a running host — the kill
//! switch pulled, each check reported, the app put back (admin role).

use super::client;
use super::exit::{Outcome, fail};
use clap::Args;

/// Test the kill switch of a live app on a running host: kill it, check
/// that requests and connector calls are refused and no credential is
/// released, put it back, and audit the drill with its results (admin).
#[derive(Args)]
#[command(after_help = "Example:
  WARDEN_TOKEN=$ADMIN warden drill expense-dashboard

The app is unavailable for the drill's duration (well under a second). An app
killed already is not drilled. Exit status: 0 every check passed, 1 a check
failed (the report says which), 3 the drill could not run.")]
pub struct DrillArgs {
    app: String,
    /// The report as JSON instead of lines.
    #[arg(long)]
    json: bool,
    #[arg(long, env = "WARDEN_SERVER", default_value = super::DEFAULT_SERVER)]
    server: String,
}

pub fn drill(args: DrillArgs) -> Outcome {
    let path = format!("/v1/apps/{}/drill", args.app);
    let report = match client::call(&args.server, "POST", &path, None) {
        Ok((200, report)) => report,
        other => return client::report(other),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!(
            "drill of {} {} ({} ms):",
            args.app,
            report["version"].as_str().unwrap_or("?"),
            report["duration_ms"]
        );
        for c in report["checks"].as_array().cloned().unwrap_or_default() {
            println!(
                "  {:7}  {}: {}",
                c["result"].as_str().unwrap_or("?"),
                c["check"].as_str().unwrap_or("?"),
                c["detail"].as_str().unwrap_or("")
            );
        }
    }
    if report["passed"] == true {
        Ok(())
    } else {
        Err(fail(
            1,
            "the drill found a check that failed (above); the kill switch may not stop this app",
        ))
    }
}
