//! The list of people in PostgreSQL, so a deactivation on one node holds
//! on every node at once. The rules are `crate::people`'s; this is where
//! its rows live when nodes share their state.

use super::{PgError, Postgres};
use crate::people::store::PersonRow;
use crate::wait::Wait as _;

const COLUMNS: &str =
    "id, user_name, active, deleted, resource, aliases, created_at, updated_at, version";

fn row(r: &tokio_postgres::Row) -> PersonRow {
    PersonRow {
        id: r.get(0),
        user_name: r.get(1),
        active: r.get(2),
        deleted: r.get(3),
        resource: r.get(4),
        aliases: r.get(5),
        created_at: r.get::<_, i64>(6).max(0) as u64,
        updated_at: r.get::<_, i64>(7).max(0) as u64,
        version: r.get(8),
    }
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Every person, oldest first.
pub fn all(pg: &Postgres) -> Result<Vec<PersonRow>, PgError> {
    pg.call(|client| async move {
        Ok(client
            .query(
                &format!("SELECT {COLUMNS} FROM people ORDER BY created_at, id"),
                &[],
            )
            .await?
            .iter()
            .map(row)
            .collect())
    })
    .wait()
}

/// The person `id`.
pub fn get(pg: &Postgres, id: &str) -> Result<Option<PersonRow>, PgError> {
    let id = id.to_owned();
    pg.call(move |client| async move {
        Ok(client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM people WHERE id = $1"),
                &[&id],
            )
            .await?
            .map(|r| row(&r)))
    })
    .wait()
}

/// Stores a new person, forgetting a deleted one of the same name, in one
/// transaction.
pub fn insert(pg: &Postgres, p: PersonRow) -> Result<(), PgError> {
    pg.call(move |mut client| async move {
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM people WHERE user_name = $1 AND deleted",
            &[&p.user_name],
        )
        .await?;
        tx.execute(
            &format!("INSERT INTO people ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                &p.id,
                &p.user_name,
                &p.active,
                &p.deleted,
                &p.resource,
                &p.aliases,
                &secs(p.created_at),
                &secs(p.updated_at),
                &p.version,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    })
    .wait()
}

/// Replaces the row of `p.id` if its version is `expected`.
pub fn update(pg: &Postgres, p: PersonRow, expected: i64) -> Result<bool, PgError> {
    pg.call(move |client| async move {
        let n = client
            .execute(
                "UPDATE people SET user_name = $2, active = $3, deleted = $4, resource = $5, aliases = $6, updated_at = $7, version = $8 WHERE id = $1 AND version = $9",
                &[
                    &p.id,
                    &p.user_name,
                    &p.active,
                    &p.deleted,
                    &p.resource,
                    &p.aliases,
                    &secs(p.updated_at),
                    &p.version,
                    &expected,
                ],
            )
            .await?;
        Ok(n == 1)
    })
    .wait()
}

/// When `by_name` or `by_sub` (`\nname\n`, `\n#sub\n`) were deactivated,
/// if they are only deactivated or deleted people's.
pub fn deactivated(pg: &Postgres, by_name: &str, by_sub: &str) -> Result<Option<u64>, PgError> {
    let (by_name, by_sub) = (by_name.to_owned(), by_sub.to_owned());
    pg.call(move |client| async move {
        let r = client
            .query_one(
                "SELECT count(*) FILTER (WHERE NOT active), count(*) FILTER (WHERE active AND NOT deleted), max(updated_at) FILTER (WHERE NOT active) FROM people WHERE position($1 in aliases) > 0 OR position($2 in aliases) > 0",
                &[&by_name, &by_sub],
            )
            .await?;
        let at: Option<i64> = r.get(2);
        Ok((r.get::<_, i64>(0) > 0 && r.get::<_, i64>(1) == 0)
            .then(|| at.unwrap_or(0).max(0) as u64))
    })
    .wait()
}
