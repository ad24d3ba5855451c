//! `warden secrets set|rotate|list`: manage connector credentials.
//!
//! Values are read from standard input (or a file), never from the command
//! line, where other users could read them in the process list. Nothing
//! here ever prints a value.

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG, actor};
use clap::Subcommand;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use warden_runtime::audit::AuditEvent;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Create or replace a secret; the value is read from stdin.
    #[command(
        after_help = "Examples:\n  printf '%s' \"$CRM_TOKEN\" | warden secrets set crm-token\n  warden secrets set erp-client --from-file /run/keys/erp-client"
    )]
    Set {
        name: String,
        /// Read the value from this file instead of stdin.
        #[arg(long, value_name = "PATH")]
        from_file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Replace an existing secret's value (fails if it does not exist).
    #[command(
        after_help = "Example:\n  printf '%s' \"$NEW_TOKEN\" | warden secrets rotate crm-token"
    )]
    Rotate {
        name: String,
        #[arg(long, value_name = "PATH")]
        from_file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List secret names, versions and rotation times (never values).
    #[command(
        after_help = "Examples:\n  warden secrets list\n  warden secrets list --json\n  WARDEN_TOKEN=$ADMIN warden secrets list --server http://127.0.0.1:8081"
    )]
    List(super::lists::ListArgs),
}

fn read_value(from_file: &Option<PathBuf>) -> Result<Vec<u8>, String> {
    let mut value = match from_file {
        Some(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            buf
        }
    };
    while value.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        value.pop();
    }
    if value.is_empty() {
        return Err("the value is empty; pipe it on stdin or pass --from-file".into());
    }
    Ok(value)
}

/// The columns of `secrets list`.
const COLUMNS: [super::table::Column<'static>; 4] = [
    ("NAME", "name"),
    ("VERSION", "version"),
    ("CREATED", "created"),
    ("ROTATED", "rotated"),
];

pub fn run(cmd: SecretsCommand) -> Outcome {
    if let SecretsCommand::List(list) = &cmd
        && let Some(server) = super::remote(&list.server, &list.config, false)
    {
        let rows = super::lists::fetch(&server, "/v1/secrets", "secrets")?;
        print!("{}", super::table::render(&rows, &COLUMNS, list.json));
        return Ok(());
    }
    let config = match &cmd {
        SecretsCommand::Set { config, .. } | SecretsCommand::Rotate { config, .. } => config,
        SecretsCommand::List(list) => &list.config,
    };
    let platform = config.load()?;
    // Listing reads: an empty or unrelated directory is named, not given
    // a new master key.
    let data_dir = if matches!(cmd, SecretsCommand::List(_)) {
        super::data_dir_to_read(&platform)?
    } else {
        platform.data_dir()
    };
    let store = match warden_runtime::runtime::open_secrets(&platform, &data_dir) {
        Ok(s) => s,
        Err(e) => {
            return Err(fail(EXIT_CONFIG, format!("{e:#}")));
        }
    };
    let result = match &cmd {
        SecretsCommand::List(list) => {
            return match store.list() {
                Ok(secrets) => {
                    let rows: Vec<serde_json::Value> = secrets
                        .iter()
                        .map(|s| serde_json::to_value(s).unwrap_or_default())
                        .collect();
                    print!("{}", super::table::render(&rows, &COLUMNS, list.json));
                    Ok(())
                }
                Err(e) => Err(fail(EXIT_CONFIG, e)),
            };
        }
        SecretsCommand::Set {
            name, from_file, ..
        } => read_value(from_file).and_then(|v| store.set(name, &v).map_err(|e| e.to_string())),
        SecretsCommand::Rotate {
            name, from_file, ..
        } => read_value(from_file).and_then(|v| store.rotate(name, &v).map_err(|e| e.to_string())),
    };
    match result {
        Ok(info) => {
            let audit = warden_runtime::audit::open_for(&platform, &data_dir, None)
                .map_err(|e| fail(EXIT_CONFIG, format!("{e:#}")))?;
            // As the admin API does: a new version of a secret is a rotation.
            let kind = if info.version > 1 {
                warden_runtime::audit::AuditKind::SecretRotated
            } else {
                warden_runtime::audit::AuditKind::SecretSet
            };
            let event = AuditEvent {
                kind,
                app: None,
                actor: actor(),
                details: json!({ "secret": info.name, "version": info.version }),
            };
            if let Err(e) = audit.append_blocking(event) {
                return Err(fail(
                    EXIT_CONFIG,
                    format!("the secret was stored but the audit log could not be written: {e}"),
                ));
            }
            println!(
                "{} `{}` (version {})",
                if info.version > 1 {
                    "rotated"
                } else {
                    "stored"
                },
                info.name,
                info.version
            );
            Ok(())
        }
        Err(message) => Err(fail(EXIT_CONFIG, message)),
    }
}
