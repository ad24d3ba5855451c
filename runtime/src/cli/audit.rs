//! `warden audit verify|show`.

use super::exit::{Outcome, fail, quiet};
use super::{ConfigArgs, EXIT_CONFIG};
use clap::Subcommand;
use std::sync::Arc;
use warden_runtime::audit::AuditBackend;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain; report the first entry that was
    /// edited, deleted or reordered.
    #[command(
        after_help = "Examples:\n  warden audit verify\n  warden audit verify --config warden.toml --json\n\nExit status: 0 intact, 1 tampered, 3 configuration error."
    )]
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Verify through a running host's admin API (admin or auditor
        /// token in WARDEN_TOKEN).
        #[arg(long, env = "WARDEN_SERVER")]
        server: Option<String>,
    },
    /// Show the audit log's entries: a table, or JSON lines with --json
    /// (for export).
    #[command(
        after_help = "Examples:\n  warden audit show --app report-formatter\n  warden audit show --json > audit-export.jsonl\n  WARDEN_TOKEN=$AUDITOR warden audit show --server https://warden.internal:8081 --limit 500"
    )]
    Show {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only entries about this app.
        #[arg(long)]
        app: Option<String>,
        /// One JSON object per entry instead of a table.
        #[arg(long)]
        json: bool,
        /// The newest this many (over the admin API, at most 10000).
        #[arg(long)]
        limit: Option<usize>,
        /// Read through a running host's admin API (admin or auditor token
        /// in WARDEN_TOKEN).
        #[arg(long, env = "WARDEN_SERVER")]
        server: Option<String>,
    },
}

/// The columns of `audit show`.
const COLUMNS: [super::table::Column<'static>; 5] = [
    ("SEQ", "seq"),
    ("TIME", "time"),
    ("KIND", "kind"),
    ("APP", "app"),
    ("ACTOR", "actor"),
];

/// Prints a verify report (from the file or the server) and its exit code.
fn print_verify(report: &serde_json::Value, source: &str, json: bool) -> Outcome {
    let intact = report["problem"].is_null();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else if intact {
        println!(
            "ok: {} entries, hash chain intact ({source})",
            report["entries"]
        );
    } else {
        println!(
            "TAMPERED: {source} line {}: {}\n({} entries before it verify)",
            report["problem"]["line"],
            report["problem"]["reason"].as_str().unwrap_or("?"),
            report["entries"]
        );
    }
    if intact { Ok(()) } else { Err(quiet(1)) }
}

fn open(config: &ConfigArgs) -> anyhow::Result<Arc<dyn AuditBackend>> {
    let platform = config.load()?;
    let dir = super::data_dir_to_read(&platform)?;
    warden_runtime::audit::open_for(&platform, &dir, None)
}

pub fn run(cmd: AuditCommand) -> Outcome {
    match cmd {
        AuditCommand::Verify {
            config,
            json,
            server,
        } => {
            if let Some(server) = super::remote(&server, &config, false) {
                return match super::client::call(&server, "GET", "/v1/audit/verify", None) {
                    Ok((200, report)) => print_verify(&report, &server, json),
                    other => super::client::report(other),
                };
            }
            let log = open(&config)?;
            match log.read_blocking().map(|(_, report)| report) {
                Ok(report) => print_verify(
                    &serde_json::to_value(&report).unwrap_or_default(),
                    &log.location(),
                    json,
                ),
                Err(e) => Err(fail(EXIT_CONFIG, format!("cannot read the audit log: {e}"))),
            }
        }
        AuditCommand::Show {
            config,
            app,
            json,
            limit,
            server,
        } => {
            let remote = super::remote(&server, &config, false);
            let remote_cap = remote.as_ref().map(|_| limit.unwrap_or(10_000).min(10_000));
            let entries: Vec<serde_json::Value> = match remote {
                Some(server) => {
                    let mut path = format!("/v1/audit?limit={}", limit.unwrap_or(10_000));
                    if let Some(app) = &app {
                        path += &format!("&app={app}");
                    }
                    super::lists::fetch(&server, &path, "entries")?
                }
                None => {
                    let log = open(&config)?;
                    match log.read_blocking().map(|(entries, _)| entries) {
                        Ok(entries) => {
                            let mut chosen: Vec<serde_json::Value> = entries
                                .iter()
                                .filter(|e| app.is_none() || e.app.as_deref() == app.as_deref())
                                .map(|e| serde_json::to_value(e).unwrap_or_default())
                                .collect();
                            if let Some(n) = limit {
                                chosen.drain(..chosen.len().saturating_sub(n));
                            }
                            chosen
                        }
                        Err(e) => {
                            return Err(fail(
                                EXIT_CONFIG,
                                format!("cannot read the audit log: {e}"),
                            ));
                        }
                    }
                }
            };
            print!("{}", super::table::render(&entries, &COLUMNS, json));
            if remote_cap.is_some_and(|cap| entries.len() >= cap) {
                eprintln!(
                    "warden: showing the newest {} entries, the most the admin API returns; export the whole log on the host (without --server)",
                    entries.len()
                );
            }
            Ok(())
        }
    }
}
