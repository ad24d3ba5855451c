//! Where the list of people lives: `<data_dir>/people.db` (SQLite), or the
//! `people` table nodes share on PostgreSQL. One row per person, holding
//! the SCIM resource as the identity provider last sent it.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use warden_host_apis::sqlite::OpenOnFirstUse;

/// The alias entries `name` is looked up by: itself, and for an OIDC
/// name `<issuer>#<sub>` the `#<sub>` of an `externalId` (else itself
/// again).
pub fn alias_keys(name: &str) -> [String; 2] {
    let name = name.trim().to_lowercase();
    let by_sub = match name.rsplit_once('#') {
        Some((_, sub)) if !sub.is_empty() => format!("\n#{sub}\n"),
        _ => format!("\n{name}\n"),
    };
    [format!("\n{name}\n"), by_sub]
}

/// One stored person.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonRow {
    /// Warden's id for the person (the SCIM `id`): 32 hex digits.
    pub id: String,
    /// The IdP's `userName`, lowercased: unique among people not deleted.
    pub user_name: String,
    pub active: bool,
    /// Deleted by the IdP: gone from SCIM, kept so the name stays
    /// deactivated and its apps stay orphaned.
    pub deleted: bool,
    /// The SCIM resource as sent (JSON), without `id`, `meta`, `schemas`.
    pub resource: String,
    /// `\n`-separated lowercased names the person signs in or owns apps
    /// as (`userName` and every email), with a `\n` at each end, so one
    /// is found as `\nname\n`.
    pub aliases: String,
    pub created_at: u64,
    pub updated_at: u64,
    /// Bumped on every change (the SCIM `meta.version`).
    pub version: i64,
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Store { path: PathBuf, message: String },
    /// Another person not deleted has this `userName`.
    #[error("`{0}` is taken by another person")]
    Taken(String),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS people (
  id TEXT PRIMARY KEY, user_name TEXT NOT NULL, active INTEGER NOT NULL,
  deleted INTEGER NOT NULL, resource TEXT NOT NULL, aliases TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, version INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS people_user_name ON people(user_name) WHERE deleted = 0;
";

const COLUMNS: &str =
    "id, user_name, active, deleted, resource, aliases, created_at, updated_at, version";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PersonRow> {
    Ok(PersonRow {
        id: r.get(0)?,
        user_name: r.get(1)?,
        active: r.get::<_, i64>(2)? != 0,
        deleted: r.get::<_, i64>(3)? != 0,
        resource: r.get(4)?,
        aliases: r.get(5)?,
        created_at: r.get::<_, i64>(6)?.max(0) as u64,
        updated_at: r.get::<_, i64>(7)?.max(0) as u64,
        version: r.get(8)?,
    })
}

/// The people of one data directory, or of the database nodes share.
pub struct PeopleStore {
    shared: Option<Arc<crate::state::postgres::Postgres>>,
    db: PathBuf,
    conn: OpenOnFirstUse<Mutex<Connection>>,
}

impl PeopleStore {
    /// `data_dir`'s store, opened on first use.
    pub fn new(data_dir: &Path) -> PeopleStore {
        PeopleStore {
            shared: None,
            db: data_dir.join("people.db"),
            conn: OpenOnFirstUse::later(),
        }
    }

    /// The store `runtime` uses.
    pub fn of(runtime: &crate::runtime::Runtime) -> PeopleStore {
        PeopleStore {
            shared: runtime.shared().cloned(),
            ..PeopleStore::new(runtime.data_dir())
        }
    }

    fn sqlite_error(&self, e: rusqlite::Error) -> StoreError {
        if let rusqlite::Error::SqliteFailure(f, _) = &e
            && f.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return StoreError::Taken(String::new());
        }
        StoreError::Store {
            path: self.db.clone(),
            message: e.to_string(),
        }
    }

    fn pg_error(e: crate::state::postgres::PgError) -> StoreError {
        match e {
            // unique_violation: the name is another person's.
            crate::state::postgres::PgError::Server(m) if m.ends_with("(23505)") => {
                StoreError::Taken(String::new())
            }
            e => StoreError::Store {
                path: PathBuf::from("PostgreSQL"),
                message: e.to_string(),
            },
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = self.conn.get(|| {
            warden_host_apis::sqlite::open_wal(&self.db, "FULL", SCHEMA)
                .map(Mutex::new)
                .map_err(|e| self.sqlite_error(e))
        })?;
        f(&conn.lock().unwrap_or_else(|p| p.into_inner())).map_err(|e| self.sqlite_error(e))
    }

    /// Every person, deleted ones included, oldest first.
    pub fn all(&self) -> Result<Vec<PersonRow>, StoreError> {
        if let Some(pg) = &self.shared {
            return crate::state::postgres::people::all(pg).map_err(Self::pg_error);
        }
        if !self.db.exists() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            c.prepare(&format!(
                "SELECT {COLUMNS} FROM people ORDER BY created_at, id"
            ))?
            .query_map([], row)?
            .collect()
        })
    }

    /// The person with Warden id `id` (deleted ones too).
    pub fn get(&self, id: &str) -> Result<Option<PersonRow>, StoreError> {
        if let Some(pg) = &self.shared {
            return crate::state::postgres::people::get(pg, id).map_err(Self::pg_error);
        }
        if !self.db.exists() {
            return Ok(None);
        }
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM people WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
        })
    }

    /// Stores a new person (a deleted one of the same name is forgotten).
    ///
    /// # Errors
    /// [`StoreError::Taken`] when a person not deleted has the name.
    pub fn insert(&self, person: &PersonRow) -> Result<(), StoreError> {
        let taken = |e| match e {
            StoreError::Taken(_) => StoreError::Taken(person.user_name.clone()),
            e => e,
        };
        if let Some(pg) = &self.shared {
            return crate::state::postgres::people::insert(pg, person.clone())
                .map_err(Self::pg_error)
                .map_err(taken);
        }
        self.with(|c| {
            // One step: a name that is taken keeps the deleted person's
            // row (and the deactivation of their other names).
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "DELETE FROM people WHERE user_name = ?1 AND deleted = 1",
                [&person.user_name],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO people ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    person.id,
                    person.user_name,
                    i64::from(person.active),
                    i64::from(person.deleted),
                    person.resource,
                    person.aliases,
                    person.created_at as i64,
                    person.updated_at as i64,
                    person.version
                ],
            )?;
            tx.commit()
        })
        .map_err(taken)
    }

    /// Replaces the stored row of `person.id` if its version is still
    /// `expected` (a change made meanwhile wins, and this one is told);
    /// `false` when the row changed or is gone.
    ///
    /// # Errors
    /// [`StoreError::Taken`] when the new name is another person's.
    pub fn update(&self, person: &PersonRow, expected: i64) -> Result<bool, StoreError> {
        let taken = |e| match e {
            StoreError::Taken(_) => StoreError::Taken(person.user_name.clone()),
            e => e,
        };
        if let Some(pg) = &self.shared {
            return crate::state::postgres::people::update(pg, person.clone(), expected)
                .map_err(Self::pg_error)
                .map_err(taken);
        }
        self.with(|c| {
            c.execute(
                "UPDATE people SET user_name = ?2, active = ?3, deleted = ?4, resource = ?5, aliases = ?6, updated_at = ?7, version = ?8 WHERE id = ?1 AND version = ?9",
                params![
                    person.id,
                    person.user_name,
                    i64::from(person.active),
                    i64::from(person.deleted),
                    person.resource,
                    person.aliases,
                    person.updated_at as i64,
                    person.version,
                    expected
                ],
            )
            .map(|n| n == 1)
        })
        .map_err(taken)
    }

    /// Whether `name` (a principal's name, an app's owner) is a person
    /// the IdP deactivated or deleted — and none of its active people. An
    /// OIDC name `<issuer>#<sub>` is also the person whose `externalId`
    /// is the `sub`.
    pub fn is_deactivated(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.deactivated_at(name)?.is_some())
    }

    /// When `name` was deactivated (Unix seconds: the last change of the
    /// inactive people it names), if it is (see [`Self::is_deactivated`]).
    pub fn deactivated_at(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let [by_name, by_sub] = alias_keys(name);
        if let Some(pg) = &self.shared {
            return crate::state::postgres::people::deactivated(pg, &by_name, &by_sub)
                .map_err(Self::pg_error);
        }
        if !self.db.exists() {
            return Ok(None);
        }
        self.with(|c| {
            let (inactive, active, at): (i64, i64, Option<i64>) = c.query_row(
                "SELECT COALESCE(SUM(active = 0), 0), COALESCE(SUM(active = 1 AND deleted = 0), 0), MAX(CASE WHEN active = 0 THEN updated_at END) FROM people WHERE instr(aliases, ?1) > 0 OR instr(aliases, ?2) > 0",
                [&by_name, &by_sub],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            Ok((inactive > 0 && active == 0).then(|| at.unwrap_or(0).max(0) as u64))
        })
    }
}
