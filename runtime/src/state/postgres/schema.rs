//! Versioned migrations of the shared schema. Each migration is a SQL file
//! applied once, in order, in one transaction with the record of its
//! version (`warden_schema`); nodes starting together take an advisory
//! lock, so one migrates and the others find it done. A schema newer than
//! this Warden knows is refused: an older node must not write tables whose
//! meaning changed under it.

use super::PgError;

/// Every migration: (version, name, SQL). Append only; never edit one
/// that has shipped.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "storage", include_str!("migrations/0001_storage.sql")),
    (2, "audit", include_str!("migrations/0002_audit.sql")),
    (3, "usage", include_str!("migrations/0003_usage.sql")),
    (4, "kills", include_str!("migrations/0004_kills.sql")),
    (5, "tokens", include_str!("migrations/0005_tokens.sql")),
    (6, "secrets", include_str!("migrations/0006_secrets.sql")),
    (7, "registry", include_str!("migrations/0007_registry.sql")),
    (
        8,
        "quota leases",
        include_str!("migrations/0008_quota_leases.sql"),
    ),
    (
        9,
        "attestations",
        include_str!("migrations/0009_attestations.sql"),
    ),
    (
        10,
        "slo tallies",
        include_str!("migrations/0010_slo_tallies.sql"),
    ),
    (11, "dlp salt", include_str!("migrations/0011_dlp_salt.sql")),
    (
        12,
        "usage batches",
        include_str!("migrations/0012_usage_batches.sql"),
    ),
    (
        13,
        "audit forwarding",
        include_str!("migrations/0013_audit_forward.sql"),
    ),
    (
        14,
        "app reviews",
        include_str!("migrations/0014_app_reviews.sql"),
    ),
    (
        15,
        "usage costs",
        include_str!("migrations/0015_usage_costs.sql"),
    ),
    (16, "people", include_str!("migrations/0016_people.sql")),
];

/// The schema version this Warden writes.
pub const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Key of the advisory lock migrations hold (any constant; "wardnmig").
const MIGRATION_LOCK: i64 = 0x7761_7264_6e6d_6967;

const VERSIONS: &str = "CREATE TABLE IF NOT EXISTS warden_schema (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now())";

/// Brings the schema to [`LATEST`]; returns the version before and after.
///
/// # Errors
/// The server fails, or the schema is newer than [`LATEST`]
/// ([`PgError::SchemaTooNew`]).
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<(i32, i32), PgError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(VERSIONS).await?;
    let before: i32 = tx
        .query_one("SELECT COALESCE(max(version), 0) FROM warden_schema", &[])
        .await?
        .get(0);
    if before > LATEST {
        return Err(PgError::SchemaTooNew {
            found: before,
            known: LATEST,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > before) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO warden_schema (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
    }
    tx.commit().await?;
    Ok((before, LATEST))
}
