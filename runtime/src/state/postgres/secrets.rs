//! Sealed secrets in PostgreSQL, so every node uses the same connector
//! credentials and a rotation on one node is used by all on their next
//! call. Values arrive sealed (AES-256-GCM under the master key, by the
//! node); the server never sees one in the clear. Changes of one secret
//! are serialized by an advisory lock on its name, so writes from several
//! nodes at once each get their own version.

use super::{PgError, Postgres};
use crate::wait::Wait as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use warden_host_apis::secrets::{SealedChange, SecretError, SharedSecrets};

pub struct PgSecrets {
    pg: Arc<Postgres>,
}

impl PgSecrets {
    pub fn new(pg: Arc<Postgres>) -> PgSecrets {
        PgSecrets { pg }
    }

    fn error(&self, e: PgError) -> SecretError {
        SecretError::Io {
            path: self.location().into(),
            source: std::io::Error::other(e.to_string()),
        }
    }
}

impl SharedSecrets for PgSecrets {
    fn all(&self) -> Result<BTreeMap<String, String>, SecretError> {
        self.pg
            .call(|client| async move {
                Ok(client
                    .query("SELECT name, sealed FROM secrets", &[])
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect())
            })
            .wait()
            .map_err(|e| self.error(e))
    }

    fn one(&self, name: &str) -> Result<Option<String>, SecretError> {
        let name = name.to_owned();
        self.pg
            .call(move |client| async move {
                let stmt = client
                    .prepare_cached("SELECT sealed FROM secrets WHERE name = $1")
                    .await?;
                Ok(client.query_opt(&stmt, &[&name]).await?.map(|r| r.get(0)))
            })
            .wait()
            .map_err(|e| self.error(e))
    }

    fn update(&self, name: &str, change: &mut SealedChange<'_>) -> Result<(), SecretError> {
        let pg_err = |e: tokio_postgres::Error| self.error(PgError::from(e));
        // A connection of the pool held here for the change: the sealing
        // runs on this thread, between the read and the write.
        let mut client = self
            .pg
            .call(|client| async move { Ok(client) })
            .wait()
            .map_err(|e| self.error(e))?;
        let tx = client.transaction().wait().map_err(pg_err)?;
        // Namespace 2: secret names (tokens use 1).
        tx.execute("SELECT pg_advisory_xact_lock(2, hashtext($1))", &[&name])
            .wait()
            .map_err(pg_err)?;
        let current: Option<String> = tx
            .query_opt("SELECT sealed FROM secrets WHERE name = $1", &[&name])
            .wait()
            .map_err(pg_err)?
            .map(|r| r.get(0));
        let (sealed, version) = change(current.as_deref())?;
        let version = i32::try_from(version).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO secrets (name, version, sealed) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET version = excluded.version, sealed = excluded.sealed",
            &[&name, &version, &sealed],
        )
        .wait()
        .map_err(pg_err)?;
        tx.commit().wait().map_err(pg_err)?;
        Ok(())
    }

    fn location(&self) -> String {
        format!("{} (secrets)", self.pg.location())
    }
}
