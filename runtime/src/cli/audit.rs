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
        after_help = "Examples:\n  warden audit verify\n  warden audit verify --config warden.toml --json\n  warden audit verify --keys audit-keys.json   # without the master key\n\nChecks the hash chain (an edited, dropped or reordered entry) and the signed\ncheckpoints (a chain rewritten with recomputed hashes; entries left unsigned\nlonger than audit.checkpoint_interval allows, as a cut tail leaves them).\n\nExit status: 0 intact, 1 chain broken, 4 checkpoint does not verify (rewritten),\n5 tail cut (the last checkpoint signed is missing, or entries waited unsigned\nlonger than the interval allows), 3 configuration error or checkpoints that\ncould not be checked (no master key and no --keys)."
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
        /// The checkpoint keys to trust, as `warden audit keys --json`
        /// printed them (default: the keys in the secret store, which
        /// needs the master key).
        #[arg(long, value_name = "keys.json")]
        keys: Option<std::path::PathBuf>,
    },
    /// List the keys audit checkpoints are signed with, each with its
    /// validity window (the current one has no end).
    #[command(
        after_help = "Examples:\n  warden audit keys\n  warden audit keys --json > audit-keys.json   # for `audit verify --keys` elsewhere\n  WARDEN_TOKEN=$AUDITOR warden audit keys --server https://warden.internal:8081"
    )]
    Keys {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print the keys as JSON (each with its public_key_pem): the file
        /// `audit verify --keys` reads.
        #[arg(long)]
        json: bool,
        /// Ask a running host's admin API (auditor or admin token in
        /// WARDEN_TOKEN).
        #[arg(long, env = "WARDEN_SERVER")]
        server: Option<String>,
    },
    /// Replace the checkpoint key: checkpoints signed before keep
    /// verifying with the old key, whose window closes now. Audited, and
    /// sealed at once by a checkpoint signed with the new key.
    #[command(after_help = "Example:\n  warden audit rotate-key --config /etc/warden/warden.toml")]
    RotateKey {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Sign a checkpoint of the chain now (a serving host signs them by
    /// itself: at start, every audit.checkpoint_interval, at shutdown).
    #[command(after_help = "Example:\n  warden audit checkpoint --config /etc/warden/warden.toml")]
    Checkpoint {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Write one app's audit export: a tar archive with every version's
    /// manifest and digests, attestations, approval history, the app's
    /// audit entries with the checkpoints that prove them, kill and
    /// containment events, usage by day, recent traces, and a signed
    /// MANIFEST.json and an index.html.
    #[command(
        after_help = "Examples:\n  warden audit export expense-bot --out expense-bot-audit.tar\n  warden audit export expense-bot --since 2026-03-01 --out march-on.tar\n  WARDEN_TOKEN=$AUDITOR warden audit export expense-bot --out x.tar --server https://warden.internal:8081\n\nA checkpoint is signed first, so every entry up to now is covered; --since and\n--until (a date or RFC 3339 time) are widened to whole checkpoint intervals.\nCheck it anywhere with `warden audit verify-export FILE --key KEY` (the key from\n`warden audit keys`)."
    )]
    Export {
        app: String,
        /// Entries from this date or time (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Entries up to this date or time.
        #[arg(long)]
        until: Option<String>,
        /// Where to write the archive.
        #[arg(long, value_name = "FILE.tar")]
        out: std::path::PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// Export through a running host's admin API (auditor or admin
        /// token in WARDEN_TOKEN).
        #[arg(long, env = "WARDEN_SERVER")]
        server: Option<String>,
    },
    /// Check an audit export on any machine, without the data directory:
    /// every file against the signed manifest, the app's entries against
    /// the checkpoints that signed them.
    #[command(
        after_help = "Examples:\n  warden audit verify-export expense-bot-audit.tar --key audit-key.pem\n  warden audit verify-export expense-bot-audit.tar   # the key from the archive itself\n\n--key pins the signing key (PEM, or the raw key in base64 or hex: `warden audit\nkeys --json` shows it); without it the archive is checked whole against its own\nkeys, which does not prove who made it.\n\nExit status: 0 sound, 1 changed or incomplete, 3 unreadable."
    )]
    VerifyExport {
        file: std::path::PathBuf,
        /// The public key the export must be signed with: a file (PEM, or
        /// the raw key in base64 or hex), or the key itself.
        #[arg(long, value_name = "PUBKEY")]
        key: Option<std::path::PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
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

/// `n` and `noun`, made plural when `n` is not 1 (`entry` → `entries`).
fn plural(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

/// Exit status of `audit verify` for a chain that breaks (an edited,
/// dropped or reordered entry).
const EXIT_TAMPERED: u8 = 1;
/// Exit status for a checkpoint that does not verify (the chain rewritten
/// with recomputed hashes, a checkpoint dropped or forged).
const EXIT_REWRITTEN: u8 = 4;
/// Exit status for entries left unsigned longer than the checkpoint
/// interval allows (a tail cut after the last checkpoint).
const EXIT_TAIL_CUT: u8 = 5;

/// Prints a verify report (from the file or the server) and its exit code.
fn print_verify(report: &serde_json::Value, source: &str, json: bool) -> Outcome {
    let checkpoints = &report["checkpoints"];
    let code = if !report["problem"].is_null() {
        Some(EXIT_TAMPERED)
    } else if checkpoints["checked"] == false {
        // Checkpoints there, but nothing to check them with: not "ok".
        Some(EXIT_CONFIG)
    } else {
        match checkpoints["problem"]["kind"].as_str() {
            Some("rewritten") => Some(EXIT_REWRITTEN),
            Some("tail_cut") => Some(EXIT_TAIL_CUT),
            _ => None,
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else if !report["problem"].is_null() {
        println!(
            "TAMPERED: {source} line {}: {}\n({} entries before it verify)",
            report["problem"]["line"],
            report["problem"]["reason"].as_str().unwrap_or("?"),
            report["entries"]
        );
    } else if let Some(kind) = checkpoints["problem"]["kind"].as_str() {
        let what = if kind == "rewritten" {
            format!(
                "REWRITTEN: {source}: the checkpoint at entry {} does not verify: {}",
                checkpoints["problem"]["seq"],
                checkpoints["problem"]["reason"].as_str().unwrap_or("?")
            )
        } else {
            format!(
                "TAIL CUT: {source}: {}",
                checkpoints["problem"]["reason"].as_str().unwrap_or("?")
            )
        };
        println!(
            "{what}\n(the hash chain itself is intact: {} entries)",
            report["entries"]
        );
    } else if checkpoints["checked"] == false {
        println!(
            "NOT CHECKED: {source}: the hash chain is intact ({} entries), but its signed checkpoints could not be checked: {}",
            report["entries"],
            checkpoints["why"].as_str().unwrap_or("?")
        );
    } else {
        let signed = match checkpoints["checkpoints"].as_u64() {
            Some(0) | None => "; no checkpoint yet".to_string(),
            Some(n) => format!(
                "; {} verify, {} since the last",
                plural(n, "signed checkpoint"),
                plural(checkpoints["unsigned"].as_u64().unwrap_or(0), "entry")
            ),
        };
        println!(
            "ok: {} entries, hash chain intact{signed} ({source})",
            report["entries"]
        );
    }
    match code {
        None => Ok(()),
        Some(code) => Err(quiet(code)),
    }
}

/// The checkpoint keys in `file` (as `warden audit keys --json` prints
/// them).
fn read_keys(
    file: &std::path::Path,
) -> Result<Vec<warden_runtime::audit::keys::PublicKeyInfo>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a list of checkpoint keys ({e})\n  fix: write it with `warden audit keys --json`",
            file.display()
        )
    })
}

/// The secret store of `config`'s data directory (the master key's
/// place), for the checkpoint keys.
fn secrets(
    config: &ConfigArgs,
) -> anyhow::Result<(
    warden_runtime::config::PlatformConfig,
    std::path::PathBuf,
    warden_host_apis::secrets::SecretStore,
)> {
    let platform = config.load()?;
    let dir = super::data_dir_to_read(&platform)?;
    let secrets = warden_runtime::runtime::open_secrets(&platform, &dir)
        .map_err(|e| fail(EXIT_CONFIG, format!("{e:#}")))?;
    Ok((platform, dir, secrets))
}

/// The log a command signs and the signers' turn it signs in (on shared
/// state, among the nodes too).
fn signing(
    platform: &warden_runtime::config::PlatformConfig,
    dir: &std::path::Path,
) -> anyhow::Result<(
    std::sync::Arc<dyn warden_runtime::audit::AuditBackend>,
    warden_runtime::audit::checkpoint::Turn,
)> {
    let pg = warden_runtime::state::postgres::shared(platform)?;
    let log = warden_runtime::audit::open_for(platform, dir, pg.as_ref())?;
    Ok((log, warden_runtime::audit::checkpoint::Turn::new(dir, pg)))
}

/// A `--since`/`--until` value.
fn instant(flag: &str, value: &str) -> Result<std::time::SystemTime, anyhow::Error> {
    warden_runtime::audit::export::parse_instant(value)
        .map_err(|e| fail(super::EXIT_USAGE, format!("--{flag} {e}")))
}

fn export(
    app: &str,
    since: Option<String>,
    until: Option<String>,
    out: &std::path::Path,
    config: &ConfigArgs,
    server: Option<String>,
) -> Outcome {
    let since_at = since.as_deref().map(|v| instant("since", v)).transpose()?;
    let until_at = until.as_deref().map(|v| instant("until", v)).transpose()?;
    if let (Some(s), Some(u)) = (since_at, until_at)
        && s > u
    {
        return Err(fail(
            super::EXIT_USAGE,
            "--since is after --until: nothing lies between\n  fix: swap them",
        ));
    }
    let bytes = match super::remote(&server, config, false) {
        Some(server) => {
            let mut query = Vec::new();
            for (name, value) in [("since", &since), ("until", &until)] {
                if let Some(v) = value {
                    query.push(format!(
                        "{name}={}",
                        url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                    ));
                }
            }
            let path = format!("/v1/apps/{app}/export?{}", query.join("&"));
            super::client::download(&server, &path)?
        }
        None => {
            // Never a new, empty data directory made by a typo.
            super::data_dir_to_read(&config.load()?)?;
            let runtime = config.runtime()?;
            warden_runtime::audit::export::build(&runtime, app, since_at, until_at)
                .map_err(|e| fail(1, e))?
        }
    };
    std::fs::write(out, &bytes)
        .map_err(|e| fail(1, format!("cannot write {}: {e}", out.display())))?;
    println!(
        "wrote {} ({} bytes): check it with `warden audit verify-export {} --key KEY.pem` (the key's public_key_pem from `warden audit keys --json`)",
        out.display(),
        bytes.len(),
        out.display()
    );
    Ok(())
}

fn verify_export(file: &std::path::Path, key: Option<std::path::PathBuf>, json: bool) -> Outcome {
    let archive = std::fs::read(file)
        .map_err(|e| fail(EXIT_CONFIG, format!("cannot read {}: {e}", file.display())))?;
    let key = match key {
        // A file (PEM, base64 or hex), or the key itself on the line.
        Some(given) => {
            let text = match std::fs::read_to_string(&given) {
                Ok(text) => text,
                Err(_)
                    if warden_runtime::attest::parse_public_key(&given.to_string_lossy())
                        .is_ok() =>
                {
                    given.to_string_lossy().into_owned()
                }
                Err(e) => {
                    return Err(fail(
                        EXIT_CONFIG,
                        format!(
                            "--key {}: cannot read it ({e}), and it is not a key itself",
                            given.display()
                        ),
                    ));
                }
            };
            Some(
                warden_runtime::attest::parse_public_key(&text)
                    .map_err(|e| fail(EXIT_CONFIG, format!("--key {}: {e}", given.display())))?,
            )
        }
        None => None,
    };
    match warden_runtime::audit::export_verify::verify_export(&archive, key.as_deref()) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                println!(
                    "ok: {} — {} as signed by key {}{}; {} proved by {}",
                    report.app,
                    plural(report.files as u64, "file"),
                    report.keyid,
                    if report.key_pinned {
                        ""
                    } else {
                        " (taken from the archive: pin it with --key to know who signed)"
                    },
                    plural(report.entries, "audit entry"),
                    plural(report.checkpoints as u64, "checkpoint")
                );
            }
            Ok(())
        }
        Err(problem) => {
            if json {
                println!("{}", serde_json::json!({ "problem": problem.to_string() }));
            } else {
                println!("NOT SOUND: {}: {problem}", file.display());
            }
            // Not an export at all is "unreadable" (3); anything else, 1.
            let code = match problem {
                warden_runtime::audit::export_verify::ExportProblem::Format(_) => EXIT_CONFIG,
                _ => 1,
            };
            Err(quiet(code))
        }
    }
}

/// Prints the checkpoint keys.
fn print_keys(keys: &serde_json::Value, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(keys).unwrap_or_default());
        return;
    }
    let rows: Vec<serde_json::Value> = keys
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut k| {
            if k["valid_until"].is_null() {
                k["valid_until"] = serde_json::json!("(current)");
            }
            k
        })
        .collect();
    print!(
        "{}",
        super::table::render(
            &rows,
            &[
                ("KEYID", "keyid"),
                ("VALID FROM", "valid_from"),
                ("VALID UNTIL", "valid_until")
            ],
            false
        )
    );
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
            keys,
        } => {
            if let Some(server) = super::remote(&server, &config, false) {
                return match super::client::call(&server, "GET", "/v1/audit/verify", None) {
                    Ok((200, report)) => print_verify(&report, &server, json),
                    other => super::client::report(other),
                };
            }
            let platform = config.load()?;
            let dir = super::data_dir_to_read(&platform)?;
            let log = warden_runtime::audit::open_for(&platform, &dir, None)?;
            // The mark before the log, the keys after it (see
            // `full_report`). Given keys are trusted as given; the last
            // checkpoint signed is known only where the master key is
            // (used when it is).
            use warden_runtime::audit::keys as checkpoint_keys;
            let fix = |e: String| {
                format!(
                    "{e}\n  fix: run where the master key is, or give the keys with --keys (from `warden audit keys --json`)"
                )
            };
            let secrets = warden_runtime::runtime::open_secrets(&platform, &dir)
                .map_err(|e| format!("{e:#}"));
            let mark = match (&keys, &secrets) {
                (Some(_), Ok(s)) => Ok(checkpoint_keys::mark(s).ok().flatten()),
                (Some(_), Err(_)) => Ok(None),
                (None, Ok(s)) => checkpoint_keys::mark(s).map_err(|e| fix(e.to_string())),
                (None, Err(e)) => Err(fix(e.clone())),
            };
            let (entries, chain) = log
                .read_blocking()
                .map_err(|e| fail(EXIT_CONFIG, format!("cannot read the audit log: {e}")))?;
            let keys = || match (&keys, &secrets) {
                (Some(file), _) => read_keys(file),
                (None, Ok(s)) => checkpoint_keys::keys(s).map_err(|e| fix(e.to_string())),
                (None, Err(e)) => Err(fix(e.clone())),
            };
            let report = warden_runtime::audit::checkpoint::full_report(
                &entries,
                &chain,
                mark,
                keys,
                platform.audit.checkpoint_interval.get(),
            );
            print_verify(&report, &log.location(), json)
        }
        AuditCommand::Keys {
            config,
            json,
            server,
        } => {
            if let Some(server) = super::remote(&server, &config, false) {
                return match super::client::call(&server, "GET", "/v1/audit/keys", None) {
                    Ok((200, body)) => {
                        print_keys(&body["keys"], json);
                        Ok(())
                    }
                    other => super::client::report(other),
                };
            }
            let (_, _, secrets) = secrets(&config)?;
            let keys = warden_runtime::audit::keys::keys(&secrets).map_err(|e| fail(1, e))?;
            print_keys(&serde_json::to_value(&keys).unwrap_or_default(), json);
            Ok(())
        }
        AuditCommand::Export {
            app,
            since,
            until,
            out,
            config,
            server,
        } => export(&app, since, until, &out, &config, server),
        AuditCommand::VerifyExport { file, key, json } => verify_export(&file, key, json),
        AuditCommand::RotateKey { config } => {
            let (platform, dir, secrets) = secrets(&config)?;
            let (log, turn) = signing(&platform, &dir)?;
            let (old, new) =
                warden_runtime::audit::keys::rotate(&secrets).map_err(|e| fail(1, e))?;
            log.append_blocking(warden_runtime::audit::AuditEvent {
                kind: warden_runtime::audit::AuditKind::AuditKeyRotated,
                app: None,
                actor: super::actor(),
                details: serde_json::json!({
                    "old_keyid": old,
                    "new_keyid": new.keyid,
                    "public_key_pem": new.public_key_pem,
                }),
            })
            .map_err(|e| fail(1, format!("the key was rotated but not audited: {e}")))?;
            warden_runtime::audit::checkpoint::sign_in_turn(
                log.as_ref(),
                &secrets,
                "key-rotated",
                &turn,
            )
            .map_err(|e| fail(1, format!("the rotation was not checkpointed: {e}")))?;
            println!(
                "rotated: checkpoints are signed with key {} from now on{}",
                new.keyid,
                old.map(|o| format!(" (key {o} keeps verifying the ones before)"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        AuditCommand::Checkpoint { config } => {
            let (platform, dir, secrets) = secrets(&config)?;
            let (log, turn) = signing(&platform, &dir)?;
            let signed = warden_runtime::audit::checkpoint::sign_in_turn(
                log.as_ref(),
                &secrets,
                "manual",
                &turn,
            );
            match signed {
                Ok(Some(entry)) => {
                    let cp = warden_runtime::audit::checkpoint::Checkpoint::of(&entry);
                    println!(
                        "checkpoint signed: entry {} seals entries up to {} with key {}",
                        entry.seq,
                        cp.as_ref().map_or(0, |c| c.seq),
                        cp.map(|c| c.keyid).unwrap_or_default()
                    );
                }
                Ok(None) => println!("nothing to sign: the last entry is a checkpoint"),
                Err(e) => return Err(fail(1, format!("no checkpoint signed: {e}"))),
            }
            Ok(())
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
