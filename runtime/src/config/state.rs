//! `[state]` in `warden.toml`: where a host keeps the state several nodes
//! share. With no `[state]`, the embedded store: SQLite files in the data
//! directory, right for one node. With `backend = "postgres"`, a
//! PostgreSQL server (how it is used is `crate::state::postgres`).

use serde::{Deserialize, Serialize};

/// `[state]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StateSettings {
    pub backend: Backend,
    /// A libpq connection URL or key/value string
    /// (`postgresql://warden@db.internal/warden`,
    /// `host=/run/postgresql dbname=warden`). Unset: the standard `PG*`
    /// environment variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
    /// `PGDATABASE`), as `psql` reads them.
    pub url: Option<String>,
    /// Connections this node keeps to the server (default 16).
    pub pool_size: Option<usize>,
}

/// Where shared state lives.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite files in the data directory (one node).
    #[default]
    Embedded,
    /// A PostgreSQL server shared by every node.
    Postgres,
}

impl StateSettings {
    /// The default `pool_size`.
    pub const POOL_SIZE: usize = 16;

    /// What is wrong with the settings, as (field, problem, fix).
    pub fn problem(&self) -> Option<(&'static str, String, String)> {
        if self.backend == Backend::Embedded && (self.url.is_some() || self.pool_size.is_some()) {
            return Some((
                "state.backend",
                "`url` and `pool_size` are set, but the backend is the embedded store".into(),
                "add `backend = \"postgres\"`, or remove `url` and `pool_size`".into(),
            ));
        }
        if self.pool_size.is_some_and(|n| n < 2) {
            // A kill holds one connection while its audit entry takes another.
            return Some((
                "state.pool_size",
                "must be at least 2".into(),
                "set it to the connections this node may hold, e.g. 16".into(),
            ));
        }
        None
    }
}
