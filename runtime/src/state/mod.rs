//! Where shared state lives when several nodes serve together: a
//! PostgreSQL server ([`postgres`]). The embedded store (SQLite files in
//! the data directory) stays the default for one node; both sit behind the
//! same traits (`KvStore`, `RegistryBackend`, `UsageBackend`,
//! `AuditBackend`), chosen by `[state]` in `warden.toml`.

pub mod copy;
pub mod postgres;
