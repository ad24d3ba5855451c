//! The registry behind an async trait: the seam a shared database plugs
//! into. [`Registry`] is the embedded default (`registry.db` and the
//! deploy files in the data directory), whose blocking work runs off the
//! caller's thread.

use super::collect::Collected;
use super::{Deployment, NewDeploy, Refusal, RegistryDb, Template};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;
use warden_host_apis::metering::QuotaRequest;

/// Why the registry could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The deploy is refused: its version exists, or its name is another
    /// owner's.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The embedded database failed.
    #[error("registry: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A deploy's files could not be written, read or removed.
    #[error("registry files: {0:#}")]
    Files(anyhow::Error),
    /// A networked backend failed.
    #[error("registry backend: {0}")]
    Backend(String),
    /// The blocking task that ran the call did not finish.
    #[error("registry: the call did not complete: {0}")]
    Interrupted(String),
}

impl From<anyhow::Error> for RegistryError {
    /// A refusal or a database error keeps its kind; anything else is a
    /// file error.
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Refusal>() {
            Ok(refusal) => RegistryError::Refused(refusal),
            Err(e) => match e.downcast::<rusqlite::Error>() {
                Ok(sqlite) => RegistryError::Sqlite(sqlite),
                Err(e) => RegistryError::Files(e),
            },
        }
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

/// Deploys, versions, review state, quota overrides and templates.
/// Its futures must make progress without the caller's runtime (see
/// `warden_runtime::wait`): sync code may wait on them from a worker.
#[async_trait::async_trait]
pub trait RegistryBackend: Send + Sync {
    /// The lock between adding deploy files and collecting them (held by
    /// uploads while they write a component).
    fn files(&self) -> MutexGuard<'_, ()>;
    /// Stores the deploy's files, then records it as pending; the name and
    /// version checks and the insert are one step.
    async fn stage(&self, new: NewDeploy) -> Result<Deployment>;
    async fn get(&self, id: i64) -> Result<Option<Deployment>>;
    /// The owner of `app` so far: `None` when no deploy claims the name,
    /// `Some(None)` when one claims it without an owner.
    async fn owner(&self, app: &str) -> Result<Option<Option<String>>>;
    /// Every app name any deploy has used.
    async fn names(&self) -> Result<BTreeSet<String>>;
    /// Marks every deploy of `app` deleted; returns how many.
    async fn delete_app(&self, app: &str, by: &str) -> Result<usize>;
    /// Every deploy of `app`, newest first.
    async fn versions(&self, app: &str) -> Result<Vec<Deployment>>;
    /// The live deploy of each app (active or killed).
    async fn active(&self) -> Result<Vec<Deployment>>;
    /// Deploys waiting for a reviewer.
    async fn pending(&self) -> Result<Vec<Deployment>>;
    /// Every retired version, oldest first.
    async fn retired(&self) -> Result<Vec<Deployment>>;
    /// Keeps a deploy pending, with the reasons it needs review.
    async fn hold(&self, id: i64, reasons: &[String]) -> Result<()>;
    /// Makes a deploy the active version of its app (the previous one is
    /// superseded); `review` is (reviewer, note). `false` if it was not
    /// pending.
    async fn activate(&self, id: i64, review: Option<(&str, &str)>) -> Result<bool>;
    /// Rejects a pending deploy; `false` if it was not pending (approved,
    /// cancelled or deleted meanwhile, perhaps on another node).
    async fn reject(&self, id: i64, by: &str, note: &str) -> Result<bool>;
    /// Records that a deploy did not pass its checks.
    async fn fail(&self, id: i64, error: &str) -> Result<()>;
    /// Records the policy revision a deploy's decision rests on.
    async fn decided(&self, id: i64, revision: &str) -> Result<()>;
    /// Moves an app's live version to `killed`, or back to `active`.
    async fn set_killed(&self, app: &str, killed: bool, by: &str, why: &str) -> Result<bool>;
    /// Retires an app's live version; the version, `None` with none live.
    async fn retire(&self, app: &str, by: &str, why: &str) -> Result<Option<Deployment>>;
    /// Gives every version of `app` the owner `owner` (an app passed to
    /// someone else); how many versions changed.
    async fn set_owner(&self, app: &str, owner: &str) -> Result<usize>;
    /// Puts an app's retired version back live (`killed` if `killed`);
    /// `None` with none retired, or a live version already.
    async fn unretire(
        &self,
        app: &str,
        killed: bool,
        by: &str,
        why: &str,
    ) -> Result<Option<Deployment>>;
    /// Every status a deploy has taken, oldest first, with who, when, why
    /// and the policy revision.
    async fn history(&self, id: i64) -> Result<Vec<super::Transition>>;
    /// The operator's quota override of `app`.
    async fn quota(&self, app: &str) -> Result<Option<QuotaRequest>>;
    /// Every app's quota override, by app.
    async fn quotas(&self) -> Result<BTreeMap<String, QuotaRequest>>;
    async fn set_quota(&self, app: &str, quota: &QuotaRequest, by: &str) -> Result<()>;
    async fn template(&self, name: &str) -> Result<Option<Template>>;
    async fn templates(&self) -> Result<Vec<(String, Template)>>;
    async fn set_template(&self, name: &str, template: &Template, by: &str) -> Result<()>;
    /// Records a periodic review of an app (`crate::lifecycle`).
    async fn record_review(&self, review: &super::PeriodicReview) -> Result<()>;
    /// Each app's latest periodic review, by app.
    async fn last_reviews(&self) -> Result<BTreeMap<String, super::PeriodicReview>>;
    /// Keeps an uploaded component, stored at `path` in this node's data
    /// directory, where every node can find it by `digest` (nothing to do
    /// when the data directory is the registry's).
    async fn store_component(&self, digest: &str, path: &Path) -> Result<()>;
    /// The path in this node's data directory of the component stored
    /// under `digest` (fetched from the shared registry when this node has
    /// no copy yet); `None` when no upload or deploy stored it.
    async fn fetch_component(&self, digest: &str) -> Result<Option<PathBuf>>;
    /// The signed attestation of deploy `id`'s latest decision (a DSSE
    /// envelope, JSON bytes, see `crate::attest`), if one was made.
    async fn attestation(&self, id: i64) -> Result<Option<Vec<u8>>>;
    /// Keeps `envelope` as deploy `id`'s attestation, replacing the one
    /// before (each review signs the whole history again).
    async fn set_attestation(&self, id: i64, envelope: Vec<u8>) -> Result<()>;
    /// Removes the files nothing needs any more, keeping `keep_versions`
    /// per app, the components `served` now, and anything younger than
    /// `grace`.
    async fn collect(
        &self,
        keep_versions: usize,
        served: &BTreeSet<String>,
        artifacts: &Path,
        grace: Duration,
    ) -> Result<Collected>;
}

/// The embedded registry. Cloning shares it.
#[derive(Clone)]
pub struct Registry {
    db: Arc<RegistryDb>,
}

impl Registry {
    /// Opens (creating or migrating if needed) the registry in `data_dir`.
    ///
    /// # Errors
    /// `registry.db` cannot be opened or migrated.
    pub fn open(data_dir: &Path) -> Result<Registry> {
        Ok(Registry {
            db: Arc::new(RegistryDb::open(data_dir)?),
        })
    }

    /// The registry in `data_dir`, its file opened by the first call that
    /// needs it (for a process that makes one invocation and may never
    /// read a deploy).
    pub fn open_on_first_use(data_dir: &Path) -> Registry {
        Registry {
            db: Arc::new(RegistryDb::open_on_first_use(data_dir)),
        }
    }

    /// Runs `work` on the database off the caller's thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&RegistryDb) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        warden_host_apis::sqlite::off_thread(move || work(&db))
            .await
            .map_err(RegistryError::Interrupted)?
    }
}

#[async_trait::async_trait]
impl RegistryBackend for Registry {
    fn files(&self) -> MutexGuard<'_, ()> {
        self.db.files()
    }

    async fn stage(&self, new: NewDeploy) -> Result<Deployment> {
        self.run(move |db| Ok(db.stage(new)?)).await
    }

    async fn get(&self, id: i64) -> Result<Option<Deployment>> {
        self.run(move |db| Ok(db.get(id)?)).await
    }

    async fn owner(&self, app: &str) -> Result<Option<Option<String>>> {
        let app = app.to_owned();
        self.run(move |db| Ok(db.owner(&app)?)).await
    }

    async fn names(&self) -> Result<BTreeSet<String>> {
        self.run(|db| Ok(db.names()?)).await
    }

    async fn delete_app(&self, app: &str, by: &str) -> Result<usize> {
        let (app, by) = (app.to_owned(), by.to_owned());
        self.run(move |db| Ok(db.delete_app(&app, &by)?)).await
    }

    async fn versions(&self, app: &str) -> Result<Vec<Deployment>> {
        let app = app.to_owned();
        self.run(move |db| Ok(db.versions(&app)?)).await
    }

    async fn active(&self) -> Result<Vec<Deployment>> {
        self.run(|db| Ok(db.active()?)).await
    }

    async fn pending(&self) -> Result<Vec<Deployment>> {
        self.run(|db| Ok(db.pending()?)).await
    }

    async fn retired(&self) -> Result<Vec<Deployment>> {
        self.run(|db| Ok(db.retired()?)).await
    }

    async fn hold(&self, id: i64, reasons: &[String]) -> Result<()> {
        let reasons = reasons.to_vec();
        self.run(move |db| Ok(db.hold(id, &reasons)?)).await
    }

    async fn activate(&self, id: i64, review: Option<(&str, &str)>) -> Result<bool> {
        let review = review.map(|(by, note)| (by.to_owned(), note.to_owned()));
        self.run(move |db| {
            Ok(db.activate(
                id,
                review
                    .as_ref()
                    .map(|(by, note)| (by.as_str(), note.as_str())),
            )?)
        })
        .await
    }

    async fn reject(&self, id: i64, by: &str, note: &str) -> Result<bool> {
        let (by, note) = (by.to_owned(), note.to_owned());
        self.run(move |db| Ok(db.reject(id, &by, &note)?)).await
    }

    async fn fail(&self, id: i64, error: &str) -> Result<()> {
        let error = error.to_owned();
        self.run(move |db| Ok(db.fail(id, &error)?)).await
    }

    async fn set_killed(&self, app: &str, killed: bool, by: &str, why: &str) -> Result<bool> {
        let (app, by, why) = (app.to_owned(), by.to_owned(), why.to_owned());
        self.run(move |db| Ok(db.set_killed(&app, killed, &by, &why)?))
            .await
    }

    async fn retire(&self, app: &str, by: &str, why: &str) -> Result<Option<Deployment>> {
        let (app, by, why) = (app.to_owned(), by.to_owned(), why.to_owned());
        self.run(move |db| Ok(db.retire(&app, &by, &why)?)).await
    }

    async fn set_owner(&self, app: &str, owner: &str) -> Result<usize> {
        let (app, owner) = (app.to_owned(), owner.to_owned());
        self.run(move |db| {
            Ok(db.conn()?.execute(
                "UPDATE deployments SET owner = ?2 WHERE app = ?1",
                rusqlite::params![app, owner],
            )?)
        })
        .await
    }

    async fn unretire(
        &self,
        app: &str,
        killed: bool,
        by: &str,
        why: &str,
    ) -> Result<Option<Deployment>> {
        let (app, by, why) = (app.to_owned(), by.to_owned(), why.to_owned());
        self.run(move |db| Ok(db.unretire(&app, killed, &by, &why)?))
            .await
    }

    async fn decided(&self, id: i64, revision: &str) -> Result<()> {
        let revision = revision.to_owned();
        self.run(move |db| Ok(db.decided(id, &revision)?)).await
    }

    async fn history(&self, id: i64) -> Result<Vec<super::Transition>> {
        self.run(move |db| Ok(db.history(id)?)).await
    }

    async fn quota(&self, app: &str) -> Result<Option<QuotaRequest>> {
        let app = app.to_owned();
        self.run(move |db| Ok(db.quota(&app)?)).await
    }

    async fn quotas(&self) -> Result<BTreeMap<String, QuotaRequest>> {
        self.run(|db| Ok(db.quotas()?)).await
    }

    async fn record_review(&self, review: &super::PeriodicReview) -> Result<()> {
        let review = review.clone();
        self.run(move |db| Ok(db.record_review(&review)?)).await
    }

    async fn last_reviews(&self) -> Result<BTreeMap<String, super::PeriodicReview>> {
        self.run(|db| Ok(db.last_reviews()?)).await
    }

    async fn store_component(&self, _digest: &str, _path: &Path) -> Result<()> {
        Ok(())
    }

    async fn fetch_component(&self, digest: &str) -> Result<Option<PathBuf>> {
        let path = self.db.component_path(digest);
        Ok(path.is_file().then_some(path))
    }

    async fn attestation(&self, id: i64) -> Result<Option<Vec<u8>>> {
        let path = self.db.attestation_path(id);
        self.run(move |_| match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display()).into()),
        })
        .await
    }

    async fn set_attestation(&self, id: i64, envelope: Vec<u8>) -> Result<()> {
        let path = self.db.attestation_path(id);
        self.run(move |_| {
            crate::fsutil::write_atomically(&path, &envelope)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()).into())
        })
        .await
    }

    async fn set_quota(&self, app: &str, quota: &QuotaRequest, by: &str) -> Result<()> {
        let (app, quota, by) = (app.to_owned(), quota.clone(), by.to_owned());
        self.run(move |db| Ok(db.set_quota(&app, &quota, &by)?))
            .await
    }

    async fn template(&self, name: &str) -> Result<Option<Template>> {
        let name = name.to_owned();
        self.run(move |db| Ok(db.template(&name)?)).await
    }

    async fn templates(&self) -> Result<Vec<(String, Template)>> {
        self.run(|db| Ok(db.templates()?)).await
    }

    async fn set_template(&self, name: &str, template: &Template, by: &str) -> Result<()> {
        let (name, template, by) = (name.to_owned(), template.clone(), by.to_owned());
        self.run(move |db| Ok(db.set_template(&name, &template, &by)?))
            .await
    }

    async fn collect(
        &self,
        keep_versions: usize,
        served: &BTreeSet<String>,
        artifacts: &Path,
        grace: Duration,
    ) -> Result<Collected> {
        let (served, artifacts): (BTreeSet<String>, PathBuf) = (served.clone(), artifacts.into());
        self.run(move |db| Ok(db.collect(keep_versions, &served, &artifacts, grace)?))
            .await
    }
}
