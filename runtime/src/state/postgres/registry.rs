//! The deploy registry in PostgreSQL, so every node serves what any node
//! deployed or approved.
//!
//! The database is the record: each deploy's row holds its stored
//! manifest and the manifest as sent, and `components` holds every
//! component by digest. A node keeps copies in its own data directory
//! (`deploys/<id>/`, `components/<sha256>.wasm`), written from the record
//! when it reads a deploy whose files it needs and has not got, so a load
//! reads files as on one node and checks them against the digests the
//! record holds. The stored manifest names its component by the relative
//! path `../../components/<sha256>.wasm`, so every node's copy is the same
//! bytes, whatever its data directory.
//!
//! Checks that span rows (a version or name already taken, one live
//! version per app) run under a transaction-scoped advisory lock on the
//! app's name. Every status change is announced on [`CHANNEL`] with the
//! app's name by a trigger (delivered at commit), as is a quota change, so
//! nodes follow at once (`crate::serve::follow`).

use super::{PgError, Postgres};
use crate::registry::collect::{Collected, collect_files};
use crate::registry::{
    Deployment, NewDeploy, Refusal, RegistryBackend, RegistryError, SENT_MANIFEST, Status,
    Template, Transition,
};
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use warden_host_apis::metering::QuotaRequest;

/// The channel registry changes are announced on, with the app's name.
pub const CHANNEL: &str = "warden_registry";

type Result<T> = std::result::Result<T, RegistryError>;

const COLUMNS: &str = "id, app, version, digest, owner, deployed_by, deployed_at, status, reasons, approved, reviewed_by, review_note, deployed_as, manifest_sha256, stored_sha256, deployed_team, manifest, sent";

/// Stores a component, or marks one stored already as stored now (the
/// collection's grace period counts from the last upload or deploy).
const STORE_COMPONENT: &str = "INSERT INTO components (digest, bytes) VALUES ($1, $2) ON CONFLICT (digest) DO UPDATE SET stored_at = now()";

/// Statuses of deploys that hold their app's name and version.
const CLAIMING: &str = "status NOT IN ('failed', 'deleted')";

/// Cancels older pending deploys of deploy `$1`'s app (as the embedded
/// registry does): the newer deploy replaces them.
const CANCEL_OLDER: &str = "UPDATE deployments SET status = 'superseded', review_note = 'replaced by deploy ' || $1::bigint || ' before review', changed_by = 'warden', change_why = 'replaced by deploy ' || $1::bigint || ' before review' WHERE status = 'pending' AND app = (SELECT app FROM deployments WHERE id = $1) AND id < $1";

/// The registry in a PostgreSQL database, with this node's copies of its
/// files in `dir`.
pub struct SharedRegistry {
    pg: Arc<Postgres>,
    dir: PathBuf,
    /// Where a local copy found changed is recorded.
    audit: Arc<dyn crate::audit::AuditBackend>,
    /// Held while files are added or collected (see
    /// [`RegistryBackend::files`]).
    files: Mutex<()>,
}

/// What [`SharedRegistry::copy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copied {
    /// The file held the text already.
    Same,
    /// There was no file.
    New,
    /// The file held something else, now replaced.
    Replaced,
}

/// A deploy as the database holds it.
struct Stored {
    deployment: Deployment,
    manifest: String,
    sent: String,
}

fn backend(e: PgError) -> RegistryError {
    RegistryError::Backend(e.to_string())
}

fn files_error(e: impl Into<anyhow::Error>) -> RegistryError {
    RegistryError::Files(e.into())
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Whether a deploy in `status` needs its files on a node: it is served,
/// waits for review, or may come back (retired).
pub(crate) fn needs_files(status: Status) -> bool {
    matches!(
        status,
        Status::Active | Status::Killed | Status::Pending | Status::Approved | Status::Retired
    )
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Takes the lock that serializes changes to `app`'s deploys, until the
/// transaction ends. Namespace 3 (tokens use 1, secrets 2).
async fn lock_app(
    tx: &tokio_postgres::Transaction<'_>,
    app: &str,
) -> std::result::Result<(), PgError> {
    tx.execute("SELECT pg_advisory_xact_lock(3, hashtext($1))", &[&app])
        .await?;
    Ok(())
}

impl SharedRegistry {
    /// The registry in `pg`, copying files into `data_dir` (a copy found
    /// changed is put back and recorded in `audit`).
    pub fn new(
        pg: Arc<Postgres>,
        data_dir: &Path,
        audit: Arc<dyn crate::audit::AuditBackend>,
    ) -> SharedRegistry {
        SharedRegistry {
            pg,
            dir: data_dir.to_path_buf(),
            audit,
            files: Mutex::new(()),
        }
    }

    /// Rows of `sql` (selecting [`COLUMNS`]) with `params`, their files
    /// copied to this node where it needs them.
    async fn deployments(&self, sql: String, params: Vec<String>) -> Result<Vec<Deployment>> {
        let dir = self.dir.clone();
        let rows = self
            .pg
            .call(move |client| async move {
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let rows = client.query(&sql, &refs).await?;
                Ok(rows.iter().map(|r| stored(r, &dir)).collect::<Vec<_>>())
            })
            .await
            .map_err(backend)?;
        self.local(rows).await
    }

    /// Copies each deploy's files into this node's data directory where
    /// it needs them: its manifests where missing or different (the
    /// database is the record), its component where missing.
    async fn local(&self, rows: Vec<Stored>) -> Result<Vec<Deployment>> {
        let mut out = Vec::with_capacity(rows.len());
        for s in rows {
            if needs_files(s.deployment.status)
                && let Err(e) = self.copy_files(&s).await
            {
                // This deploy's load then fails, saying why (and audits a
                // component that is not the one deployed); the others
                // are not held up by it.
                let d = &s.deployment;
                tracing::warn!(
                    "the files of {}@{} (deploy {}) could not be copied from the shared registry: {e}",
                    d.app,
                    d.version,
                    d.id
                );
            }
            out.push(s.deployment);
        }
        Ok(out)
    }

    /// Copies one deploy's manifests and component.
    async fn copy_files(&self, s: &Stored) -> Result<()> {
        let manifest = &s.deployment.manifest_path;
        for (path, text) in [
            (manifest.clone(), &s.manifest),
            (manifest.with_file_name(SENT_MANIFEST), &s.sent),
        ] {
            if self.copy(&path, text)? == Copied::Replaced {
                self.record_replaced(&s.deployment, &path).await;
            }
        }
        match self.fetch_component(&s.deployment.digest).await? {
            Some(_) => Ok(()),
            None => Err(files_error(anyhow::anyhow!(
                "its component {} is not in the shared registry",
                s.deployment.digest
            ))),
        }
    }

    /// Writes `text` at `path` unless the file holds it already.
    fn copy(&self, path: &Path, text: &str) -> Result<Copied> {
        let found = match std::fs::read(path) {
            Ok(found) if found == text.as_bytes() => return Ok(Copied::Same),
            Ok(_) => Copied::Replaced,
            Err(_) => Copied::New,
        };
        let _files = self.files();
        crate::fsutil::write_atomically(path, text.as_bytes()).map_err(files_error)?;
        Ok(found)
    }

    /// Records that this node's copy of one of `deployment`'s files was
    /// not the one on record (someone changed it in the data directory):
    /// it was put back from the record, as `deploy.tampered`.
    async fn record_replaced(&self, deployment: &Deployment, path: &Path) {
        tracing::warn!(
            app = deployment.app.as_str(),
            deploy = deployment.id,
            file = %path.display(),
            "this node's copy of a deployed file changed; put back from the shared registry (audited: deploy.tampered)"
        );
        let recorded = self
            .audit
            .append(crate::audit::AuditEvent {
                kind: crate::audit::AuditKind::DeployTampered,
                app: Some(deployment.app.clone()),
                actor: "warden".into(),
                details: serde_json::json!({
                    "version": deployment.version,
                    "deploy": deployment.id,
                    "file": path.display().to_string(),
                    "restored": "from the shared registry",
                }),
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!("deploy.tampered not audited: {e}");
        }
    }

    fn component_path(&self, digest: &str) -> PathBuf {
        self.dir.join("components").join(format!("{digest}.wasm"))
    }

    /// Runs `change` on `app`'s deploys in one transaction under the
    /// app's lock.
    async fn change<T, F>(&self, app: &str, change: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(
                &'t tokio_postgres::Transaction<'t>,
                PathBuf,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = std::result::Result<T, PgError>> + Send + 't>,
            > + Send
            + 'static,
    {
        let (app, dir) = (app.to_owned(), self.dir.clone());
        self.pg
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                lock_app(&tx, &app).await?;
                let out = change(&tx, dir).await?;
                tx.commit().await?;
                Ok(out)
            })
            .await
            .map_err(backend)
    }

    /// The newest deploy of `app` in one of `statuses`, within `tx`.
    async fn newest(
        tx: &tokio_postgres::Transaction<'_>,
        dir: &Path,
        app: &str,
        statuses: &[&str],
    ) -> std::result::Result<Option<Stored>, PgError> {
        let statuses: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
        Ok(tx
            .query_opt(
                &format!("SELECT {COLUMNS} FROM deployments WHERE app = $1 AND status = ANY($2) ORDER BY id DESC LIMIT 1"),
                &[&app, &statuses],
            )
            .await?
            .map(|r| stored(&r, dir)))
    }
}

fn stored(r: &tokio_postgres::Row, dir: &Path) -> Stored {
    let id: i64 = r.get(0);
    let reasons: String = r.get(8);
    let status: String = r.get(7);
    Stored {
        deployment: Deployment {
            id,
            app: r.get(1),
            version: r.get(2),
            digest: r.get(3),
            owner: r.get(4),
            deployed_by: r.get(5),
            deployed_at: r.get(6),
            status: Status::parse(&status),
            reasons: serde_json::from_str(&reasons).unwrap_or_default(),
            approved: r.get(9),
            reviewed_by: r.get(10),
            review_note: r.get(11),
            deployed_as: r.get(12),
            manifest_sha256: r.get(13),
            stored_sha256: r.get(14),
            deployed_team: r.get(15),
            manifest_path: dir.join("deploys").join(id.to_string()).join("app.toml"),
        },
        manifest: r.get(16),
        sent: r.get(17),
    }
}

/// The manifest a deploy stores: the one sent, its component named by
/// the path every node's copy shares and its owner filled in.
fn stored_text(new: &NewDeploy) -> Result<String> {
    let mut manifest = new.manifest.clone();
    if let Some(toml::Value::Table(app)) = manifest.get_mut("app") {
        app.insert(
            "component".into(),
            toml::Value::String(format!("../../components/{}.wasm", new.digest)),
        );
        if let Some(owner) = &new.owner {
            app.insert("owner".into(), toml::Value::String(owner.clone()));
        }
    }
    toml::to_string(&manifest).map_err(files_error)
}

/// A boxed transaction step, for [`SharedRegistry::change`].
macro_rules! step {
    (|$tx:ident, $dir:ident| $body:expr) => {
        move |$tx: &tokio_postgres::Transaction<'_>, $dir: PathBuf| Box::pin(async move { $body })
    };
}

#[async_trait::async_trait]
impl RegistryBackend for SharedRegistry {
    fn files(&self) -> MutexGuard<'_, ()> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn stage(&self, mut new: NewDeploy) -> Result<Deployment> {
        match new.component.take() {
            Some(bytes) => {
                let path = self.component_path(&new.digest);
                if !path.is_file() {
                    let _files = self.files();
                    crate::fsutil::write_atomically(&path, &bytes).map_err(files_error)?;
                }
                let digest = new.digest.clone();
                self.pg
                    .call(move |client| async move {
                        client.execute(STORE_COMPONENT, &[&digest, &bytes]).await?;
                        Ok(())
                    })
                    .await
                    .map_err(backend)?;
            }
            None => {
                if self.fetch_component(&new.digest).await?.is_none() {
                    return Err(files_error(anyhow::anyhow!(
                        "no uploaded component has the digest {}",
                        new.digest
                    )));
                }
            }
        }
        let text = stored_text(&new)?;
        let digest = new.digest.clone();
        let stored_sha256 = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        let app = new.app.clone();
        let id = self
            .change(&app, step!(|tx, dir| {
                // The component's row is touched (and so locked) in this
                // transaction: a collection on another node, which keeps
                // what is younger than its grace and what deploys name,
                // cannot take it from under this deploy.
                let touched = tx
                    .execute("UPDATE components SET stored_at = now() WHERE digest = $1", &[&new.digest])
                    .await?;
                if touched == 0 {
                    return Ok(Err(None));
                }
                let claims: Vec<Deployment> = tx
                    .query(
                        &format!("SELECT {COLUMNS} FROM deployments WHERE app = $1 AND {CLAIMING} ORDER BY id DESC"),
                        &[&new.app],
                    )
                    .await?
                    .iter()
                    .map(|r| stored(r, &dir).deployment)
                    .collect();
                if new.owner_must_match
                    && let Some(latest) = claims.first()
                    && latest.owner != new.owner
                {
                    return Ok(Err(Some(Refusal::NameTaken(new.app.clone()))));
                }
                if let Some(d) = claims.into_iter().find(|d| d.version == new.version) {
                    return Ok(Err(Some(Refusal::VersionTaken(Box::new(d)))));
                }
                let row = tx
                    .query_one(
                        "INSERT INTO deployments (app, version, digest, owner, deployed_by, deployed_at, status, reasons, approved, deployed_as, manifest_sha256, stored_sha256, deployed_team, changed_by, change_why, manifest, sent)
                         VALUES ($1, $2, $3, $4, $5, $6, 'pending', '[]', false, $7, $8, $9, $10, $5, 'deployed', $11, $12) RETURNING id",
                        &[&new.app, &new.version, &new.digest, &new.owner, &new.deployed_by, &now(), &new.deployed_as, &new.manifest_sha256, &stored_sha256, &new.deployed_team, &text, &new.sent_text],
                    )
                    .await?;
                Ok(Ok(row.get::<_, i64>(0)))
            }))
            .await?
            .map_err(|refused| match refused {
                Some(refusal) => RegistryError::Refused(refusal),
                None => files_error(anyhow::anyhow!(
                    "no uploaded component has the digest {}",
                    digest
                )),
            })?;
        self.get(id).await?.ok_or_else(|| {
            files_error(anyhow::anyhow!(
                "deploy {id} vanished after it was recorded"
            ))
        })
    }

    async fn get(&self, id: i64) -> Result<Option<Deployment>> {
        let dir = self.dir.clone();
        let row = self
            .pg
            .call(move |client| async move {
                Ok(client
                    .query_opt(
                        &format!("SELECT {COLUMNS} FROM deployments WHERE id = $1"),
                        &[&id],
                    )
                    .await?
                    .map(|r| stored(&r, &dir)))
            })
            .await
            .map_err(backend)?;
        Ok(self.local(row.into_iter().collect()).await?.pop())
    }

    async fn owner(&self, app: &str) -> Result<Option<Option<String>>> {
        let app = app.to_owned();
        self.pg
            .call(move |client| async move {
                Ok(client
                    .query_opt(
                        &format!("SELECT owner FROM deployments WHERE app = $1 AND {CLAIMING} ORDER BY id DESC LIMIT 1"),
                        &[&app],
                    )
                    .await?
                    .map(|r| r.get(0)))
            })
            .await
            .map_err(backend)
    }

    async fn names(&self) -> Result<BTreeSet<String>> {
        self.pg
            .call(move |client| async move {
                Ok(client
                    .query(
                        &format!("SELECT DISTINCT app FROM deployments WHERE {CLAIMING}"),
                        &[],
                    )
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect())
            })
            .await
            .map_err(backend)
    }

    async fn delete_app(&self, app: &str, by: &str) -> Result<usize> {
        let (name, by) = (app.to_owned(), by.to_owned());
        self.change(app, step!(|tx, _dir| {
            let n = tx
                .execute(
                    "UPDATE deployments SET status = 'deleted', review_note = 'deleted by ' || $2, changed_by = $2, change_why = 'the app was deleted' WHERE app = $1 AND status != 'deleted'",
                    &[&name, &by],
                )
                .await?;
            tx.execute("DELETE FROM quotas WHERE app = $1", &[&name]).await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        }))
        .await
    }

    async fn versions(&self, app: &str) -> Result<Vec<Deployment>> {
        self.deployments(
            format!("SELECT {COLUMNS} FROM deployments WHERE app = $1 ORDER BY id DESC"),
            vec![app.to_owned()],
        )
        .await
    }

    async fn active(&self) -> Result<Vec<Deployment>> {
        self.deployments(
            format!("SELECT {COLUMNS} FROM deployments WHERE status IN ('active', 'killed') ORDER BY app, id DESC"),
            Vec::new(),
        )
        .await
    }

    async fn pending(&self) -> Result<Vec<Deployment>> {
        self.deployments(
            format!("SELECT {COLUMNS} FROM deployments WHERE status = 'pending' ORDER BY id"),
            Vec::new(),
        )
        .await
    }

    async fn retired(&self) -> Result<Vec<Deployment>> {
        self.deployments(
            format!("SELECT {COLUMNS} FROM deployments WHERE status = 'retired' ORDER BY id"),
            Vec::new(),
        )
        .await
    }

    async fn hold(&self, id: i64, reasons: &[String]) -> Result<()> {
        let reasons = serde_json::to_string(reasons).unwrap_or_else(|_| "[]".into());
        let Some(app) = self.get_app(id).await? else {
            return Ok(());
        };
        self.change(
            &app,
            step!(|tx, _dir| {
                tx.execute(CANCEL_OLDER, &[&id]).await?;
                tx.execute(
                    "UPDATE deployments SET reasons = $1 WHERE id = $2 AND status = 'pending'",
                    &[&reasons, &id],
                )
                .await?;
                Ok(())
            }),
        )
        .await
    }

    async fn activate(&self, id: i64, review: Option<(&str, &str)>) -> Result<bool> {
        let Some(app) = self.get_app(id).await? else {
            return Ok(false);
        };
        let review = review.map(|(by, note)| (by.to_owned(), note.to_owned()));
        self.change(&app, step!(|tx, _dir| {
            let pending = tx
                .query_opt("SELECT 1 FROM deployments WHERE id = $1 AND status = 'pending'", &[&id])
                .await?
                .is_some();
            if !pending {
                return Ok(false);
            }
            tx.execute(
                "UPDATE deployments SET status = 'superseded', changed_by = 'warden', change_why = 'replaced by deploy ' || $1::bigint WHERE status IN ('active', 'killed', 'retired') AND app = (SELECT app FROM deployments WHERE id = $1) AND id != $1",
                &[&id],
            )
            .await?;
            tx.execute(CANCEL_OLDER, &[&id]).await?;
            match &review {
                Some((by, note)) => {
                    tx.execute(
                        "UPDATE deployments SET status = 'approved', approved = true, reviewed_by = $2, review_note = $3, changed_by = $2, change_why = $3 WHERE id = $1",
                        &[&id, by, note],
                    )
                    .await?;
                    tx.execute(
                        "UPDATE deployments SET status = 'active', changed_by = 'warden', change_why = 'approved: goes live' WHERE id = $1",
                        &[&id],
                    )
                    .await?
                }
                None => {
                    tx.execute(
                        "UPDATE deployments SET status = 'active', changed_by = deployed_by, change_why = 'live at once: the policy asked for no review' WHERE id = $1",
                        &[&id],
                    )
                    .await?
                }
            };
            Ok(true)
        }))
        .await
    }

    async fn reject(&self, id: i64, by: &str, note: &str) -> Result<bool> {
        let Some(app) = self.get_app(id).await? else {
            return Ok(false);
        };
        let (by, note) = (by.to_owned(), note.to_owned());
        self.change(&app, step!(|tx, _dir| {
            let n = tx
                .execute(
                    "UPDATE deployments SET status = 'rejected', reviewed_by = $2, review_note = $3, changed_by = $2, change_why = $3 WHERE id = $1 AND status = 'pending'",
                    &[&id, &by, &note],
                )
                .await?;
            Ok(n > 0)
        }))
        .await
    }

    async fn fail(&self, id: i64, error: &str) -> Result<()> {
        self.execute(
            "UPDATE deployments SET status = 'failed', reviewed_by = 'warden', review_note = $2, changed_by = 'warden', change_why = $2 WHERE id = $1 AND status = 'pending'",
            id,
            vec![error.to_owned()],
        )
        .await
    }

    async fn decided(&self, id: i64, revision: &str) -> Result<()> {
        self.execute(
            "UPDATE deployments SET policy_revision = $2 WHERE id = $1",
            id,
            vec![revision.to_owned()],
        )
        .await
    }

    async fn set_killed(&self, app: &str, killed: bool, by: &str, why: &str) -> Result<bool> {
        let (from, to) = if killed {
            ("active", "killed")
        } else {
            ("killed", "active")
        };
        let (name, by, why) = (app.to_owned(), by.to_owned(), why.to_owned());
        self.change(app, step!(|tx, _dir| {
            let n = tx
                .execute(
                    "UPDATE deployments SET status = $3, changed_by = $4, change_why = $5 WHERE app = $1 AND status = $2",
                    &[&name, &from, &to, &by, &why],
                )
                .await?;
            Ok(n > 0)
        }))
        .await
    }

    async fn set_owner(&self, app: &str, owner: &str) -> Result<usize> {
        let (name, owner) = (app.to_owned(), owner.to_owned());
        self.change(
            app,
            step!(|tx, _dir| {
                let n = tx
                    .execute(
                        "UPDATE deployments SET owner = $2 WHERE app = $1",
                        &[&name, &owner],
                    )
                    .await?;
                Ok(n as usize)
            }),
        )
        .await
    }

    async fn retire(&self, app: &str, by: &str, why: &str) -> Result<Option<Deployment>> {
        let (name, by, why) = (app.to_owned(), by.to_owned(), why.to_owned());
        self.change(app, step!(|tx, dir| {
            let Some(mut live) = SharedRegistry::newest(tx, &dir, &name, &["active", "killed"]).await? else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE deployments SET status = 'retired', changed_by = $2, change_why = $3 WHERE id = $1",
                &[&live.deployment.id, &by, &why],
            )
            .await?;
            live.deployment.status = Status::Retired;
            Ok(Some(live.deployment))
        }))
        .await
    }

    async fn unretire(
        &self,
        app: &str,
        killed: bool,
        by: &str,
        why: &str,
    ) -> Result<Option<Deployment>> {
        let (name, by, why) = (app.to_owned(), by.to_owned(), why.to_owned());
        let back = self
            .change(app, step!(|tx, dir| {
                if SharedRegistry::newest(tx, &dir, &name, &["active", "killed"]).await?.is_some() {
                    return Ok(None);
                }
                let Some(mut retired) = SharedRegistry::newest(tx, &dir, &name, &["retired"]).await? else {
                    return Ok(None);
                };
                let to = if killed { Status::Killed } else { Status::Active };
                tx.execute(
                    "UPDATE deployments SET status = $2, changed_by = $3, change_why = $4 WHERE id = $1",
                    &[&retired.deployment.id, &to.as_str(), &by, &why],
                )
                .await?;
                retired.deployment.status = to;
                Ok(Some(retired))
            }))
            .await?;
        Ok(self.local(back.into_iter().collect()).await?.pop())
    }

    async fn history(&self, id: i64) -> Result<Vec<Transition>> {
        self.pg
            .call(move |client| async move {
                Ok(client
                    .query(
                        "SELECT from_status, to_status, actor, at, why, revision FROM transitions WHERE deploy = $1 ORDER BY seq",
                        &[&id],
                    )
                    .await?
                    .iter()
                    .map(|r| Transition {
                        from: r.get(0),
                        to: r.get(1),
                        by: r.get(2),
                        at: r.get(3),
                        why: r.get(4),
                        revision: r.get(5),
                    })
                    .collect())
            })
            .await
            .map_err(backend)
    }

    async fn quota(&self, app: &str) -> Result<Option<QuotaRequest>> {
        Ok(self
            .quotas_where(Some(app.to_owned()))
            .await?
            .into_values()
            .next())
    }

    async fn quotas(&self) -> Result<BTreeMap<String, QuotaRequest>> {
        self.quotas_where(None).await
    }

    async fn record_review(&self, review: &crate::registry::PeriodicReview) -> Result<()> {
        let r = review.clone();
        self.pg
            .call(move |client| async move {
                client
                    .execute(
                        "INSERT INTO app_reviews (app, version, tier, reviewer, note, at) VALUES ($1, $2, $3, $4, $5, $6)",
                        &[&r.app, &r.version, &r.tier, &r.reviewer, &r.note, &r.at],
                    )
                    .await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn last_reviews(&self) -> Result<BTreeMap<String, crate::registry::PeriodicReview>> {
        self.pg
            .call(|client| async move {
                let rows = client
                    .query(
                        "SELECT DISTINCT ON (app) app, version, tier, reviewer, note, at
                         FROM app_reviews ORDER BY app, seq DESC",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let review = crate::registry::PeriodicReview {
                            app: r.get(0),
                            version: r.get(1),
                            tier: r.get(2),
                            reviewer: r.get(3),
                            note: r.get(4),
                            at: r.get(5),
                        };
                        (review.app.clone(), review)
                    })
                    .collect())
            })
            .await
            .map_err(backend)
    }

    async fn set_quota(&self, app: &str, quota: &QuotaRequest, by: &str) -> Result<()> {
        let text = serde_json::to_string(quota).unwrap_or_default();
        let (app, by) = (app.to_owned(), by.to_owned());
        self.pg
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                tx.execute(
                    "INSERT INTO quotas (app, quota, set_by, set_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (app) DO UPDATE SET quota = excluded.quota, set_by = excluded.set_by, set_at = excluded.set_at",
                    &[&app, &text, &by, &now()],
                )
                .await?;
                tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &app]).await?;
                tx.commit().await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn template(&self, name: &str) -> Result<Option<Template>> {
        Ok(self
            .templates_where(Some(name.to_owned()))
            .await?
            .into_iter()
            .next()
            .map(|(_, t)| t))
    }

    async fn templates(&self) -> Result<Vec<(String, Template)>> {
        self.templates_where(None).await
    }

    async fn set_template(&self, name: &str, template: &Template, by: &str) -> Result<()> {
        let text = serde_json::to_string(template).unwrap_or_default();
        let (name, by) = (name.to_owned(), by.to_owned());
        self.pg
            .call(move |client| async move {
                client
                    .execute(
                        "INSERT INTO templates (name, template, set_by, set_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (name) DO UPDATE SET template = excluded.template, set_by = excluded.set_by, set_at = excluded.set_at",
                        &[&name, &text, &by, &now()],
                    )
                    .await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn store_component(&self, digest: &str, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(files_error)?;
        let digest = digest.to_owned();
        self.pg
            .call(move |client| async move {
                client.execute(STORE_COMPONENT, &[&digest, &bytes]).await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn fetch_component(&self, digest: &str) -> Result<Option<PathBuf>> {
        if !is_digest(digest) {
            return Ok(None);
        }
        let path = self.component_path(digest);
        if path.is_file() {
            return Ok(Some(path));
        }
        let wanted = digest.to_owned();
        let bytes: Option<Vec<u8>> = self
            .pg
            .call(move |client| async move {
                Ok(client
                    .query_opt("SELECT bytes FROM components WHERE digest = $1", &[&wanted])
                    .await?
                    .map(|r| r.get(0)))
            })
            .await
            .map_err(backend)?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let found = hex::encode(sha2::Sha256::digest(&bytes));
        if found != digest {
            return Err(files_error(anyhow::anyhow!(
                "the shared registry's component {digest} has SHA-256 {found}; it was changed in the database and is not used"
            )));
        }
        let _files = self.files();
        crate::fsutil::write_atomically(&path, &bytes).map_err(files_error)?;
        Ok(Some(path))
    }

    async fn attestation(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.pg
            .call(move |client| async move {
                Ok(client
                    .query_opt(
                        "SELECT envelope FROM attestations WHERE deploy = $1",
                        &[&id],
                    )
                    .await?
                    .map(|r| r.get::<_, String>(0).into_bytes()))
            })
            .await
            .map_err(backend)
    }

    async fn set_attestation(&self, id: i64, envelope: Vec<u8>) -> Result<()> {
        let envelope = String::from_utf8(envelope)
            .map_err(|_| files_error(anyhow::anyhow!("an attestation is not UTF-8 JSON")))?;
        self.pg
            .call(move |client| async move {
                client
                    .execute(
                        "INSERT INTO attestations (deploy, envelope) VALUES ($1, $2)
                         ON CONFLICT (deploy) DO UPDATE SET envelope = excluded.envelope, signed_at = now()",
                        &[&id, &envelope],
                    )
                    .await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn collect(
        &self,
        keep_versions: usize,
        served: &BTreeSet<String>,
        artifacts: &Path,
        grace: Duration,
    ) -> Result<Collected> {
        let dir = self.dir.clone();
        let all: Vec<Deployment> = self
            .pg
            .call(move |client| async move {
                Ok(client
                    .query(
                        &format!("SELECT {COLUMNS} FROM deployments ORDER BY id"),
                        &[],
                    )
                    .await?
                    .iter()
                    .map(|r| stored(r, &dir).deployment)
                    .collect())
            })
            .await
            .map_err(backend)?;
        let mut digests = served.clone();
        let mut collected = {
            let _files = self.files();
            collect_files(
                &self.dir,
                &all,
                keep_versions,
                &mut digests,
                artifacts,
                grace,
            )
        };
        // The shared copies: a component no kept version names, stored
        // longer ago than the grace period (an upload another node's
        // deploy may be about to name is younger).
        let kept: Vec<String> = digests.into_iter().collect();
        let grace = grace.as_secs_f64();
        let removed = self
            .pg
            .call(move |client| async move {
                Ok(client
                    .execute(
                        "DELETE FROM components WHERE stored_at < now() - make_interval(secs => $1) AND NOT (digest = ANY($2))
                         AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.digest = components.digest
                                         AND d.status IN ('pending', 'approved', 'active', 'killed', 'retired'))",
                        &[&grace, &kept],
                    )
                    .await?)
            })
            .await
            .map_err(backend)?;
        collected.components += usize::try_from(removed).unwrap_or(usize::MAX);
        Ok(collected)
    }
}

impl SharedRegistry {
    /// The app deploy `id` belongs to.
    async fn get_app(&self, id: i64) -> Result<Option<String>> {
        self.pg
            .call(move |client| async move {
                Ok(client
                    .query_opt("SELECT app FROM deployments WHERE id = $1", &[&id])
                    .await?
                    .map(|r| r.get(0)))
            })
            .await
            .map_err(backend)
    }

    /// Runs `sql` with deploy `id` as `$1` and `texts` as `$2`, ….
    async fn execute(&self, sql: &'static str, id: i64, texts: Vec<String>) -> Result<()> {
        self.pg
            .call(move |client| async move {
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&id];
                params.extend(
                    texts
                        .iter()
                        .map(|t| t as &(dyn tokio_postgres::types::ToSql + Sync)),
                );
                client.execute(sql, &params).await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    /// Quota overrides, of one app or all; one that no longer parses is
    /// left out (as the embedded registry leaves it).
    async fn quotas_where(&self, app: Option<String>) -> Result<BTreeMap<String, QuotaRequest>> {
        Ok(self
            .named_json(
                "SELECT app, quota FROM quotas WHERE $1::text IS NULL OR app = $1",
                app,
            )
            .await?
            .into_iter()
            .collect())
    }

    /// Templates, one by name or all, by name.
    async fn templates_where(&self, name: Option<String>) -> Result<Vec<(String, Template)>> {
        self.named_json(
            "SELECT name, template FROM templates WHERE $1::text IS NULL OR name = $1 ORDER BY name",
            name,
        )
        .await
    }

    /// Rows of (name, JSON) that `sql` selects for `name` (all with
    /// `None`), each parsed; one that no longer parses is left out.
    async fn named_json<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        name: Option<String>,
    ) -> Result<Vec<(String, T)>> {
        self.pg
            .call(move |client| async move {
                let rows = client.query(sql, &[&name]).await?;
                Ok(rows
                    .iter()
                    .filter_map(|r| {
                        let text: String = r.get(1);
                        Some((r.get(0), serde_json::from_str(&text).ok()?))
                    })
                    .collect())
            })
            .await
            .map_err(backend)
    }
}
