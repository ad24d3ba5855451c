//! `warden state copy`: a single node's embedded state into the
//! PostgreSQL database several nodes will share.

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG};
use clap::Subcommand;
use warden_runtime::config::state::{Backend, StateSettings};
use warden_runtime::state::copy::CopyError;
use warden_runtime::state::postgres::PgError;

#[derive(Subcommand)]
pub enum StateCommand {
    /// Copy this data directory's state into an empty PostgreSQL database
    /// (registry, approvals, audit chain, sealed storage, counters, sealed
    /// secrets, tokens, kills, templates), then verify the audit chain there.
    #[command(after_help = "Examples:
  warden state copy --config warden.toml --to postgresql://warden@db.internal/warden
  PGHOST=db.internal PGUSER=warden PGDATABASE=warden warden state copy --config warden.toml

Run it on the single node, with the node stopped and with its warden.toml
(embedded store; the master key it uses). The target must be a new database
no node has served from yet: the copy refuses one that holds state, and
writes everything in one transaction, so a failed copy leaves it as it was.
Audit entries keep their hashes; values, secrets and data keys stay sealed
under the same master key, which every node is then given. After the copy
it appends `state.copied` and verifies the whole chain in the database.
Then set [state] backend = \"postgres\" and url in every node's warden.toml.

Exit status: 0 copied and verified, 1 refused or failed (nothing written,
or, when it says so, copied but not verified), 3 configuration error.")]
    Copy {
        #[command(flatten)]
        config: ConfigArgs,
        /// The database to copy into: a libpq URL or key/value string
        /// (unset: the PG* environment variables).
        #[arg(long, value_name = "postgresql://…")]
        to: Option<String>,
        /// Print what was copied as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: StateCommand) -> Outcome {
    match command {
        StateCommand::Copy { config, to, json } => copy(&config, to, json),
    }
}

fn copy(config: &ConfigArgs, to: Option<String>, json: bool) -> Outcome {
    let platform = config.load()?;
    if platform.state.backend == Backend::Postgres {
        return Err(fail(
            EXIT_CONFIG,
            "this warden.toml keeps state in PostgreSQL already (`[state] backend = \"postgres\"`)\n  fix: run the copy with the single node's warden.toml, whose data directory holds the embedded state",
        ));
    }
    let target = StateSettings {
        backend: Backend::Postgres,
        url: to,
        pool_size: Some(2),
    };
    let report = warden_runtime::state::copy::copy(&platform, &target).map_err(|e| match e {
        CopyError::Target(
            e @ (PgError::Config(_) | PgError::SchemaTooNew { .. } | PgError::OtherMasterKey),
        ) => fail(EXIT_CONFIG, e),
        e => fail(1, e),
    })?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(());
    }
    println!("copied {} into {}", report.from.display(), report.to);
    for (table, rows) in &report.rows {
        println!("  {table:<18} {rows:>8} rows");
    }
    for skipped in &report.skipped {
        println!("  left out: {skipped}");
    }
    println!(
        "ok: {} audit entries, hash chain intact in the database (the last is state.copied)",
        report.audit_entries
    );
    println!(
        "next: set [state] backend = \"postgres\" and url in every node's warden.toml, give every node this master key, and start them"
    );
    Ok(())
}
