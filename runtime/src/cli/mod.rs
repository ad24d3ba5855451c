//! Command-line parsing and dispatch. Each verb lives in its own file.

mod attest;
mod audit;
mod build;
mod client;
mod costs;
mod deploy;
mod drill;
mod exit;
mod kill;
mod lists;
mod migrate;
mod new;
mod observe;
mod policy;
mod review;
mod run;
mod secrets;
mod serve;
mod state;
mod storage;
mod table;
mod tokens;
mod traces;

use clap::{Parser, Subcommand};
use exit::{Outcome, fail, quiet};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for a command line that cannot run as given (a missing
/// `--yes`, an unreadable `--input-file`).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a configuration or manifest error.
pub const EXIT_CONFIG: u8 = 3;
/// The process could not start a part of itself (a thread, the runtime).
pub const EXIT_INTERNAL: u8 = 17;

/// What only a data directory Warden has used holds.
const DATA_MARKERS: [&str; 11] = [
    "audit.jsonl",
    "registry.db",
    "usage.db",
    "traces.db",
    "killed.json",
    "tokens.db",
    "tokens.json",
    "secrets.json",
    "storage.db",
    "master.key",
    "components",
];

/// The data directory of `platform` for a command that reads it: an
/// error that says so when it does not exist, or exists but holds nothing
/// of Warden's (the wrong `WARDEN_DATA_DIR` or `--config`), instead of an
/// empty answer that looks like "nothing happened".
pub fn data_dir_to_read(
    platform: &warden_runtime::config::PlatformConfig,
) -> anyhow::Result<std::path::PathBuf> {
    let dir = platform.data_dir();
    let problem = if !dir.is_dir() {
        Some("does not exist")
    } else if !DATA_MARKERS.iter().any(|m| dir.join(m).exists()) {
        Some("holds no Warden data")
    } else {
        None
    };
    match problem {
        None => Ok(dir),
        Some(problem) => Err(fail(
            EXIT_CONFIG,
            format!(
                "the data directory {} {problem}: no host has run with it\n  fix: point at your host's data with --config (its warden.toml) or WARDEN_DATA_DIR, or use --server where the command has it",
                dir.display()
            ),
        )),
    }
}

/// Refuses a local change (`what`: a kill, a token) that the hosts on this
/// data directory would never see: they keep that state in a shared
/// database, and this command's settings name none (or another).
pub(crate) fn same_state(
    runtime: &warden_runtime::Runtime,
    hosts: &[warden_runtime::presence::HostInfo],
    what: &str,
) -> Result<(), anyhow::Error> {
    let here = runtime.shared().map(|pg| pg.location().to_string());
    match hosts.iter().find(|h| h.shared_state != here) {
        Some(host) => Err(fail(
            EXIT_CONFIG,
            format!(
                "the host serving this data directory (pid {}) keeps its state in {}, but this {what} would be written to {}; nothing was recorded\n  fix: pass --config with that host's warden.toml, or go through its admin API with --server",
                host.pid,
                host.shared_state.as_deref().unwrap_or("the data directory"),
                here.as_deref().unwrap_or("the data directory")
            ),
        )),
        None => Ok(()),
    }
}

/// The admin API's default address (`serve.admin_listen`).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8081";

/// Whether a command that works locally or remotely goes to a running
/// host's admin API, and where: `--server` (or `WARDEN_SERVER`), or — when
/// only a token is in the environment and neither `--config` nor
/// `--offline` points at a local data directory — the default address.
pub fn remote(server: &Option<String>, config: &ConfigArgs, offline: bool) -> Option<String> {
    let token = std::env::var("WARDEN_TOKEN").is_ok_and(|t| !t.trim().is_empty());
    server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| (token && config.config.is_none() && !offline).then(|| DEFAULT_SERVER.into()))
}

#[derive(Parser)]
#[command(
    name = "warden",
    version,
    about = "Run micro apps as governed WebAssembly components",
    long_about = "Warden runs micro apps - small internal tools compiled to WebAssembly components - \
in a sandbox that grants nothing by default, under fuel, memory, time and output limits, \
with a trace of every invocation and an append-only audit log.",
    after_help = "Examples:\n  warden run examples/report-formatter/app.toml --input '{\"title\":\"Q3\",\"rows\":[]}'\n  warden run examples/oncall-picker/app.toml -- --week 48 alice bob carol
  warden serve --app examples/hello-http/app.toml\n  WARDEN_TOKEN=... warden deploy examples/hello-http/app.toml\n  WARDEN_TOKEN=... warden top\n  warden traces hello-http --errors --since 1h\n  printf '%s' \"$TOKEN\" | warden secrets set crm-token\n  warden audit verify"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(run::RunArgs),
    Serve(serve::ServeArgs),
    Deploy(deploy::DeployArgs),
    Approve(deploy::ApproveArgs),
    Reject(deploy::RejectArgs),
    Kill(kill::KillArgs),
    Drill(drill::DrillArgs),
    Unkill(kill::UnkillArgs),
    Retire(kill::RetireArgs),
    Migrate(migrate::MigrateArgs),
    Unretire(kill::UnretireArgs),
    /// List apps: served, held for review, killed (admin API, or the data
    /// directory on the host).
    #[command(
        after_help = "Examples:\n  WARDEN_TOKEN=... warden apps                 # the host at http://127.0.0.1:8081\n  WARDEN_TOKEN=... warden apps --compliance GDPR   # only apps held to GDPR\n  warden apps --server https://warden.internal:8081\n  warden apps --config /etc/warden/warden.toml --json   # on the host, from its data directory"
    )]
    Apps(lists::AppsArgs),
    /// Show one app's state, version, limits, quota bars and recent errors (admin API).
    #[command(
        after_help = "Examples:\n  WARDEN_TOKEN=... warden inspect report-formatter\n  WARDEN_TOKEN=... warden inspect report-formatter --json"
    )]
    Inspect {
        app: String,
        /// The full answer as JSON (grants, schedules, usage included).
        #[arg(long)]
        json: bool,
        #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
        server: String,
    },
    /// A live per-app table: state, in-flight, requests and errors in the last minute, p50/p99, quota use (admin API).
    #[command(
        after_help = "Examples:\n  WARDEN_TOKEN=... warden top\n  WARDEN_TOKEN=... warden top --once --json"
    )]
    Top {
        /// Print once and exit.
        #[arg(long)]
        once: bool,
        /// One JSON object per refresh.
        #[arg(long)]
        json: bool,
        /// Refresh interval.
        #[arg(long, default_value = "2s")]
        every: humantime::Duration,
        #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
        server: String,
    },
    /// List every deployed version of an app with its review state (admin
    /// API, or the data directory on the host).
    #[command(
        after_help = "Examples:\n  WARDEN_TOKEN=... warden versions expense-dashboard\n  warden versions expense-dashboard --config /etc/warden/warden.toml --json"
    )]
    Versions {
        app: String,
        #[command(flatten)]
        list: lists::ListArgs,
    },
    /// Delete an app: every deploy (kept as a record), its stored data and
    /// quota override; it stops being served and its name is free (admin).
    #[command(
        after_help = "Example:\n  WARDEN_TOKEN=... warden delete payroll --yes\n\nIts audit entries and traces stay. An app served from warden.toml or --app\nis removed there instead."
    )]
    Delete {
        app: String,
        /// Confirm: its stored data cannot be brought back.
        #[arg(long)]
        yes: bool,
        #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
        server: String,
    },
    /// Scaffold a buildable app that passes the publish policy as created.
    New(new::NewArgs),
    /// Build an app's component from its source (Rust, Python or
    /// JavaScript), installing the toolchain on first use.
    Build(build::BuildArgs),
    /// Judge an app against the publish policy, or test the policies,
    /// offline.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Show a version as a reviewer needs it (admin API).
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// List deploys waiting for a reviewer, with the reasons; `reviews due`
    /// lists apps whose periodic review is due (admin API, or the data
    /// directory on the host).
    #[command(
        after_help = "Examples:\n  WARDEN_TOKEN=... warden reviews\n  WARDEN_TOKEN=... warden reviews --json\n  WARDEN_TOKEN=... warden reviews due"
    )]
    Reviews(lists::ReviewsArgs),
    /// What apps cost this month (or another), by team, cost center or
    /// app, with the budgets (admin API, or the data directory on the host).
    Costs(costs::CostsArgs),
    Traces(traces::TracesArgs),
    /// Create, list and revoke admin API tokens.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Verify and export the hash-chained audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Signed publish decisions: fetch one, fetch the key, verify offline.
    #[command(subcommand)]
    Attest(attest::AttestCommand),
    /// Manage connector credentials in the encrypted secret store.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Maintain classified storage: purge expired values, delete an app's data.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
    /// Move a single node's embedded state into PostgreSQL for several nodes.
    #[command(subcommand)]
    State(state::StateCommand),
    /// Internal: compile one component for this host's engine. `warden`
    /// runs it as a child process so a compile can be stopped at its budget.
    #[command(hide = true)]
    CompileComponent {
        #[arg(long)]
        engine: String,
    },
}

/// Options every verb that touches the host accepts.
#[derive(clap::Args, Clone, Debug)]
pub struct ConfigArgs {
    /// Platform configuration (warden.toml). Without it, safe built-in
    /// defaults apply.
    #[arg(long, value_name = "warden.toml")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<warden_runtime::config::PlatformConfig> {
        match &self.config {
            None => Ok(warden_runtime::config::PlatformConfig::builtin()),
            Some(path) => {
                warden_runtime::config::PlatformConfig::load(path).map_err(|e| fail(EXIT_CONFIG, e))
            }
        }
    }
}

impl ConfigArgs {
    /// A runtime for a one-shot maintenance verb.
    pub fn runtime(&self) -> anyhow::Result<warden_runtime::Runtime> {
        let platform = self.load()?;
        warden_runtime::Runtime::for_one_call(platform, warden_runtime::telemetry::disabled())
            .map_err(|e| fail(EXIT_CONFIG, format!("{e:#}")))
    }
}

/// The async runtime a one-call verb (`warden run`) runs its invocation
/// on: on the calling thread, as one invocation has nothing to run beside
/// it — two worker threads cost it their start, their stacks and a dozen
/// context switches. Database work that cannot have to wait (counting
/// the call, when no other process holds usage.db) runs in place too; work
/// that may wait for a lock (a storage write another process holds up, the
/// first open of storage.db) goes to the blocking pool, which then starts
/// its first thread.
pub fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            fail(
                EXIT_INTERNAL,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// Parses the command line, runs the verb, and maps its outcome to the
/// exit code (in one place: [`exit::exit_code`]).
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = lone_run(&args).unwrap_or_else(|| Cli::parse_from(&args));
    exit::exit_code(run(cli))
}

/// `warden run ARGS`, parsed without the other verbs: building clap's tree
/// of every verb was a twentieth of a warm `warden run`, the verb a creator
/// waits on. `None` for anything else, and for what this parse does not
/// take (`--help`, a mistake): the whole tree parses those, and says them
/// as it always does.
fn lone_run(args: &[std::ffi::OsString]) -> Option<Cli> {
    use clap::{Args as _, FromArgMatches as _};
    if args.get(1).is_none_or(|verb| verb != "run") {
        return None;
    }
    let matches = run::RunArgs::augment_args(clap::Command::new("run"))
        .try_get_matches_from(&args[1..])
        .ok()?;
    let args = run::RunArgs::from_arg_matches(&matches).ok()?;
    Some(Cli {
        command: Command::Run(args),
    })
}

fn run(cli: Cli) -> Outcome {
    // `warden serve` installs its own, timestamped writer.
    if !matches!(cli.command, Command::Serve(_)) {
        warden_runtime::host_log::init_cli();
    }
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Deploy(args) => deploy::deploy(args),
        Command::Approve(args) => deploy::approve(args),
        Command::Reject(args) => deploy::reject(args),
        Command::Kill(args) => kill::kill(args),
        Command::Drill(args) => drill::drill(args),
        Command::Unkill(args) => kill::unkill(args),
        Command::Retire(args) => kill::retire(args),
        Command::Migrate(args) => migrate::migrate(args),
        Command::Unretire(args) => kill::unretire(args),
        Command::Apps(args) => lists::apps(args),
        Command::Inspect { app, json, server } => observe::inspect(&server, &app, json),
        Command::Top {
            once,
            json,
            every,
            server,
        } => observe::top(&server, json, once, every.into()),
        Command::Versions { app, list } => lists::versions(&app, list),
        Command::Delete { app, yes, server } => {
            if !yes {
                return Err(fail(
                    EXIT_USAGE,
                    format!(
                        "deleting `{app}` removes its stored data for good; run again with --yes"
                    ),
                ));
            }
            client::report(client::call(
                &server,
                "DELETE",
                &format!("/v1/apps/{app}"),
                None,
            ))
        }
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Review(cmd) => review::run(cmd),
        Command::Reviews(args) => lists::reviews(args),
        Command::Costs(args) => costs::costs(args),
        Command::Traces(args) => traces::run(args),
        Command::Tokens(cmd) => tokens::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Attest(cmd) => attest::run(cmd),
        Command::Secrets(cmd) => secrets::run(cmd),
        Command::Storage(cmd) => storage::run(cmd),
        Command::State(cmd) => state::run(cmd),
        Command::CompileComponent { engine } => {
            match warden_runtime::compile::child_main(&engine) {
                Ok(()) => Ok(()),
                Err(e) => {
                    // Read by the parent, which adds its own context.
                    eprintln!("{e:#}");
                    Err(quiet(1))
                }
            }
        }
    }
}

/// This binary, to compile components in child processes of it under
/// the platform's compile budget (`None`, said once, if it cannot be found).
pub fn this_program() -> Option<PathBuf> {
    std::env::current_exe()
        .map_err(|e| eprintln!("warden: compiling in process, without a time budget: {e}"))
        .ok()
}

/// Has `runtime` compile components in child processes of this binary,
/// under the platform's compile budget.
pub fn compile_in_child(runtime: &warden_runtime::Runtime) {
    if let Some(exe) = this_program() {
        runtime.compile_in_child(exe);
    }
}

/// Who is acting, for audit entries written by the CLI.
pub fn actor() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|| "cli".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warden_run_parsed_alone_takes_exactly_what_the_whole_tree_takes() {
        let cases: [&[&str]; 10] = [
            &["warden", "run", "app.toml"],
            &["warden", "run", "app.toml", "--input", "{}", "--json"],
            &["warden", "run", "app.toml", "--", "--week", "3", "ada"],
            &["warden", "run", "app.toml", "--trace", "--config", "w.toml"],
            &["warden", "run", "--input-file", "in.json", "app.toml"],
            &["warden", "run", "--help"],
            &["warden", "run"],
            &[
                "warden",
                "run",
                "a.toml",
                "--input",
                "x",
                "--input-file",
                "f",
            ],
            &["warden", "run", "a.toml", "--nope"],
            &["warden", "serve"],
        ];
        for case in cases {
            let argv: Vec<std::ffi::OsString> = case.iter().map(Into::into).collect();
            let whole = Cli::try_parse_from(&argv);
            match (lone_run(&argv), whole) {
                (
                    Some(Cli {
                        command: Command::Run(alone),
                    }),
                    Ok(Cli {
                        command: Command::Run(full),
                    }),
                ) => {
                    assert_eq!(format!("{alone:?}"), format!("{full:?}"), "{case:?}");
                }
                (Some(_), _) => panic!("{case:?}: parsed alone, but not by the whole tree"),
                // Help, mistakes and other verbs: the whole tree answers.
                (None, whole) => assert!(
                    whole.is_err() || case[1] != "run",
                    "{case:?}: the whole tree takes it, the lone parse does not"
                ),
            }
        }
    }
}
