//! `warden storage purge|delete-app`.

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG, actor};
use clap::Subcommand;
use serde_json::json;
use warden_runtime::audit::AuditEvent;
use warden_runtime::wait::Wait as _;

#[derive(Subcommand)]
pub enum StorageCommand {
    /// Delete every expired value now (warden serve also does this on
    /// `storage.purge_interval`).
    #[command(after_help = "Example:\n  warden storage purge --json")]
    Purge {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Delete all of an app's stored data and destroy its data key, so no
    /// copy of its encrypted values (backups included) can be opened again.
    #[command(after_help = "Example:\n  warden storage delete-app expense-dashboard --yes")]
    DeleteApp {
        app: String,
        /// Confirm: this cannot be undone.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn run(cmd: StorageCommand) -> Outcome {
    match cmd {
        StorageCommand::Purge { json, config } => {
            let runtime = config.runtime()?;
            match runtime.purge_expired() {
                Ok(report) if json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report).unwrap_or_default()
                    );
                    Ok(())
                }
                Ok(report) => {
                    println!(
                        "purged {} expired values in {} µs",
                        report.purged, report.duration_us
                    );
                    Ok(())
                }
                Err(e) => Err(fail(EXIT_CONFIG, format!("purge failed: {e}"))),
            }
        }
        StorageCommand::DeleteApp { app, yes, config } => {
            if !yes {
                return Err(fail(
                    super::EXIT_USAGE,
                    format!(
                        "this deletes every value of `{app}` and its key for good; pass --yes to confirm"
                    ),
                ));
            }
            let runtime = config.runtime()?;
            match runtime.storage().delete_app(&app).wait() {
                Ok(n) => {
                    let event = AuditEvent {
                        kind: warden_runtime::audit::AuditKind::StorageAppDeleted,
                        app: Some(app.clone()),
                        actor: actor(),
                        details: json!({ "values_deleted": n, "data_key": "destroyed" }),
                    };
                    if let Err(e) = runtime.audit().append_blocking(event) {
                        return Err(fail(
                            EXIT_CONFIG,
                            format!("data deleted but the audit log could not be written: {e}"),
                        ));
                    }
                    println!("deleted {n} values of `{app}` and destroyed its data key");
                    Ok(())
                }
                Err(e) => Err(fail(EXIT_CONFIG, e)),
            }
        }
    }
}
