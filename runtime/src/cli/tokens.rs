//! `warden tokens create|list|revoke`: admin API credentials, on this
//! host's data directory or, with `--server`, through the admin API.

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG, actor};
use clap::Subcommand;
use serde_json::{Value, json};
use warden_runtime::admin::token_store::{NewToken, TokenError};
use warden_runtime::admin::tokens::{Role, TokenStore};
use warden_runtime::config::units::Dur;

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a token; it is printed once and stored only as a hash.
    #[command(after_help = "Examples:
  warden tokens create --name alice@example.com --role creator --ttl 8h --team payroll
  export WARDEN_TOKEN=$(warden tokens create --name ci --role creator)
  warden tokens create --name erin --role reviewer --replace   # erin was a creator
  WARDEN_TOKEN=$ADMIN warden tokens create --name bob --role auditor --server http://127.0.0.1:8081

Every token expires: --ttl, at most admin.token_max_ttl (90d by default,
which is also the default ttl). One name holds one role: giving a name a
second role is refused unless --replace revokes its old tokens in the same
step. Creating a token is audited (token.created).")]
    Create {
        /// Who holds it: the principal (owner of what they deploy, actor in
        /// the audit log). Letters, digits, `.`, `_`, `-`, `+`, `@`; kept
        /// lower-case. Name a person's token by their email to make it the
        /// same principal as their OIDC sign-in.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The holder's team: what publish policies read as
        /// `input.request.team` (e.g. "only payroll deploys HR apps").
        #[arg(long)]
        team: Option<String>,
        /// How long it lives, e.g. `8h`, `30d`.
        #[arg(long)]
        ttl: Option<Dur>,
        /// Revoke the name's tokens of another role in the same step.
        #[arg(long)]
        replace: bool,
        /// Create it through a running host's admin API (admin token in
        /// WARDEN_TOKEN) instead of this data directory.
        #[arg(long, env = "WARDEN_SERVER")]
        server: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List tokens: id, name, role, expiry, last use and state (never the
    /// tokens themselves).
    #[command(
        after_help = "Examples:\n  warden tokens list\n  warden tokens list --json\n  WARDEN_TOKEN=... warden tokens list --server http://127.0.0.1:8081"
    )]
    List(super::lists::ListArgs),
    /// Revoke a token by its id, or every active token of a name; audited
    /// (token.revoked). A revoked token is refused saying so.
    #[command(
        after_help = "Examples:\n  warden tokens revoke 3f9a1c02b7de\n  warden tokens revoke alice@example.com"
    )]
    Revoke {
        /// A token id (from `tokens list`) or a name.
        which: String,
        /// Revoke through a running host's admin API.
        #[arg(long, env = "WARDEN_SERVER")]
        server: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

fn failed(e: TokenError) -> Outcome {
    Err(fail(EXIT_CONFIG, e))
}

/// The columns of `tokens list`.
const COLUMNS: [super::table::Column<'static>; 7] = [
    ("ID", "id"),
    ("NAME", "name"),
    ("ROLE", "role"),
    ("EXPIRES", "expires"),
    ("LAST USED", "last_used"),
    ("CREATED", "created"),
    ("STATE", "state"),
];

fn print_list(tokens: &[Value], as_json: bool) {
    print!("{}", super::table::render(tokens, &COLUMNS, as_json));
}

/// The admin API to send `cmd` to, by the rules every command follows.
fn server_of(cmd: &TokensCommand) -> Option<String> {
    let (server, config) = match cmd {
        TokensCommand::Create { server, config, .. }
        | TokensCommand::Revoke { server, config, .. } => (server, config),
        TokensCommand::List(list) => (&list.server, &list.config),
    };
    super::remote(server, config, false)
}

pub fn run(cmd: TokensCommand) -> Outcome {
    let remote = server_of(&cmd);
    match (cmd, remote) {
        (
            TokensCommand::Create {
                name,
                role,
                team,
                ttl,
                replace,
                ..
            },
            Some(server),
        ) => {
            let body =
                json!({ "name": name, "role": role, "team": team, "ttl": ttl, "replace": replace });
            match super::client::call(&server, "POST", "/v1/tokens", Some(body)) {
                Ok((201, out)) => {
                    println!("{}", out["token"].as_str().unwrap_or_default());
                    eprintln!(
                        "warden: token {} for `{}` ({}) created, expires {}; it will not be shown again",
                        out["id"].as_str().unwrap_or_default(),
                        out["name"].as_str().unwrap_or_default(),
                        out["role"].as_str().unwrap_or_default(),
                        out["expires"].as_str().unwrap_or_default()
                    );
                    Ok(())
                }
                other => super::client::report(other),
            }
        }
        (
            TokensCommand::Create {
                name,
                role,
                team,
                ttl,
                replace,
                config,
                ..
            },
            None,
        ) => {
            let runtime = config.runtime()?;
            super::same_state(
                &runtime,
                &warden_runtime::presence::live(runtime.data_dir()),
                "token",
            )?;
            let by = actor();
            let created = TokenStore::of(&runtime).create_audited(
                NewToken {
                    name: &name,
                    role,
                    team: team.as_deref(),
                    ttl: ttl.map(Dur::get),
                    max_ttl: runtime.platform().admin.token_max_ttl.get(),
                    by: &by,
                    replace,
                },
                runtime.audit(),
            );
            match created {
                Ok(created) => {
                    println!("{}", created.token);
                    for old in &created.replaced {
                        eprintln!(
                            "warden: revoked token {} ({} as {})",
                            old.id,
                            old.name,
                            old.role.as_str()
                        );
                    }
                    eprintln!(
                        "warden: token {} for `{}` ({}) created, expires {}; it will not be shown again",
                        created.record.id,
                        created.record.name,
                        role.as_str(),
                        created.record.expires.as_deref().unwrap_or("never")
                    );
                    // Where it counts: the nodes sharing the database, or a
                    // host using this data directory.
                    if let Some(pg) = runtime.shared() {
                        eprintln!(
                            "warden: stored in the shared state ({}): every node using it accepts the token now",
                            pg.location()
                        );
                        return Ok(());
                    }
                    let dir = runtime.data_dir();
                    let serving = if warden_runtime::presence::live(dir).is_empty() {
                        "no host serves it now; a host started with it accepts the token"
                    } else {
                        "the host serving it accepts the token now"
                    };
                    eprintln!("warden: stored in {}: {serving}", dir.display());
                    Ok(())
                }
                Err(e) => failed(e),
            }
        }
        (TokensCommand::List(list), Some(server)) => {
            let rows = super::lists::fetch(&server, "/v1/tokens", "tokens")?;
            print_list(&rows, list.json);
            Ok(())
        }
        (TokensCommand::List(list), None) => {
            let platform = list.config.load()?;
            let dir = super::data_dir_to_read(&platform)?;
            // Shared tokens are read from the database; a data directory's
            // are read without opening it for writing.
            let store =
                if platform.state.backend == warden_runtime::config::state::Backend::Postgres {
                    TokenStore::of(&list.config.runtime()?)
                } else {
                    TokenStore::new(&dir).with_max_ttl(platform.admin.token_max_ttl.get())
                };
            match store.peek() {
                Ok(tokens) => {
                    let values: Vec<Value> = tokens.iter().map(|t| json!(t)).collect();
                    print_list(&values, list.json);
                    Ok(())
                }
                Err(e) => failed(e),
            }
        }
        (TokensCommand::Revoke { which, .. }, Some(server)) => super::client::report(
            super::client::call(&server, "DELETE", &format!("/v1/tokens/{which}"), None),
        ),
        (TokensCommand::Revoke { which, config, .. }, None) => {
            let runtime = config.runtime()?;
            match TokenStore::of(&runtime).revoke_audited(&which, &actor(), runtime.audit()) {
                Ok(revoked) => {
                    for r in revoked {
                        println!("revoked token {} ({} as {})", r.id, r.name, r.role.as_str());
                    }
                    Ok(())
                }
                Err(e) => failed(e),
            }
        }
    }
}
