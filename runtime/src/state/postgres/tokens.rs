//! Admin API tokens in PostgreSQL, so every node accepts the same tokens
//! and a revocation on one node holds on all. The rules (names, roles,
//! expiry, replacing a role) are `crate::admin::token_store`'s; this is
//! where its rows live when nodes share their state. One name's role
//! change is serialized by an advisory lock on the name.

use super::{PgError, Postgres};
use crate::admin::token_store::RawToken;
use crate::wait::Wait as _;

const COLUMNS: &str = "id, name, role, created_at, created_by, expires_at, revoked_at, revoked_by, last_used_at, team";

fn raw(r: &tokio_postgres::Row) -> RawToken {
    let secs = |i: usize| r.get::<_, Option<i64>>(i).map(|s| s.max(0) as u64);
    RawToken {
        id: r.get(0),
        name: r.get(1),
        role: r.get(2),
        created: r.get::<_, i64>(3).max(0) as u64,
        created_by: r.get(4),
        expires: secs(5),
        revoked: secs(6),
        revoked_by: r.get(7),
        last_used: secs(8),
        team: r.get(9),
    }
}

fn at(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// A new token to store.
pub struct Insert {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub team: Option<String>,
    pub hash: String,
    pub created: u64,
    pub expires: u64,
    pub by: String,
}

/// Stores `new` after revoking the name's active tokens of another role —
/// unless there are some and `replace` is off: then nothing changes and
/// they are returned as `Err`. `Ok` holds the tokens revoked.
pub fn create(
    pg: &Postgres,
    new: Insert,
    replace: bool,
) -> Result<Result<Vec<RawToken>, Vec<RawToken>>, PgError> {
    pg.call(move |mut client| async move {
        let tx = client.transaction().await?;
        // Namespace 1: token names (secrets use 2).
        tx.execute("SELECT pg_advisory_xact_lock(1, hashtext($1))", &[&new.name])
            .await?;
        let others: Vec<RawToken> = tx
            .query(
                &format!("SELECT {COLUMNS} FROM tokens WHERE name = $1 AND role != $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)"),
                &[&new.name, &new.role, &at(new.created)],
            )
            .await?
            .iter()
            .map(raw)
            .collect();
        if !others.is_empty() && !replace {
            return Ok(Err(others));
        }
        for other in &others {
            tx.execute(
                "UPDATE tokens SET revoked_at = $2, revoked_by = $3 WHERE id = $1",
                &[&other.id, &at(new.created), &new.by],
            )
            .await?;
        }
        tx.execute(
            &format!("INSERT INTO tokens ({COLUMNS}, hash) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, $7, $8)"),
            &[&new.id, &new.name, &new.role, &at(new.created), &new.by, &at(new.expires), &new.team, &new.hash],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(others))
    })
    .wait()
}

/// The token whose hash is `hash`; its last use is set to `now` when it is
/// older than `resolution` seconds (best effort).
pub fn find(
    pg: &Postgres,
    hash: &str,
    now: u64,
    resolution: u64,
) -> Result<Option<RawToken>, PgError> {
    let hash = hash.to_owned();
    pg.call(move |client| async move {
        let row = client
            .query_opt(&format!("SELECT {COLUMNS} FROM tokens WHERE hash = $1"), &[&hash])
            .await?
            .map(|r| raw(&r));
        if let Some(token) = &row
            && token.revoked.is_none()
        {
            let _ = client
                .execute(
                    "UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
                    &[&token.id, &at(now), &at(now.saturating_sub(resolution))],
                )
                .await;
        }
        Ok(row)
    })
    .wait()
}

/// Revokes the active tokens whose id or name is `which`; returns them as
/// they were.
pub fn revoke(pg: &Postgres, which: &str, now: u64, by: &str) -> Result<Vec<RawToken>, PgError> {
    let (which, by) = (which.to_owned(), by.to_owned());
    pg.call(move |client| async move {
        let rows = client
            .query(
                &format!("UPDATE tokens SET revoked_at = $2, revoked_by = $3 WHERE (id = $1 OR name = $1) AND revoked_at IS NULL RETURNING {COLUMNS}"),
                &[&which, &at(now), &by],
            )
            .await?;
        // As they were before this revocation.
        Ok(rows
            .iter()
            .map(|r| RawToken {
                revoked: None,
                revoked_by: None,
                ..raw(r)
            })
            .collect())
    })
    .wait()
}

/// Makes the tokens `ids` active again.
pub fn unrevoke(pg: &Postgres, ids: Vec<String>) -> Result<(), PgError> {
    pg.call(move |client| async move {
        client
            .execute(
                "UPDATE tokens SET revoked_at = NULL, revoked_by = NULL WHERE id = ANY($1)",
                &[&ids],
            )
            .await?;
        Ok(())
    })
    .wait()
}

/// Every token, oldest first.
pub fn list(pg: &Postgres) -> Result<Vec<RawToken>, PgError> {
    pg.call(|client| async move {
        Ok(client
            .query(
                &format!("SELECT {COLUMNS} FROM tokens ORDER BY created_at, id"),
                &[],
            )
            .await?
            .iter()
            .map(raw)
            .collect())
    })
    .wait()
}
