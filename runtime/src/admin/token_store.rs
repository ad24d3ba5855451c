//! Where Warden's admin API tokens live: `<data_dir>/tokens.db` (SQLite),
//! each token stored only as its SHA-256, with its holder, role, expiry,
//! revocation and last use.
//!
//! Threat model: the file may be read by someone who must not gain access,
//! so only hashes are kept — a token is 256 random bits (`wdn_` + hex), too
//! many to guess from a hash, and it is looked up by its hash. Lifecycle:
//! every token expires (`ttl`, at most the platform's `token_max_ttl`);
//! a revoked or expired token is refused saying which; one principal name
//! holds one role at a time, since the rule that nobody reviews their own
//! app compares names. Tokens from the `tokens.json` of earlier versions
//! are imported once (they never expire, and `tokens list` says so).

use super::tokens::{Principal, Role, Via, name_problem, team_problem};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use warden_host_apis::sqlite::OpenOnFirstUse;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
  expires_at INTEGER, revoked_at INTEGER, revoked_by TEXT, last_used_at INTEGER);
CREATE INDEX IF NOT EXISTS tokens_name ON tokens(name);
";

/// Columns added after the first release: a store made by an older Warden
/// gains them when opened.
const ADDED_COLUMNS: [(&str, &str); 1] = [("team", "TEXT")];

/// How often a token's last use is written back (a busy dashboard should
/// not turn every read into a write).
const LAST_USE_RESOLUTION: u64 = 60;

/// One token as `tokens list` shows it: never the token, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Short and stable: the first 12 hex digits of the token's hash.
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The holder's team, for policies (`input.request.team`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub created: String,
    pub created_by: String,
    /// RFC 3339; `None` for tokens imported from before expiry existed.
    pub expires: Option<String>,
    pub revoked: Option<String>,
    pub revoked_by: Option<String>,
    pub last_used: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
}

/// Why a presented token signs in no one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not a token Warden issued (or the store cannot be read).
    Unknown,
    /// It expired at this time (RFC 3339).
    Expired(String),
    /// It was revoked at this time (RFC 3339).
    Revoked(String),
}

/// Why a token could not be created or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("`{0}`: {1}")]
    BadName(String, String),
    #[error(
        "`{name}` holds the {has} role already; one name holds one role, since nobody may review their own app\n  fix: pass --replace (\"replace\": true) to revoke its {has} tokens in the same step, or give this role to another name"
    )]
    RoleTaken { name: String, has: &'static str },
    #[error(
        "a token may live at most {max} (admin.token_max_ttl); {asked} asked\n  fix: ask for a shorter --ttl, or raise admin.token_max_ttl in warden.toml"
    )]
    TtlOverMax { asked: String, max: String },
    #[error("--team: {0}")]
    BadTeam(String),
    #[error("no active token has the name or id `{0}`")]
    NotFound(String),
    #[error("the token store {path}: {message}")]
    Store { path: PathBuf, message: String },
}

/// What a new token is for.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub role: Role,
    /// The holder's team (`input.request.team` in publish policies).
    pub team: Option<&'a str>,
    /// How long it lives; `None` is `max_ttl`.
    pub ttl: Option<Duration>,
    /// The platform's `admin.token_max_ttl`.
    pub max_ttl: Duration,
    /// Who creates it (an audit actor).
    pub by: &'a str,
    /// Revoke the name's tokens of another role in the same step.
    pub replace: bool,
}

/// A token as created: the token itself (shown once) and its record.
pub struct Created {
    pub token: String,
    pub record: TokenRecord,
    /// Tokens of the name's previous role revoked by `replace`.
    pub replaced: Vec<TokenRecord>,
}

pub struct TokenStore {
    /// The database nodes share, when they do: the tokens live there.
    shared: Option<std::sync::Arc<crate::state::postgres::Postgres>>,
    db: PathBuf,
    legacy: PathBuf,
    conn: OpenOnFirstUse<Mutex<Connection>>,
    /// The platform's `admin.token_max_ttl`, in seconds, applied on read.
    max_ttl: Option<u64>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339 of `secs` since the epoch.
pub(crate) fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn role_of(text: &str) -> Role {
    match text {
        "admin" => Role::Admin,
        "reviewer" => Role::Reviewer,
        "auditor" => Role::Auditor,
        "scim" => Role::Scim,
        _ => Role::Creator,
    }
}

const COLUMNS: &str = "id, name, role, created_at, created_by, expires_at, revoked_at, revoked_by, last_used_at, team";

/// A token row as stored, whichever database holds it (times in seconds
/// since the epoch).
pub struct RawToken {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created: u64,
    pub created_by: String,
    pub expires: Option<u64>,
    pub revoked: Option<u64>,
    pub revoked_by: Option<String>,
    pub last_used: Option<u64>,
    pub team: Option<String>,
}

/// A stored token as a record at time `at`. With `max_ttl` (seconds), no
/// token outlives its creation by more: a lowered maximum applies to
/// tokens made before, and tokens imported without an expiry get one.
fn to_record(raw: RawToken, at: u64, max_ttl: Option<u64>) -> TokenRecord {
    let cap = max_ttl.map(|m| raw.created.saturating_add(m));
    let expires: Option<u64> = match (raw.expires, cap) {
        (Some(e), Some(c)) => Some(e.min(c)),
        (e, c) => e.or(c),
    };
    let state = if raw.revoked.is_some() {
        "revoked"
    } else if expires.is_some_and(|e| e <= at) {
        "expired"
    } else {
        "active"
    };
    TokenRecord {
        id: raw.id,
        name: raw.name,
        role: role_of(&raw.role),
        created: rfc3339(raw.created),
        created_by: raw.created_by,
        expires: expires.map(rfc3339),
        revoked: raw.revoked.map(rfc3339),
        revoked_by: raw.revoked_by,
        last_used: raw.last_used.map(rfc3339),
        team: raw.team,
        state,
    }
}

/// A `tokens.db` row as a record at time `at` (see [`to_record`]).
fn record(r: &rusqlite::Row<'_>, at: u64, max_ttl: Option<u64>) -> rusqlite::Result<TokenRecord> {
    let raw = RawToken {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        created: r.get(3)?,
        created_by: r.get(4)?,
        expires: r.get(5)?,
        revoked: r.get(6)?,
        revoked_by: r.get(7)?,
        last_used: r.get(8)?,
        team: r.get(9)?,
    };
    Ok(to_record(raw, at, max_ttl))
}

/// The tokens of `legacy` (a `tokens.json` from an earlier version) put
/// into `conn`'s table.
fn import_legacy_into(conn: &mut Connection, legacy: &Path) -> rusqlite::Result<()> {
    #[derive(serde::Deserialize)]
    struct Old {
        name: String,
        role: Role,
        hash: String,
        #[serde(default)]
        created: String,
    }
    let Ok(text) = std::fs::read_to_string(legacy) else {
        return Ok(());
    };
    let Ok(old) = serde_json::from_str::<Vec<Old>>(&text) else {
        tracing::warn!(
            "{} does not parse; its tokens were not imported (fix or remove it)",
            legacy.display()
        );
        return Ok(());
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for t in &old {
        let created = humantime::parse_rfc3339(&t.created)
            .ok()
            .and_then(|c| c.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or_else(now);
        tx.execute(
            &format!("INSERT OR IGNORE INTO tokens ({COLUMNS}, hash) VALUES (?1, ?2, ?3, ?4, 'tokens.json', NULL, NULL, NULL, NULL, NULL, ?5)"),
            params![&t.hash[..12.min(t.hash.len())], t.name, t.role.as_str(), created, t.hash],
        )?;
    }
    tx.commit()
}

/// Imports `tokens.json` from before `tokens.db` existed, once: the file
/// is renamed after its tokens are in.
fn import_legacy(conn: &mut Connection, legacy: &Path) -> rusqlite::Result<()> {
    if !legacy.exists() {
        return Ok(());
    }
    import_legacy_into(conn, legacy)?;
    let _ = std::fs::rename(legacy, legacy.with_extension("json.imported"));
    Ok(())
}

impl TokenStore {
    /// The store of `data_dir`; opened on first use, so an unreadable
    /// store is an error of the call that needs it.
    pub fn new(data_dir: &Path) -> TokenStore {
        TokenStore {
            shared: None,
            db: data_dir.join("tokens.db"),
            legacy: data_dir.join("tokens.json"),
            conn: OpenOnFirstUse::later(),
            max_ttl: None,
        }
    }

    /// The store `runtime` uses: its data directory's, or the database its
    /// nodes share.
    pub fn of(runtime: &crate::runtime::Runtime) -> TokenStore {
        TokenStore {
            shared: runtime.shared().cloned(),
            ..TokenStore::new(runtime.data_dir())
        }
        .with_max_ttl(runtime.platform().admin.token_max_ttl.get())
    }

    fn shared_error(&self, e: crate::state::postgres::PgError) -> TokenError {
        TokenError::Store {
            path: PathBuf::from("PostgreSQL"),
            message: e.to_string(),
        }
    }

    /// Caps every token's life at `max_ttl` from its creation, also for
    /// tokens made under a longer maximum or imported without expiry.
    pub fn with_max_ttl(mut self, max_ttl: Duration) -> TokenStore {
        self.max_ttl = Some(max_ttl.as_secs());
        self
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        let conn = self.conn.get(|| {
            let mut opened = warden_host_apis::sqlite::open_wal(&self.db, "FULL", SCHEMA)
                .map_err(|e| self.store_error(e))?;
            warden_host_apis::sqlite::add_missing_columns(&opened, "tokens", &ADDED_COLUMNS)
                .map_err(|e| self.store_error(e))?;
            import_legacy(&mut opened, &self.legacy).map_err(|e| self.store_error(e))?;
            Ok(Mutex::new(opened))
        })?;
        f(&mut conn.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn store_error(&self, e: rusqlite::Error) -> TokenError {
        TokenError::Store {
            path: self.db.clone(),
            message: e.to_string(),
        }
    }

    /// Creates a token; the only time the token exists outside its holder.
    pub fn create(&self, new: NewToken<'_>) -> Result<Created, TokenError> {
        let name = new.name.to_lowercase();
        if let Some(problem) = name_problem(&name) {
            return Err(TokenError::BadName(name, problem));
        }
        if let Some(problem) = new.team.and_then(team_problem) {
            return Err(TokenError::BadTeam(problem));
        }
        let ttl = new.ttl.unwrap_or(new.max_ttl);
        if ttl > new.max_ttl || ttl.is_zero() {
            return Err(TokenError::TtlOverMax {
                asked: crate::config::Dur(ttl).to_string(),
                max: crate::config::Dur(new.max_ttl).to_string(),
            });
        }
        let bytes = warden_host_apis::aead::random_key().map_err(|e| TokenError::Store {
            path: self.db.clone(),
            message: e,
        })?;
        let token = format!("wdn_{}", hex::encode(bytes));
        let hashed = hash(&token);
        let id = hashed[..12].to_string();
        let at = now();
        let taken = |others: &[TokenRecord]| match others.first() {
            Some(other) if !new.replace => Err(TokenError::RoleTaken {
                name: name.clone(),
                has: other.role.as_str(),
            }),
            _ => Ok(()),
        };
        let others = match &self.shared {
            Some(pg) => {
                let insert = crate::state::postgres::tokens::Insert {
                    id: id.clone(),
                    name: name.clone(),
                    role: new.role.as_str(),
                    team: new.team.map(str::to_string),
                    hash: hashed.clone(),
                    created: at,
                    expires: at + ttl.as_secs(),
                    by: new.by.to_string(),
                };
                let stored = crate::state::postgres::tokens::create(pg, insert, new.replace)
                    .map_err(|e| self.shared_error(e))?;
                let records = |raws: Vec<RawToken>| -> Vec<TokenRecord> {
                    raws.into_iter()
                        .map(|r| to_record(r, at, self.max_ttl))
                        .collect()
                };
                match stored {
                    Ok(revoked) => records(revoked),
                    Err(others) => {
                        taken(&records(others))?;
                        Vec::new()
                    }
                }
            }
            None => self.create_here(&new, &name, &id, &hashed, at, ttl, taken)?,
        };
        let replaced = others
            .into_iter()
            .map(|mut r| {
                r.state = "revoked";
                r.revoked = Some(rfc3339(at));
                r.revoked_by = Some(new.by.to_string());
                r
            })
            .collect();
        Ok(Created {
            record: TokenRecord {
                id: id.clone(),
                name: name.clone(),
                role: new.role,
                team: new.team.map(str::to_string),
                created: rfc3339(at),
                created_by: new.by.to_string(),
                expires: Some(rfc3339(at + ttl.as_secs())),
                revoked: None,
                revoked_by: None,
                last_used: None,
                state: "active",
            },
            token,
            replaced,
        })
    }

    /// [`TokenStore::create`]'s change in `tokens.db`: the name's active
    /// tokens of another role are read, refused by `taken` or revoked, and
    /// the new token is inserted, in one transaction; returns the revoked.
    #[allow(clippy::too_many_arguments)]
    fn create_here(
        &self,
        new: &NewToken<'_>,
        name: &str,
        id: &str,
        hashed: &str,
        at: u64,
        ttl: Duration,
        taken: impl FnOnce(&[TokenRecord]) -> Result<(), TokenError>,
    ) -> Result<Vec<TokenRecord>, TokenError> {
        self.with(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.store_error(e))?;
            let others: Vec<TokenRecord> = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM tokens WHERE name = ?1 AND role != ?2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?3)"
                ))
                .and_then(|mut s| {
                    s.query_map(params![name, new.role.as_str(), at], |r| record(r, at, self.max_ttl))?
                        .collect()
                })
                .map_err(|e| self.store_error(e))?;
            taken(&others)?;
            for other in &others {
                tx.execute(
                    "UPDATE tokens SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1",
                    params![other.id, at, new.by],
                )
                .map_err(|e| self.store_error(e))?;
            }
            tx.execute(
                &format!("INSERT INTO tokens ({COLUMNS}, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, NULL, ?7, ?8)"),
                params![id, name, new.role.as_str(), at, new.by, at + ttl.as_secs(), new.team, hashed],
            )
            .map_err(|e| self.store_error(e))?;
            tx.commit().map_err(|e| self.store_error(e))?;
            Ok(others)
        })
    }

    /// The principal a presented token belongs to, or why it signs in no
    /// one. A token recorded under a name [`name_problem`] rejects (from
    /// before names were checked) could pose as an OIDC principal: it is
    /// refused, and the host's log says so.
    pub fn verify(&self, token: &str) -> Result<Principal, Refused> {
        let at = now();
        let found = match &self.shared {
            Some(pg) => {
                crate::state::postgres::tokens::find(pg, &hash(token), at, LAST_USE_RESOLUTION)
                    .map(|raw| raw.map(|r| to_record(r, at, self.max_ttl)))
                    .map_err(|e| self.shared_error(e))
            }
            None => self.find_here(token, at),
        };
        let record = match found {
            Ok(Some(r)) => r,
            Ok(None) => return Err(Refused::Unknown),
            Err(e) => {
                tracing::warn!("admin API: {e}");
                return Err(Refused::Unknown);
            }
        };
        match record.state {
            "revoked" => return Err(Refused::Revoked(record.revoked.unwrap_or_default())),
            "expired" => return Err(Refused::Expired(record.expires.unwrap_or_default())),
            _ => {}
        }
        let name = record.name.to_lowercase();
        if let Some(problem) = name_problem(&name) {
            tracing::warn!(
                "admin API: the token named {:?} is refused: {problem}; revoke it and create one under a plain name",
                record.name
            );
            return Err(Refused::Unknown);
        }
        Ok(Principal {
            name,
            role: record.role,
            via: Via::Token,
            team: record.team,
        })
    }

    /// [`TokenStore::verify`]'s read of `tokens.db` (and its best-effort
    /// write of the last use).
    fn find_here(&self, token: &str, at: u64) -> Result<Option<TokenRecord>, TokenError> {
        self.with(|conn| {
            let row = conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM tokens WHERE hash = ?1"),
                    [hash(token)],
                    |r| record(r, at, self.max_ttl),
                )
                .optional()
                .map_err(|e| self.store_error(e))?;
            if let Some(r) = &row
                && r.state == "active"
            {
                // Best effort: a failed write of the last use refuses no one.
                let _ = conn.execute(
                    "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
                    params![r.id, at, at.saturating_sub(LAST_USE_RESOLUTION)],
                );
            }
            Ok(row)
        })
    }

    /// Revokes the active tokens whose id or name is `which`; returns them.
    pub fn revoke(&self, which: &str, by: &str) -> Result<Vec<TokenRecord>, TokenError> {
        let at = now();
        let which = which.trim().to_lowercase();
        if let Some(pg) = &self.shared {
            let hit = crate::state::postgres::tokens::revoke(pg, &which, at, by)
                .map_err(|e| self.shared_error(e))?;
            if hit.is_empty() {
                return Err(TokenError::NotFound(which));
            }
            return Ok(hit
                .into_iter()
                .map(|r| {
                    let mut r = to_record(r, at, self.max_ttl);
                    r.state = "revoked";
                    r.revoked = Some(rfc3339(at));
                    r.revoked_by = Some(by.to_string());
                    r
                })
                .collect());
        }
        self.with(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.store_error(e))?;
            let hit: Vec<TokenRecord> = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM tokens WHERE (id = ?1 OR name = ?1) AND revoked_at IS NULL"
                ))
                .and_then(|mut s| s.query_map([&which], |r| record(r, at, self.max_ttl))?.collect())
                .map_err(|e| self.store_error(e))?;
            if hit.is_empty() {
                return Err(TokenError::NotFound(which.clone()));
            }
            tx.execute(
                "UPDATE tokens SET revoked_at = ?2, revoked_by = ?3 WHERE (id = ?1 OR name = ?1) AND revoked_at IS NULL",
                params![which, at, by],
            )
            .map_err(|e| self.store_error(e))?;
            tx.commit().map_err(|e| self.store_error(e))?;
            Ok(hit
                .into_iter()
                .map(|mut r| {
                    r.state = "revoked";
                    r.revoked = Some(rfc3339(at));
                    r.revoked_by = Some(by.to_string());
                    r
                })
                .collect())
        })
    }

    /// Makes `records` active again (undoing a replace that could not be
    /// audited).
    fn unrevoke(&self, records: &[TokenRecord]) -> Result<(), TokenError> {
        if let Some(pg) = &self.shared {
            let ids = records.iter().map(|r| r.id.clone()).collect();
            return crate::state::postgres::tokens::unrevoke(pg, ids)
                .map_err(|e| self.shared_error(e));
        }
        self.with(|conn| {
            for r in records {
                conn.execute(
                    "UPDATE tokens SET revoked_at = NULL, revoked_by = NULL WHERE id = ?1",
                    [&r.id],
                )
                .map_err(|e| self.store_error(e))?;
            }
            Ok(())
        })
    }

    /// Every token, oldest first, read without changing anything: the
    /// store is opened read-only, and a `tokens.json` from an earlier
    /// version is read, not imported (for `warden tokens list`, which may
    /// run as another user than the host).
    pub fn peek(&self) -> Result<Vec<TokenRecord>, TokenError> {
        if self.shared.is_some() {
            return self.list();
        }
        let at = now();
        if !self.db.exists() {
            return Ok(self.legacy_records(at));
        }
        let conn =
            Connection::open_with_flags(&self.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| self.store_error(e))?;
        conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tokens ORDER BY created_at, id"
        ))
        .and_then(|mut s| s.query_map([], |r| record(r, at, self.max_ttl))?.collect())
        .map_err(|e| self.store_error(e))
    }

    /// The tokens of a `tokens.json` not imported yet, as records.
    fn legacy_records(&self, at: u64) -> Vec<TokenRecord> {
        let Ok(conn) = Connection::open_in_memory() else {
            return Vec::new();
        };
        let mut conn = conn;
        if conn.execute_batch(SCHEMA).is_err()
            || import_legacy_into(&mut conn, &self.legacy).is_err()
        {
            return Vec::new();
        }
        conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tokens ORDER BY created_at, id"
        ))
        .and_then(|mut s| s.query_map([], |r| record(r, at, self.max_ttl))?.collect())
        .unwrap_or_default()
    }

    /// Every token, oldest first.
    pub fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        let at = now();
        if let Some(pg) = &self.shared {
            return crate::state::postgres::tokens::list(pg)
                .map(|raws| {
                    raws.into_iter()
                        .map(|r| to_record(r, at, self.max_ttl))
                        .collect()
                })
                .map_err(|e| self.shared_error(e));
        }
        self.with(|conn| {
            conn.prepare(&format!(
                "SELECT {COLUMNS} FROM tokens ORDER BY created_at, id"
            ))
            .and_then(|mut s| s.query_map([], |r| record(r, at, self.max_ttl))?.collect())
            .map_err(|e| self.store_error(e))
        })
    }
}

/// The audit event of a token change: who holds it and its id, never the
/// token.
fn token_event(
    kind: crate::audit::AuditKind,
    record: &TokenRecord,
    actor: &str,
) -> crate::audit::AuditEvent {
    crate::audit::AuditEvent {
        kind,
        app: None,
        actor: actor.into(),
        details: serde_json::json!({
            "token": record.id,
            "name": record.name,
            "role": record.role.as_str(),
            "expires": record.expires,
        }),
    }
}

impl TokenStore {
    /// [`TokenStore::create`], audited as `token.created` (and
    /// `token.revoked` for tokens it replaced). A token whose creation
    /// cannot be audited is revoked again and the call fails.
    pub fn create_audited(
        &self,
        new: NewToken<'_>,
        audit: &dyn crate::audit::AuditBackend,
    ) -> Result<Created, TokenError> {
        let by = new.by.to_string();
        let created = self.create(new)?;
        let mut events = vec![token_event(
            crate::audit::AuditKind::TokenCreated,
            &created.record,
            &by,
        )];
        events.extend(
            created
                .replaced
                .iter()
                .map(|r| token_event(crate::audit::AuditKind::TokenRevoked, r, &by)),
        );
        for event in events {
            if let Err(e) = audit.append_blocking(event) {
                // Undone as a whole: the new token revoked, the replaced
                // ones active again — nothing changed that is not on record.
                // Said as it is when the undo fails too (the store and the
                // log may be down together).
                let undone = self
                    .revoke(&created.record.id, "warden")
                    .and_then(|_| self.unrevoke(&created.replaced));
                let outcome = match undone {
                    Ok(()) => "nothing was changed".to_string(),
                    Err(undo) => format!(
                        "and undoing it failed too ({undo}): token {} may be active without an audit entry; revoke it with `warden tokens revoke {}` once the store answers",
                        created.record.id, created.record.id
                    ),
                };
                return Err(TokenError::Store {
                    path: self.db.clone(),
                    message: format!("the audit log could not be written ({e}); {outcome}"),
                });
            }
        }
        Ok(created)
    }

    /// [`TokenStore::revoke`], audited as `token.revoked` per token.
    pub fn revoke_audited(
        &self,
        which: &str,
        by: &str,
        audit: &dyn crate::audit::AuditBackend,
    ) -> Result<Vec<TokenRecord>, TokenError> {
        let revoked = self.revoke(which, by)?;
        for r in &revoked {
            audit
                .append_blocking(token_event(crate::audit::AuditKind::TokenRevoked, r, by))
                .map_err(|e| TokenError::Store {
                    path: self.db.clone(),
                    message: format!("revoked, but the audit log could not be written: {e}"),
                })?;
        }
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(name: &'a str, role: Role) -> NewToken<'a> {
        NewToken {
            name,
            role,
            team: None,
            ttl: None,
            max_ttl: Duration::from_secs(3600),
            by: "test",
            replace: false,
        }
    }

    fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let store = TokenStore::new(dir.path());
        (dir, store)
    }

    #[test]
    fn a_token_verifies_to_its_name_and_role_and_only_its_hash_is_stored() {
        let (dir, store) = store();
        let made = store
            .create(new("Alice", Role::Admin))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(made.token.starts_with("wdn_") && made.token.len() == 68);
        assert_eq!(
            store.verify(&made.token),
            Ok(Principal {
                name: "alice".into(),
                role: Role::Admin,
                via: Via::Token,
                team: None,
            })
        );
        assert_eq!(store.verify("wdn_guess"), Err(Refused::Unknown));
        // The file and its WAL (a close leaves commits there).
        let mut raw = std::fs::read(dir.path().join("tokens.db")).unwrap_or_default();
        raw.extend(std::fs::read(dir.path().join("tokens.db-wal")).unwrap_or_default());
        assert!(raw.len() > 4096, "the store was read");
        let needle = &made.token.as_bytes()[4..];
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
        let list = store.list().unwrap_or_default();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].state, "active");
        assert!(list[0].last_used.is_some(), "its use is recorded");
    }

    #[test]
    fn a_revoked_or_expired_token_is_refused_saying_which() {
        let (dir, store) = store();
        let made = store
            .create(new("bob", Role::Creator))
            .unwrap_or_else(|e| unreachable!("{e}"));
        let revoked = store
            .revoke(&made.record.id, "admin")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(revoked.len(), 1);
        assert!(matches!(
            store.verify(&made.token),
            Err(Refused::Revoked(_))
        ));
        assert!(matches!(
            store.revoke(&made.record.id, "admin"),
            Err(TokenError::NotFound(_))
        ));
        let old = store
            .create(new("carol", Role::Creator))
            .unwrap_or_else(|e| unreachable!("{e}"));
        // Its expiry passes (set in the file, as time would).
        let conn =
            Connection::open(dir.path().join("tokens.db")).unwrap_or_else(|e| unreachable!("{e}"));
        conn.execute("UPDATE tokens SET expires_at = 1 WHERE name = 'carol'", [])
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            store.verify(&old.token),
            Err(Refused::Expired("1970-01-01T00:00:01Z".into()))
        );
    }

    #[test]
    fn one_name_holds_one_role_unless_the_old_tokens_are_revoked_in_the_same_step() {
        let (_dir, store) = store();
        let creator = store
            .create(new("erin", Role::Creator))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            store.create(new("erin", Role::Creator)).is_ok(),
            "same role, another token"
        );
        assert!(matches!(
            store.create(new("erin", Role::Reviewer)),
            Err(TokenError::RoleTaken { has: "creator", .. })
        ));
        let reviewer = store
            .create(NewToken {
                replace: true,
                ..new("erin", Role::Reviewer)
            })
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(reviewer.replaced.len(), 2);
        assert!(matches!(
            store.verify(&creator.token),
            Err(Refused::Revoked(_))
        ));
        assert_eq!(
            store.verify(&reviewer.token).map(|p| p.role),
            Ok(Role::Reviewer)
        );
    }

    #[test]
    fn a_ttl_above_the_platform_maximum_is_refused() {
        let (_dir, store) = store();
        let too_long = NewToken {
            ttl: Some(Duration::from_secs(7200)),
            ..new("dan", Role::Auditor)
        };
        let err = store
            .create(too_long)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("at most 1h") && err.contains("2h asked"),
            "{err}"
        );
    }

    #[test]
    fn a_token_carries_its_team_and_a_store_from_before_teams_gains_the_column() {
        let (dir, store) = store();
        // A store as an older Warden made it: no `team` column.
        {
            let old = Connection::open(dir.path().join("tokens.db"))
                .unwrap_or_else(|e| unreachable!("{e}"));
            old.execute_batch(
                "CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, expires_at INTEGER, revoked_at INTEGER, revoked_by TEXT, last_used_at INTEGER);",
            )
            .unwrap_or_else(|e| unreachable!("{e}"));
        }
        let made = store
            .create(NewToken {
                team: Some("payroll"),
                ..new("paula", Role::Creator)
            })
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(made.record.team.as_deref(), Some("payroll"));
        assert_eq!(
            store.verify(&made.token).map(|p| p.team),
            Ok(Some("payroll".into()))
        );
        let plain = store
            .create(new("nora", Role::Creator))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(store.verify(&plain.token).map(|p| p.team), Ok(None));
        let listed = store.list().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            listed
                .iter()
                .any(|t| t.name == "paula" && t.team.as_deref() == Some("payroll"))
        );
        let bad = store.create(NewToken {
            team: Some("pay roll"),
            ..new("pat", Role::Creator)
        });
        assert!(
            matches!(&bad, Err(TokenError::BadTeam(m)) if m.contains("no spaces")),
            "{:?}",
            bad.err().map(|e| e.to_string())
        );
    }

    #[test]
    fn tokens_json_of_earlier_versions_is_imported_once_and_bad_names_sign_in_no_one() {
        let (dir, store) = store();
        let legacy = serde_json::json!([
            { "name": "ops", "role": "admin", "hash": hash("wdn_old"), "created": "2026-01-01T00:00:00Z" },
            { "name": "https://idp.example.com#alice", "role": "admin", "hash": hash("wdn_posing"), "created": "" },
        ]);
        std::fs::write(dir.path().join("tokens.json"), legacy.to_string())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            store.verify("wdn_old").map(|p| p.name),
            Ok("ops".to_string())
        );
        assert_eq!(store.verify("wdn_posing"), Err(Refused::Unknown));
        assert!(!dir.path().join("tokens.json").exists());
        assert!(dir.path().join("tokens.json.imported").exists());
        let list = store.list().unwrap_or_default();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].expires, None, "imported tokens never expire");
    }
}
