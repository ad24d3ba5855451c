//! `warden tokens create|list`: admin API credentials.

use super::ConfigArgs;
use clap::Subcommand;
use std::process::ExitCode;
use warden_runtime::admin::tokens::{Role, TokenStore};

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a token; it is printed once and stored only as a hash.
    #[command(
        after_help = "Examples:\n  warden tokens create --name alice --role admin\n  export WARDEN_TOKEN=$(warden tokens create --name ci --role creator)"
    )]
    Create {
        /// Who holds it: the principal (owner of what they deploy, actor in
        /// the audit log). Letters, digits, `.`, `_`, `-`, `+`, `@`. Name a
        /// person's token by their email to make it the same principal as
        /// their OIDC sign-in (when the provider verifies emails).
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List token names, roles and creation times (never tokens).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn run(cmd: TokensCommand) -> ExitCode {
    match cmd {
        TokensCommand::Create { name, role, config } => {
            let platform = match config.load() {
                Ok(p) => p,
                Err(code) => return code,
            };
            let dir = platform.data_dir();
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("warden: cannot create {}: {e}", dir.display());
                return ExitCode::from(super::EXIT_CONFIG);
            }
            match TokenStore::new(&dir).create(&name, role) {
                Ok(token) => {
                    println!("{token}");
                    eprintln!(
                        "warden: token for `{name}` ({}) created; it will not be shown again",
                        role.as_str()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("warden: {e}");
                    ExitCode::from(super::EXIT_CONFIG)
                }
            }
        }
        TokensCommand::List { config } => {
            let platform = match config.load() {
                Ok(p) => p,
                Err(code) => return code,
            };
            for t in TokenStore::new(&platform.data_dir()).list() {
                println!("{:<24} {:<9} {}", t.name, t.role.as_str(), t.created);
            }
            ExitCode::SUCCESS
        }
    }
}
