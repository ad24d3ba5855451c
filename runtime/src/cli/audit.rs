//! `warden audit verify|show`.

use super::{ConfigArgs, EXIT_CONFIG};
use clap::Subcommand;
use std::process::ExitCode;
use warden_runtime::audit::AuditLog;

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
    },
    /// Print the audit log's entries as JSON lines (for export or review).
    #[command(
        after_help = "Examples:\n  warden audit show > audit-export.jsonl\n  warden audit show --app report-formatter"
    )]
    Show {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only entries about this app.
        #[arg(long)]
        app: Option<String>,
    },
}

fn open(config: &ConfigArgs) -> Result<AuditLog, ExitCode> {
    let platform = config.load()?;
    let dir = super::data_dir_to_read(&platform)?;
    Ok(AuditLog::new(dir.join("audit.jsonl")))
}

pub fn run(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Verify { config, json } => {
            let log = match open(&config) {
                Ok(log) => log,
                Err(code) => return code,
            };
            let report = match log.verify() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("warden: cannot read {}: {e}", log.path().display());
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else if let Some(p) = &report.problem {
                println!(
                    "TAMPERED: {} line {}: {}\n({} entries before it verify)",
                    log.path().display(),
                    p.line,
                    p.reason,
                    report.entries
                );
            } else {
                println!(
                    "ok: {} entries, hash chain intact ({})",
                    report.entries,
                    log.path().display()
                );
            }
            if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        AuditCommand::Show { config, app } => {
            let log = match open(&config) {
                Ok(log) => log,
                Err(code) => return code,
            };
            match log.entries() {
                Ok(entries) => {
                    for entry in entries
                        .iter()
                        .filter(|e| app.is_none() || e.app.as_deref() == app.as_deref())
                    {
                        println!("{}", serde_json::to_string(entry).unwrap_or_default());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("warden: cannot read {}: {e}", log.path().display());
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
    }
}
