//! The deploy registry: every version of every app deployed through the
//! admin API, its review state, and the operator's quota overrides and
//! templates, in `registry.db` (SQLite) in the data directory.
//!
//! Components are kept content-addressed in `components/<sha256>.wasm` and
//! each deploy's manifest in `deploys/<id>/app.toml` (pointing at its
//! component), so a restart loads exactly what was approved, from the
//! artifact cache, without recompiling. A deploy is recorded only after
//! both files are written and synced; a crash in between leaves an unused
//! file, never a record without its files.

mod backend;
pub mod collect;
pub mod compare;
mod periodic;

pub use backend::{Registry, RegistryBackend, RegistryError};
pub use periodic::PeriodicReview;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use warden_host_apis::metering::QuotaRequest;
use warden_host_apis::sqlite::OpenOnFirstUse;

pub use crate::config::templates::Template;

/// Where a deploy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a reviewer; not served.
    Pending,
    /// A reviewer approved it; it goes live in the same step (seen in a
    /// version's history, not as where it rests).
    Approved,
    /// Served (the one active version of its app).
    Active,
    /// The live version of an app an admin (or containment) killed: still
    /// its app's version, refused until unkilled, which makes it active
    /// again.
    Killed,
    /// Turned down by a reviewer; never served.
    Rejected,
    /// Was its app's live version; an admin retired it (an app no longer
    /// needed, or whose owner left): not served, its stored data kept
    /// until its TTL, reversible by an admin (`unretire`), which makes it
    /// live again. A newer version going live supersedes it.
    Retired,
    /// Was active; a later version replaced it.
    Superseded,
    /// Did not pass the checks at deploy (the error is the review note).
    Failed,
    /// Removed by an admin with the whole app; kept as a record only.
    Deleted,
}

impl Status {
    /// Whether this is its app's live version (active, or killed).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Active | Status::Killed)
    }

    /// Whether this is its app's current version: live, or retired (not
    /// served, but what a new version replaces and is compared with).
    pub fn is_current(self) -> bool {
        self.is_live() || self == Status::Retired
    }

    pub(crate) fn parse(s: &str) -> Status {
        match s {
            "active" => Status::Active,
            "approved" => Status::Approved,
            "killed" => Status::Killed,
            "rejected" => Status::Rejected,
            "superseded" => Status::Superseded,
            "retired" => Status::Retired,
            "failed" => Status::Failed,
            "deleted" => Status::Deleted,
            _ => Status::Pending,
        }
    }
}

/// One deployed version.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub id: i64,
    pub app: String,
    pub version: String,
    pub digest: String,
    pub owner: Option<String>,
    pub deployed_by: String,
    pub deployed_at: String,
    pub status: Status,
    /// The deployer's role (`creator`, `admin`), which decides whether the
    /// route rules for owners apply when it goes live; unknown (`None`) for
    /// deploys recorded before Warden kept it, treated as a creator's.
    pub deployed_as: Option<String>,
    /// The deployer's team, when their credential names one (a token's
    /// `--team`, an OIDC `team_claim`): a later decision on this deploy
    /// (an approval's) is made on the deployer's request.
    pub deployed_team: Option<String>,
    /// SHA-256 of the manifest as the deployer sent it (hex); `None` for
    /// deploys recorded before Warden kept it.
    pub manifest_sha256: Option<String>,
    /// SHA-256 of the manifest file the host stored for it (the sent one
    /// with the component's path and owner filled in), checked whenever the
    /// version is loaded; `None` for deploys recorded before Warden kept it.
    #[serde(skip)]
    pub stored_sha256: Option<String>,
    /// Why it needed review (empty: it went live at once).
    pub reasons: Vec<String>,
    /// Whether a reviewer approved it (unlocks approval-only data classes).
    pub approved: bool,
    pub reviewed_by: Option<String>,
    pub review_note: Option<String>,
    #[serde(skip)]
    pub manifest_path: PathBuf,
}

/// The embedded registry's database and files; reached through
/// [`Registry`], which runs its blocking work off the caller's thread.
pub(crate) struct RegistryDb {
    dir: PathBuf,
    conn: OpenOnFirstUse<Mutex<Connection>>,
    /// Held while files are added (stage, uploads) or collected, so a
    /// collection never removes a file a deploy is about to name.
    files: Mutex<()>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  app TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL,
  owner TEXT, deployed_by TEXT NOT NULL, deployed_at TEXT NOT NULL,
  status TEXT NOT NULL, reasons TEXT NOT NULL, approved INTEGER NOT NULL,
  reviewed_by TEXT, review_note TEXT, manifest_path TEXT NOT NULL,
  deployed_as TEXT, manifest_sha256 TEXT, stored_sha256 TEXT);
CREATE INDEX IF NOT EXISTS deployments_app ON deployments(app, status);
CREATE TABLE IF NOT EXISTS quotas (
  app TEXT PRIMARY KEY, quota TEXT NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
  name TEXT PRIMARY KEY, template TEXT NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL);
";

/// Columns added after the first release, with their types: a registry
/// made by an older Warden gains them when opened.
const ADDED_COLUMNS: [(&str, &str); 7] = [
    ("deployed_as", "TEXT"),
    ("deployed_team", "TEXT"),
    ("manifest_sha256", "TEXT"),
    ("stored_sha256", "TEXT"),
    ("changed_by", "TEXT"),
    ("change_why", "TEXT"),
    ("policy_revision", "TEXT"),
];

/// Every status a deploy takes is a row of `transitions`, written by the
/// database itself, so no state change can go unrecorded: who
/// (`changed_by`), why (`change_why`) and the policy revision the deploy's
/// decision rests on, as the statement that moved it set them.
const HISTORY: &str = "
CREATE TABLE IF NOT EXISTS transitions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, deploy INTEGER NOT NULL,
  from_status TEXT, to_status TEXT NOT NULL, by TEXT, at TEXT NOT NULL,
  why TEXT, revision TEXT);
CREATE INDEX IF NOT EXISTS transitions_deploy ON transitions(deploy);
CREATE TRIGGER IF NOT EXISTS deployment_created AFTER INSERT ON deployments BEGIN
  INSERT INTO transitions (deploy, from_status, to_status, by, at, why, revision)
  VALUES (NEW.id, NULL, NEW.status, NEW.changed_by, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
          NEW.change_why, NEW.policy_revision);
END;
CREATE TRIGGER IF NOT EXISTS deployment_moved AFTER UPDATE OF status ON deployments
  WHEN OLD.status IS NOT NEW.status BEGIN
  INSERT INTO transitions (deploy, from_status, to_status, by, at, why, revision)
  VALUES (NEW.id, OLD.status, NEW.status, NEW.changed_by, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
          NEW.change_why, NEW.policy_revision);
END;
";

/// The file beside a deploy's stored `app.toml` that holds the manifest
/// exactly as it was sent.
pub const SENT_MANIFEST: &str = "sent.toml";

/// One step of a deploy's history.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Transition {
    /// `None` for the deploy's first status.
    pub from: Option<String>,
    pub to: String,
    /// A principal's name, or `warden` for the host.
    pub by: Option<String>,
    /// RFC 3339, UTC.
    pub at: String,
    pub why: Option<String>,
    /// The policy revision of the decision the deploy rests on.
    pub revision: Option<String>,
}

/// Brings a registry made by an older Warden up to [`SCHEMA`]'s columns.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    warden_host_apis::sqlite::add_missing_columns(conn, "deployments", &ADDED_COLUMNS)?;
    conn.execute_batch(HISTORY)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Deployment> {
    let reasons: String = r.get(8)?;
    let status: String = r.get(7)?;
    let path: String = r.get(12)?;
    Ok(Deployment {
        id: r.get(0)?,
        app: r.get(1)?,
        version: r.get(2)?,
        digest: r.get(3)?,
        owner: r.get(4)?,
        deployed_by: r.get(5)?,
        deployed_at: r.get(6)?,
        status: Status::parse(&status),
        reasons: serde_json::from_str(&reasons).unwrap_or_default(),
        approved: r.get::<_, i64>(9)? != 0,
        reviewed_by: r.get(10)?,
        review_note: r.get(11)?,
        manifest_path: PathBuf::from(path),
        deployed_as: r.get(13)?,
        manifest_sha256: r.get(14)?,
        stored_sha256: r.get(15)?,
        deployed_team: r.get(16)?,
    })
}

const COLUMNS: &str = "id, app, version, digest, owner, deployed_by, deployed_at, status, reasons, approved, reviewed_by, review_note, manifest_path, deployed_as, manifest_sha256, stored_sha256, deployed_team";

/// Statuses of deploys that hold their app's name and version: a failed
/// deploy claims nothing, and an admin's delete frees both.
const CLAIMING: &str = "status NOT IN ('failed', 'deleted')";

/// Why a deploy was not recorded.
#[derive(Debug)]
pub enum Refusal {
    /// The version exists already (this deploy of it).
    VersionTaken(Box<Deployment>),
    /// The app's name is held by another owner.
    NameTaken(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::VersionTaken(d) => write!(
                f,
                "app.toml: app.version `{}` of `{}` was deployed already (deploy {}, {}); a deployed version never changes\n  fix: raise app.version",
                d.version,
                d.app,
                d.id,
                d.status.as_str()
            ),
            Refusal::NameTaken(name) => write!(
                f,
                "app.toml: app.name: app `{name}` belongs to someone else\n  fix: pick another app.name"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Killed => "killed",
            Status::Active => "active",
            Status::Rejected => "rejected",
            Status::Superseded => "superseded",
            Status::Retired => "retired",
            Status::Failed => "failed",
            Status::Deleted => "deleted",
        }
    }
}

/// What a new deploy brings.
#[derive(Debug, Clone)]
pub struct NewDeploy {
    pub app: String,
    pub version: String,
    pub owner: Option<String>,
    pub deployed_by: String,
    /// The deployer's role (see [`Deployment::deployed_as`]).
    pub deployed_as: String,
    /// The deployer's team (see [`Deployment::deployed_team`]).
    pub deployed_team: Option<String>,
    /// SHA-256 of the manifest as sent (hex).
    pub manifest_sha256: String,
    /// Whether the name must not be held by another owner (a creator's
    /// deploy; an admin may deploy any app).
    pub owner_must_match: bool,
    /// The manifest as TOML, its `app.component` to be replaced.
    pub manifest: toml::Table,
    /// The manifest text as sent, kept beside the stored one so a later
    /// decision (an approval's) judges exactly what was published.
    pub sent_text: String,
    /// The component's bytes, or `None` when it was uploaded already and
    /// is stored under `digest`.
    pub component: Option<Vec<u8>>,
    pub digest: String,
}

/// Opens `registry.db` in `data_dir`, set up only when the file's stamp is
/// not this version's (see `open_wal_with`): the stamp names every table
/// and added column.
fn open_file(data_dir: &Path) -> rusqlite::Result<Connection> {
    let version = format!("{SCHEMA}{HISTORY}{}{ADDED_COLUMNS:?}", periodic::SCHEMA);
    warden_host_apis::sqlite::open_wal_with(
        &data_dir.join("registry.db"),
        "FULL",
        &version,
        |conn| {
            conn.execute_batch(SCHEMA)?;
            migrate(conn)?;
            conn.execute_batch(periodic::SCHEMA)
        },
    )
}

impl RegistryDb {
    /// Opens (creating if needed) the registry in `data_dir`.
    pub(crate) fn open(data_dir: &Path) -> rusqlite::Result<RegistryDb> {
        Ok(RegistryDb {
            dir: data_dir.to_path_buf(),
            conn: OpenOnFirstUse::opened(Mutex::new(open_file(data_dir)?)),
            files: Mutex::new(()),
        })
    }

    /// The registry in `data_dir`, its file opened by the first call that
    /// reads or writes it (a one-shot command may make none). That call
    /// fails naming the file if it cannot be opened.
    pub(crate) fn open_on_first_use(data_dir: &Path) -> RegistryDb {
        RegistryDb {
            dir: data_dir.to_path_buf(),
            conn: OpenOnFirstUse::later(),
            files: Mutex::new(()),
        }
    }

    /// The lock between adding files and collecting them.
    pub fn files(&self) -> std::sync::MutexGuard<'_, ()> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn conn(&self) -> rusqlite::Result<std::sync::MutexGuard<'_, Connection>> {
        let conn = self.conn.get(|| {
            open_file(&self.dir).map(Mutex::new).map_err(|e| {
                warden_host_apis::sqlite::naming_the_file(&self.dir.join("registry.db"), e)
            })
        })?;
        Ok(conn.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Stores the component and manifest files, then records the deploy as
    /// pending. Returns the record.
    pub fn stage(&self, new: NewDeploy) -> anyhow::Result<Deployment> {
        let _files = self.files();
        let components = self.dir.join("components");
        std::fs::create_dir_all(&components)?;
        let component = components.join(format!("{}.wasm", new.digest));
        match &new.component {
            Some(bytes) if !component.exists() => {
                crate::fsutil::write_atomically(&component, bytes)?;
            }
            None if !component.is_file() => {
                anyhow::bail!("no uploaded component has the digest {}", new.digest);
            }
            _ => {}
        }
        let mut manifest = new.manifest.clone();
        if let Some(toml::Value::Table(app)) = manifest.get_mut("app") {
            app.insert(
                "component".into(),
                toml::Value::String(component.to_string_lossy().into_owned()),
            );
            if let Some(owner) = &new.owner {
                app.insert("owner".into(), toml::Value::String(owner.clone()));
            }
        }
        let text = toml::to_string(&manifest)?;
        let mut conn = self.conn()?;
        // IMMEDIATE: the checks and the insert are one step, also against
        // another process deploying into the same data directory.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let claims: Vec<Deployment> = tx
            .prepare(&format!(
                "SELECT {COLUMNS} FROM deployments WHERE app = ?1 AND {CLAIMING} ORDER BY id DESC"
            ))?
            .query_map([&new.app], row)?
            .collect::<rusqlite::Result<_>>()?;
        if new.owner_must_match
            && let Some(latest) = claims.first()
            && latest.owner != new.owner
        {
            return Err(Refusal::NameTaken(new.app.clone()).into());
        }
        if let Some(d) = claims.into_iter().find(|d| d.version == new.version) {
            return Err(Refusal::VersionTaken(Box::new(d)).into());
        }
        tx.execute(
            "INSERT INTO deployments (app, version, digest, owner, deployed_by, deployed_at, status, reasons, approved, manifest_path, deployed_as, manifest_sha256, changed_by, change_why, deployed_team) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', '[]', 0, '', ?7, ?8, ?5, 'deployed', ?9)",
            params![new.app, new.version, new.digest, new.owner, new.deployed_by, now(), new.deployed_as, new.manifest_sha256, new.deployed_team],
        )?;
        let id = tx.last_insert_rowid();
        let dir = self.dir.join("deploys").join(id.to_string());
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("app.toml");
        crate::fsutil::write_atomically(&path, text.as_bytes())?;
        crate::fsutil::write_atomically(&dir.join(SENT_MANIFEST), new.sent_text.as_bytes())?;
        let stored = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        tx.execute(
            "UPDATE deployments SET manifest_path = ?1, stored_sha256 = ?2 WHERE id = ?3",
            params![path.to_string_lossy(), stored, id],
        )?;
        tx.commit()?;
        drop(conn);
        self.get(id)?
            .ok_or_else(|| anyhow::anyhow!("deploy {id} vanished after it was recorded"))
    }

    pub fn get(&self, id: i64) -> rusqlite::Result<Option<Deployment>> {
        self.conn()?
            .query_row(
                &format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
    }

    /// The owner of `app` so far: the owner of its latest deploy that
    /// claims the name (failed and deleted ones do not). `None` when no
    /// deploy claims it; `Some(None)` when it is claimed without an owner.
    pub fn owner(&self, app: &str) -> rusqlite::Result<Option<Option<String>>> {
        self.conn()?
            .query_row(
                &format!(
                    "SELECT owner FROM deployments WHERE app = ?1 AND {CLAIMING} ORDER BY id DESC LIMIT 1"
                ),
                [app],
                |r| r.get(0),
            )
            .optional()
    }

    /// The names of every app with a deploy that claims its name.
    pub fn names(&self) -> rusqlite::Result<std::collections::BTreeSet<String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT DISTINCT app FROM deployments WHERE {CLAIMING}"
        ))?;
        stmt.query_map([], |r| r.get(0))?.collect()
    }

    /// Marks every deploy of `app` deleted and drops its quota override,
    /// freeing its name; returns how many deploys were marked.
    pub fn delete_app(&self, app: &str, by: &str) -> rusqlite::Result<usize> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE deployments SET status = 'deleted', review_note = 'deleted by ' || ?2, changed_by = ?2, change_why = 'the app was deleted' WHERE app = ?1 AND status != 'deleted'",
            params![app, by],
        )?;
        tx.execute("DELETE FROM quotas WHERE app = ?1", [app])?;
        tx.commit()?;
        Ok(n)
    }

    /// Every version of `app`, newest first.
    pub fn versions(&self, app: &str) -> rusqlite::Result<Vec<Deployment>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE app = ?1 ORDER BY id DESC"
        ))?;
        stmt.query_map([app], row)?.collect()
    }

    /// The live version of every app (active, or killed: served and
    /// refused), to serve at start-up.
    pub fn active(&self) -> rusqlite::Result<Vec<Deployment>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE status IN ('active', 'killed') ORDER BY app, id DESC"
        ))?;
        stmt.query_map([], row)?.collect()
    }

    /// Every pending deploy, oldest first.
    pub fn pending(&self) -> rusqlite::Result<Vec<Deployment>> {
        self.in_status(Status::Pending)
    }

    /// Every retired version, oldest first.
    pub fn retired(&self) -> rusqlite::Result<Vec<Deployment>> {
        self.in_status(Status::Retired)
    }

    fn in_status(&self, status: Status) -> rusqlite::Result<Vec<Deployment>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE status = ?1 ORDER BY id"
        ))?;
        stmt.query_map([status.as_str()], row)?.collect()
    }

    /// Marks deploy `id` pending with `reasons`.
    /// Cancels older pending deploys of `id`'s app: the newer deploy
    /// replaces them (a reviewer approves exactly what is pending).
    const CANCEL_OLDER: &str = "UPDATE deployments SET status = 'superseded', review_note = 'replaced by deploy ' || ?1 || ' before review', changed_by = 'warden', change_why = 'replaced by deploy ' || ?1 || ' before review' WHERE status = 'pending' AND app = (SELECT app FROM deployments WHERE id = ?1) AND id < ?1";

    pub fn hold(&self, id: i64, reasons: &[String]) -> rusqlite::Result<()> {
        let reasons = serde_json::to_string(reasons).unwrap_or_else(|_| "[]".into());
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        tx.execute(Self::CANCEL_OLDER, [id])?;
        tx.execute(
            "UPDATE deployments SET status = 'pending', reasons = ?1 WHERE id = ?2 AND status = 'pending'",
            params![reasons, id],
        )?;
        tx.commit()
    }

    /// Makes deploy `id` the active version of its app, if it is still
    /// pending (not cancelled, rejected or deleted meanwhile: then nothing
    /// changes and the answer is `false`); the version active before is
    /// superseded. `review` records who approved it.
    pub(crate) fn activate(&self, id: i64, review: Option<(&str, &str)>) -> rusqlite::Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let pending: bool = tx.query_row(
            "SELECT COUNT(*) FROM deployments WHERE id = ?1 AND status = 'pending'",
            [id],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !pending {
            return Ok(false);
        }
        tx.execute(
            "UPDATE deployments SET status = 'superseded', changed_by = 'warden', change_why = 'replaced by deploy ' || ?1 WHERE status IN ('active', 'killed', 'retired') AND app = (SELECT app FROM deployments WHERE id = ?1) AND id != ?1",
            [id],
        )?;
        tx.execute(Self::CANCEL_OLDER, [id])?;
        match review {
            Some((by, note)) => {
                tx.execute(
                    "UPDATE deployments SET status = 'approved', approved = 1, reviewed_by = ?2, review_note = ?3, changed_by = ?2, change_why = ?3 WHERE id = ?1",
                    params![id, by, note],
                )?;
                tx.execute(
                    "UPDATE deployments SET status = 'active', changed_by = 'warden', change_why = 'approved: goes live' WHERE id = ?1",
                    [id],
                )?
            }
            None => tx.execute(
                "UPDATE deployments SET status = 'active', changed_by = deployed_by, change_why = 'live at once: the policy asked for no review' WHERE id = ?1",
                [id],
            )?,
        };
        tx.commit()?;
        Ok(true)
    }

    /// Rejects deploy `id` if it is pending; whether it was.
    pub fn reject(&self, id: i64, by: &str, note: &str) -> rusqlite::Result<bool> {
        let n = self.conn()?.execute(
            "UPDATE deployments SET status = 'rejected', reviewed_by = ?2, review_note = ?3, changed_by = ?2, change_why = ?3 WHERE id = ?1 AND status = 'pending'",
            params![id, by, note],
        )?;
        Ok(n > 0)
    }

    /// Moves `app`'s live version to `killed` (or back to `active`), with
    /// who and why; `false` when it has no version in the state to leave.
    pub fn set_killed(
        &self,
        app: &str,
        killed: bool,
        by: &str,
        why: &str,
    ) -> rusqlite::Result<bool> {
        let (from, to) = if killed {
            ("active", "killed")
        } else {
            ("killed", "active")
        };
        let n = self.conn()?.execute(
            "UPDATE deployments SET status = ?3, changed_by = ?4, change_why = ?5 WHERE app = ?1 AND status = ?2",
            params![app, from, to, by, why],
        )?;
        Ok(n > 0)
    }

    /// Retires `app`'s live version (active or killed), with who and why;
    /// the version retired, `None` when the app has no live version.
    pub fn retire(&self, app: &str, by: &str, why: &str) -> rusqlite::Result<Option<Deployment>> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let live = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM deployments WHERE app = ?1 AND status IN ('active', 'killed') ORDER BY id DESC LIMIT 1"),
                [app],
                row,
            )
            .optional()?;
        let Some(mut live) = live else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE deployments SET status = 'retired', changed_by = ?2, change_why = ?3 WHERE id = ?1",
            params![live.id, by, why],
        )?;
        tx.commit()?;
        live.status = Status::Retired;
        Ok(Some(live))
    }

    /// Puts `app`'s retired version back live — `killed` when the kill
    /// state says the app is killed, else `active` — with who and why;
    /// the version, `None` when the app has none retired or has a live
    /// version already (a newer deploy went live).
    pub fn unretire(
        &self,
        app: &str,
        killed: bool,
        by: &str,
        why: &str,
    ) -> rusqlite::Result<Option<Deployment>> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let newest = |status: &str| {
            tx.query_row(
                &format!("SELECT {COLUMNS} FROM deployments WHERE app = ?1 AND status IN ({status}) ORDER BY id DESC LIMIT 1"),
                [app],
                row,
            )
            .optional()
        };
        if newest("'active', 'killed'")?.is_some() {
            return Ok(None);
        }
        let Some(mut retired) = newest("'retired'")? else {
            return Ok(None);
        };
        let to = if killed {
            Status::Killed
        } else {
            Status::Active
        };
        tx.execute(
            "UPDATE deployments SET status = ?2, changed_by = ?3, change_why = ?4 WHERE id = ?1",
            params![retired.id, to.as_str(), by, why],
        )?;
        tx.commit()?;
        retired.status = to;
        Ok(Some(retired))
    }

    /// Records the policy revision deploy `id`'s decision rests on; later
    /// steps of its history carry it.
    pub fn decided(&self, id: i64, revision: &str) -> rusqlite::Result<()> {
        self.conn()?.execute(
            "UPDATE deployments SET policy_revision = ?2 WHERE id = ?1",
            params![id, revision],
        )?;
        Ok(())
    }

    /// Every status deploy `id` has taken, oldest first.
    pub fn history(&self, id: i64) -> rusqlite::Result<Vec<Transition>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT from_status, to_status, by, at, why, revision FROM transitions WHERE deploy = ?1 ORDER BY seq",
        )?;
        stmt.query_map([id], |r| {
            Ok(Transition {
                from: r.get(0)?,
                to: r.get(1)?,
                by: r.get(2)?,
                at: r.get(3)?,
                why: r.get(4)?,
                revision: r.get(5)?,
            })
        })?
        .collect()
    }

    /// Marks deploy `id` failed with the error that stopped it.
    pub fn fail(&self, id: i64, error: &str) -> rusqlite::Result<()> {
        self.conn()?.execute(
            "UPDATE deployments SET status = 'failed', reviewed_by = 'warden', review_note = ?2, changed_by = 'warden', change_why = ?2 WHERE id = ?1 AND status = 'pending'",
            params![id, error],
        )?;
        Ok(())
    }

    /// Where the component stored under `digest` is, whether or not it
    /// is there.
    pub(crate) fn component_path(&self, digest: &str) -> PathBuf {
        self.dir.join("components").join(format!("{digest}.wasm"))
    }

    /// Where deploy `id`'s signed attestation is kept.
    pub(crate) fn attestation_path(&self, id: i64) -> PathBuf {
        self.dir.join("attestations").join(format!("{id}.json"))
    }

    /// Every app's quota override (one that no longer parses is left out,
    /// as [`RegistryDb::quota`] leaves it).
    pub fn quotas(&self) -> rusqlite::Result<std::collections::BTreeMap<String, QuotaRequest>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT app, quota FROM quotas")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = std::collections::BTreeMap::new();
        for r in rows {
            let (app, text) = r?;
            if let Ok(quota) = serde_json::from_str(&text) {
                out.insert(app, quota);
            }
        }
        Ok(out)
    }

    /// The operator's quota override for `app`, if any.
    pub fn quota(&self, app: &str) -> rusqlite::Result<Option<QuotaRequest>> {
        let text: Option<String> = self
            .conn()?
            .query_row("SELECT quota FROM quotas WHERE app = ?1", [app], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub(crate) fn set_quota(
        &self,
        app: &str,
        quota: &QuotaRequest,
        by: &str,
    ) -> rusqlite::Result<()> {
        let text = serde_json::to_string(quota).unwrap_or_default();
        self.conn()?.execute(
            "INSERT INTO quotas (app, quota, set_by, set_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(app) DO UPDATE SET quota = excluded.quota, set_by = excluded.set_by, set_at = excluded.set_at",
            params![app, text, by, now()],
        )?;
        Ok(())
    }

    pub fn template(&self, name: &str) -> rusqlite::Result<Option<Template>> {
        let text: Option<String> = self
            .conn()?
            .query_row(
                "SELECT template FROM templates WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn templates(&self) -> rusqlite::Result<Vec<(String, Template)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT name, template FROM templates ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for r in rows {
            let (name, text) = r?;
            if let Ok(t) = serde_json::from_str(&text) {
                out.push((name, t));
            }
        }
        Ok(out)
    }

    pub(crate) fn set_template(
        &self,
        name: &str,
        template: &Template,
        by: &str,
    ) -> rusqlite::Result<()> {
        let text = serde_json::to_string(template).unwrap_or_default();
        self.conn()?.execute(
            "INSERT INTO templates (name, template, set_by, set_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET template = excluded.template, set_by = excluded.set_by, set_at = excluded.set_at",
            params![name, text, by, now()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_from_before_deployed_as_gains_the_column_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let old = Connection::open(dir.path().join("registry.db")).expect("old db");
        old.execute_batch(
            "CREATE TABLE deployments (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              app TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL,
              owner TEXT, deployed_by TEXT NOT NULL, deployed_at TEXT NOT NULL,
              status TEXT NOT NULL, reasons TEXT NOT NULL, approved INTEGER NOT NULL,
              reviewed_by TEXT, review_note TEXT, manifest_path TEXT NOT NULL);
             INSERT INTO deployments (app, version, digest, owner, deployed_by, deployed_at, status, reasons, approved, manifest_path)
               VALUES ('kv', '1.0.0', 'd', 'erin', 'erin', 't', 'active', '[]', 0, '/x');",
        )
        .expect("old schema");
        drop(old);
        let registry = RegistryDb::open(dir.path()).expect("migrated");
        let versions = registry.versions("kv").expect("read");
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].deployed_as, None);
        assert_eq!(
            registry.owner("kv").expect("owner"),
            Some(Some("erin".into()))
        );
        // A second open finds the column in place.
        RegistryDb::open(dir.path()).expect("opened again");
    }
}
