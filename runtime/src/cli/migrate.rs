//! `warden migrate`: brings the shared PostgreSQL schema to this Warden's
//! version on its own (a `warden serve` on PostgreSQL does it at start).

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG};
use clap::Args;
use warden_runtime::config::state::Backend;
use warden_runtime::state::postgres::Postgres;
use warden_runtime::wait::Wait as _;

/// Create or migrate the shared schema in PostgreSQL and print its version.
#[derive(Args)]
#[command(after_help = "Examples:
  warden migrate --config /etc/warden/warden.toml
  PGHOST=db.internal PGUSER=warden PGDATABASE=warden warden migrate --config warden.toml

Reads [state] in warden.toml (backend = \"postgres\", url or the PG* variables).
Migrations are versioned and applied once, in order, under a lock, so nodes
starting at once do not race; a database migrated by a newer Warden is
refused (exit 3). The embedded store needs no migration.")]
pub struct MigrateArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn migrate(args: MigrateArgs) -> Outcome {
    let platform = args.config.load()?;
    if platform.state.backend != Backend::Postgres {
        return Err(fail(
            EXIT_CONFIG,
            "warden.toml keeps state in the embedded store (no `[state] backend = \"postgres\"`), which migrates itself when opened",
        ));
    }
    let pg = Postgres::connect(&platform.state).map_err(|e| fail(EXIT_CONFIG, e))?;
    let (before, after) = pg.migrate().wait().map_err(|e| match e {
        e @ warden_runtime::state::postgres::PgError::SchemaTooNew { .. } => fail(EXIT_CONFIG, e),
        e => fail(1, e),
    })?;
    if before == after {
        println!("schema version {after} (up to date)");
    } else {
        println!("schema version {after} (migrated from {before})");
    }
    Ok(())
}
