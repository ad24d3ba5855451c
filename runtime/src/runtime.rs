//! The host: one engine, one linker, one artifact cache, one audit log,
//! shared by every app and every invocation in the process.

use crate::app::{self, LoadedApp};
use crate::artifact_cache::ArtifactCache;
use crate::audit::AuditBackend;
use crate::capabilities::Capabilities;
use crate::capability::HostResources;
use crate::config::{ConfigError, PlatformConfig};
use crate::host_state::{self, HostState};
use crate::wait::Wait as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warden_host_apis::connectors::Connector;
use warden_host_apis::connectors::credentials::Credentials;
use warden_host_apis::dlp::Scanner;
use warden_host_apis::metering::{UsageBackend, UsageStore};
use warden_host_apis::secrets::{MasterKey, SecretStore};
use warden_host_apis::storage::store::{KvStore, SqliteKv};
use wasmtime::Engine;
use wasmtime::component::Linker;

type KillRecordCache = std::sync::Mutex<Option<(u64, std::collections::HashMap<String, String>)>>;

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ArtifactCache,
    platform: PlatformConfig,
    data_dir: PathBuf,
    audit: Arc<dyn AuditBackend>,
    tracer: SdkTracer,
    _provider: SdkTracerProvider,
    /// The host's capabilities (see `crate::capabilities`).
    capabilities: Capabilities,
    usage: Arc<dyn UsageBackend>,
    credentials: Arc<Credentials>,
    storage: Arc<dyn KvStore>,
    dlp: Arc<Scanner>,
    /// Last kill or unkill per app in the audit log, with the log length
    /// it was read at (see `kills.rs`).
    kill_record: KillRecordCache,
    switches: std::sync::Mutex<
        std::collections::HashMap<String, Arc<warden_host_apis::kill::KillSwitch>>,
    >,
    /// Apps whose switch was pulled only because the kill state could not
    /// be read when it was made (see `kills.rs`).
    held_blind: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Held by a kill or unkill from its switch to its record, and by a
    /// refresh from its read to its last switch (see `kills.rs`).
    kill_changes: std::sync::Mutex<()>,
    tally: crate::containment::Tally,
    /// Apps whose paid connector calls a spent budget blocks.
    paid_calls: crate::costs::PaidCallGate,
    /// Orphaned apps as last found.
    orphans: crate::lifecycle::orphans::Cache,
    /// Each app's learned egress baseline (`[anomaly]`).
    baselines: crate::anomaly::Baselines,
    /// Usage-counter writes still running, for [`Runtime::settle`].
    flushes: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    registry: Arc<dyn crate::registry::RegistryBackend>,
    instruments: Arc<crate::telemetry::signals::Instruments>,
    /// The publish policy, compiled on first use (`warden serve`: at
    /// start, so a bad policy stops it; `warden run` never).
    policy: std::sync::OnceLock<crate::policy::PolicyBundle>,
    /// The key publish decisions are signed with, from the secret store.
    signer: std::sync::OnceLock<crate::attest::Signer>,
    /// The PostgreSQL server nodes share (`[state] backend = "postgres"`).
    shared: Option<Arc<crate::state::postgres::Postgres>>,
}

/// The master key, resolved on first use and then kept; `None` if it
/// cannot be had (the error is printed once and reported again where
/// encryption needs the key).
fn lazy_master_key(
    platform: &PlatformConfig,
    data_dir: &Path,
) -> Arc<dyn Fn() -> Option<MasterKey> + Send + Sync> {
    let platform = platform.clone();
    let data_dir = data_dir.to_path_buf();
    let key = std::sync::OnceLock::new();
    Arc::new(move || {
        key.get_or_init(|| match master_key(&platform, &data_dir) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::warn!("{e:#}");
                None
            }
        })
        .clone()
    })
}

/// What a process does with its runtime, which decides what it sets up at
/// start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Process {
    /// A server: a pool of instance slots reserved; every file opened at
    /// start, so a broken one stops it there.
    Server,
    /// A command (`kill`, `apps`, `audit`...): memory mapped per instance;
    /// every file opened at start, so a broken one is its error, not an
    /// empty answer.
    Command,
    /// `warden run`: as a command, with the storage and the deploy
    /// registry opened by their first use — its one invocation may touch
    /// neither, and a failure to open one is that call's error.
    Run,
}

/// Classified storage: PostgreSQL under `[state] backend = "postgres"`
/// (its schema migrated first), else `<data_dir>/storage.db` (opened by
/// its first use in `warden run`).
fn open_storage(
    pg: Option<&Arc<crate::state::postgres::Postgres>>,
    data_dir: &Path,
    process: Process,
) -> anyhow::Result<Arc<dyn KvStore>> {
    match pg {
        Some(pg) => Ok(Arc::new(crate::state::postgres::kv::PgKv::new(pg.clone()))),
        None if process == Process::Run => Ok(Arc::new(SqliteKv::open_on_first_use(
            &data_dir.join("storage.db"),
        ))),
        None => {
            let path = data_dir.join("storage.db");
            let kv = SqliteKv::open(&path)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            Ok(Arc::new(kv))
        }
    }
}

/// The DLP token salt: random, created once per data directory, so
/// redaction tokens are stable on this host but useless elsewhere (nodes
/// sharing state share one salt instead, `crate::state::postgres::dlp`).
/// Two processes starting at once agree on one salt: a new salt is linked
/// into place only if none is there yet.
pub(crate) fn dlp_salt(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = data_dir.join("dlp.salt");
    let bytes = crate::fsutil::read_or_create(&path, || {
        warden_host_apis::aead::random_key()
            .map(|k| k.to_vec())
            .map_err(std::io::Error::other)
    })
    .map_err(|e| anyhow::anyhow!("cannot read or create {}: {e}", path.display()))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a 32-byte salt; restore it from a backup (a new one changes every redaction token)",
            path.display()
        )
    })
}

/// The master key from `WARDEN_MASTER_KEY`, the configured file, or
/// `<data_dir>/master.key` (created on first use).
///
/// A new key is created only for a data directory with nothing sealed
/// yet: with sealed secrets or storage keys and no key, this fails naming
/// the key file, since a new key would make all of them unreadable.
pub fn master_key(platform: &PlatformConfig, data_dir: &Path) -> anyhow::Result<MasterKey> {
    let from_env = std::env::var("WARDEN_MASTER_KEY").is_ok_and(|k| !k.trim().is_empty());
    let default_file = data_dir.join("master.key");
    let file = platform
        .secrets
        .master_key_file
        .clone()
        .unwrap_or_else(|| default_file.clone());
    if !from_env && !file.exists() {
        let sealed = sealed_data(data_dir);
        if !sealed.is_empty() {
            anyhow::bail!(
                "the master key {} is missing, but {} is sealed under it\n  fix: restore the key file (or set WARDEN_MASTER_KEY to its 64 hex digits); a new key would make that data unreadable, so none is created",
                file.display(),
                sealed.join(" and ")
            );
        }
    }
    let key = MasterKey::resolve(
        std::env::var("WARDEN_MASTER_KEY").ok(),
        platform.secrets.master_key_file.as_deref(),
        &data_dir.join("master.key"),
    )?;
    let source = || {
        if from_env {
            "WARDEN_MASTER_KEY".to_string()
        } else {
            file.display().to_string()
        }
    };
    match check_key(&key, data_dir) {
        KeyCheck::Opens => Ok(key),
        KeyCheck::WrongKey => anyhow::bail!(
            "the master key in {} is not the key {} was sealed with\n  fix: restore the key file this data directory was created with (or set WARDEN_MASTER_KEY to its 64 hex digits); nothing is sealed under another key",
            source(),
            sealed_data(data_dir).join(" and ")
        ),
        KeyCheck::Unreadable(what) => anyhow::bail!(
            "the master key in {} cannot be checked against what it sealed: {what}\n  fix: make the file readable (or restore it from a backup); nothing is sealed until the key is known to be the right one",
            source()
        ),
    }
}

/// Whether a master key opens what a data directory has sealed.
enum KeyCheck {
    /// Nothing is sealed, or at least one secret or storage data key opens
    /// (so one tampered entry reads as tampering, not as a wrong key).
    Opens,
    /// Something is sealed and nothing of it opens.
    WrongKey,
    /// What is sealed cannot be read to tell.
    Unreadable(String),
}

fn check_key(key: &MasterKey, data_dir: &Path) -> KeyCheck {
    let mut tried = false;
    let secrets = SecretStore::open(data_dir, key.clone());
    match secrets.list() {
        Err(e) => return KeyCheck::Unreadable(e.to_string()),
        Ok(list) => {
            for info in list.iter().take(16) {
                tried = true;
                if secrets.get(&info.name).is_ok() {
                    return KeyCheck::Opens;
                }
            }
        }
    }
    let storage = data_dir.join("storage.db");
    if storage.exists() {
        let unreadable =
            |e: rusqlite::Error| KeyCheck::Unreadable(format!("{}: {e}", storage.display()));
        let conn = match rusqlite::Connection::open_with_flags(
            &storage,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) {
            Ok(c) => c,
            Err(e) => return unreadable(e),
        };
        let has_table = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'data_keys'")
            .and_then(|mut s| s.exists([]));
        match has_table {
            Err(e) => return unreadable(e),
            Ok(false) => {}
            Ok(true) => {
                let rows = conn
                    .prepare("SELECT app, wrapped FROM data_keys LIMIT 16")
                    .and_then(|mut stmt| {
                        stmt.query_map([], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()
                    });
                match rows {
                    Err(e) => return unreadable(e),
                    Ok(rows) => {
                        for (app, wrapped) in rows {
                            tried = true;
                            let context = warden_host_apis::storage::data_key_context(&app);
                            if key.unwrap_key(&wrapped, context.as_bytes()).is_some() {
                                return KeyCheck::Opens;
                            }
                        }
                    }
                }
            }
        }
    }
    if tried {
        KeyCheck::WrongKey
    } else {
        KeyCheck::Opens
    }
}

/// What in `data_dir` is sealed under the master key, for an error that
/// says what a lost key would cost.
fn sealed_data(data_dir: &Path) -> Vec<String> {
    let mut sealed = Vec::new();
    let secrets = data_dir.join("secrets.json");
    // Fail closed: a file that exists but cannot be read counts as sealed.
    match std::fs::read(&secrets) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => sealed.push(format!("{} (unreadable)", secrets.display())),
        Ok(bytes) => {
            match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
                Ok(m) if m.is_empty() => {}
                Ok(m) => sealed.push(format!("{} ({} secrets)", secrets.display(), m.len())),
                Err(_) => sealed.push(format!("{} (unreadable)", secrets.display())),
            }
        }
    }
    let storage = data_dir.join("storage.db");
    if storage.exists() {
        // A database without the table has sealed nothing; one that cannot
        // be read at all counts as sealed.
        let keys: i64 = match rusqlite::Connection::open_with_flags(
            &storage,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) {
            Ok(c) => c
                .query_row("SELECT COUNT(*) FROM data_keys", [], |r| r.get(0))
                .unwrap_or(0),
            Err(_) => 1,
        };
        if keys > 0 {
            sealed.push(format!(
                "{} (the data keys of {keys} apps)",
                storage.display()
            ));
        }
    }
    sealed
}

/// Opens the secret store under the master key from `WARDEN_MASTER_KEY`,
/// the configured file, or `<data_dir>/master.key` (created on first use):
/// `<data_dir>/secrets.json`, or the shared database under `[state]
/// backend = "postgres"` (connected to here; a runtime passes its own
/// pool through [`Runtime::secrets`]).
pub fn open_secrets(platform: &PlatformConfig, data_dir: &Path) -> anyhow::Result<SecretStore> {
    let pg = crate::state::postgres::shared(platform)?;
    let key = master_key(platform, data_dir)?;
    if let Some(pg) = &pg {
        check_shared_key(pg, &key)?;
    }
    Ok(secrets_in(data_dir, key, pg.as_ref()))
}

/// Refuses a master key other than the one the cluster's state is sealed
/// under (a runtime checks once, at start; a CLI verb when it opens).
fn check_shared_key(pg: &crate::state::postgres::Postgres, key: &MasterKey) -> anyhow::Result<()> {
    use crate::wait::Wait as _;
    Ok(pg.check_master_key(key).wait()?)
}

/// The secret store of `data_dir`, or of `pg` when nodes share state.
fn secrets_in(
    data_dir: &Path,
    key: MasterKey,
    pg: Option<&Arc<crate::state::postgres::Postgres>>,
) -> SecretStore {
    match pg {
        Some(pg) => SecretStore::shared(
            Arc::new(crate::state::postgres::secrets::PgSecrets::new(pg.clone())),
            key,
        ),
        None => SecretStore::open(data_dir, key),
    }
}

impl Runtime {
    /// Builds the host for `platform`, recording spans through `provider`
    /// (see [`crate::telemetry`]). Creates the data directory if needed.
    pub fn new(platform: PlatformConfig, provider: SdkTracerProvider) -> anyhow::Result<Runtime> {
        Runtime::build(platform, provider, Process::Server)
    }

    /// A runtime for a process that makes one call or none (the CLI's
    /// verbs): like [`Runtime::new`], with memory mapped per instance
    /// instead of a pool reserved for a server's load.
    ///
    /// # Errors
    /// As [`Runtime::new`].
    pub fn for_one_call(
        platform: PlatformConfig,
        provider: SdkTracerProvider,
    ) -> anyhow::Result<Runtime> {
        Runtime::build(platform, provider, Process::Command)
    }

    /// A runtime for `warden run`: like [`Runtime::for_one_call`], with
    /// the embedded storage and deploy registry opened by their first use,
    /// as its one invocation may touch neither (a failure to open one is
    /// that call's error, naming the file).
    ///
    /// # Errors
    /// As [`Runtime::new`].
    pub fn for_run(
        platform: PlatformConfig,
        provider: SdkTracerProvider,
    ) -> anyhow::Result<Runtime> {
        Runtime::build(platform, provider, Process::Run)
    }

    fn build(
        platform: PlatformConfig,
        provider: SdkTracerProvider,
        process: Process,
    ) -> anyhow::Result<Runtime> {
        let allocation = match process {
            Process::Server => crate::engine::Allocation::Pooled,
            Process::Command | Process::Run => crate::engine::Allocation::OnDemand,
        };
        let data_dir = platform.data_dir();
        std::fs::create_dir_all(&data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the data directory {}: {e}\n  fix: set `data_dir` in warden.toml or WARDEN_DATA_DIR to a writable directory",
                data_dir.display()
            )
        })?;
        let engine = crate::engine::build(&platform, allocation)?;
        let linker = host_state::linker(&engine)?;
        let cache = ArtifactCache::new(
            &engine,
            data_dir.join("artifacts"),
            platform.deploys.max_parallel_compiles,
        );
        // The shared server, when the platform names one; migrated once here.
        let pg = crate::state::postgres::shared(&platform)?;
        // On shared state the key is needed at start (its check, the DLP
        // salt): read once, and checked — every node seals and opens under
        // one master key.
        let shared_key = match &pg {
            Some(pg) => {
                let key = master_key(&platform, &data_dir)?;
                check_shared_key(pg, &key)?;
                Some(key)
            }
            None => None,
        };
        let audit = crate::audit::open_for(&platform, &data_dir, pg.as_ref())?;
        let tracer = provider.tracer("warden");
        let catalog: Vec<Arc<Connector>> = warden_host_apis::connectors::compile_catalog(
            &platform.connectors,
            &platform.connector_rules,
        )
        .map_err(|p| {
            anyhow::anyhow!(
                "warden.toml: field `{}`: {}\n  fix: {}",
                p.field,
                p.problem,
                p.fix
            )
        })?
        .into_iter()
        .map(Arc::new)
        .collect();
        let usage: Arc<dyn UsageBackend> = match &pg {
            Some(pg) => Arc::new(crate::state::postgres::usage::PgUsage::new(pg.clone())),
            None => {
                let path = data_dir.join("usage.db");
                Arc::new(UsageStore::open(&path).map_err(|e| {
                    anyhow::anyhow!("cannot open the usage store {}: {e}", path.display())
                })?)
            }
        };
        let needs_secrets = platform
            .connectors
            .iter()
            .any(|c| c.auth.secret_name().is_some());
        let secrets = if needs_secrets {
            let key = match &shared_key {
                Some(key) => key.clone(),
                None => master_key(&platform, &data_dir)?,
            };
            Some(Arc::new(secrets_in(&data_dir, key, pg.as_ref())))
        } else {
            None
        };
        let credentials = Arc::new(Credentials::new(secrets));
        let storage = open_storage(pg.as_ref(), &data_dir, process)?;
        let salt = match (&pg, &shared_key) {
            // Equal values redact to equal tokens on every node.
            (Some(pg), Some(key)) => {
                use crate::wait::Wait as _;
                pg.dlp_salt(key).wait()?
            }
            _ => dlp_salt(&data_dir)?,
        };
        let dlp = Arc::new(Scanner::new(salt));
        let capabilities = Capabilities::new(&HostResources {
            platform: &platform,
            catalog: &catalog,
            credentials: &credentials,
            storage: &storage,
            master_key: &lazy_master_key(&platform, &data_dir),
            dlp: &dlp,
        })?;
        let registry: Arc<dyn crate::registry::RegistryBackend> = match &pg {
            Some(pg) => Arc::new(crate::state::postgres::registry::SharedRegistry::new(
                pg.clone(),
                &data_dir,
                audit.clone(),
            )),
            None if process == Process::Run => {
                Arc::new(crate::registry::Registry::open_on_first_use(&data_dir))
            }
            None => Arc::new(crate::registry::Registry::open(&data_dir).map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the deploy registry {}: {e}",
                    data_dir.join("registry.db").display()
                )
            })?),
        };
        Ok(Runtime {
            engine,
            linker,
            cache,
            platform,
            data_dir,
            audit,
            tracer,
            _provider: provider,
            capabilities,
            usage,
            credentials,
            storage,
            dlp,
            kill_record: std::sync::Mutex::default(),
            switches: std::sync::Mutex::default(),
            held_blind: std::sync::Mutex::default(),
            kill_changes: std::sync::Mutex::default(),
            tally: crate::containment::Tally::default(),
            paid_calls: crate::costs::PaidCallGate::default(),
            orphans: crate::lifecycle::orphans::Cache::default(),
            baselines: crate::anomaly::Baselines::default(),
            flushes: std::sync::Mutex::default(),
            registry,
            instruments: Arc::new(crate::telemetry::signals::Instruments::new(
                &opentelemetry::global::meter("warden"),
            )),
            policy: std::sync::OnceLock::new(),
            signer: std::sync::OnceLock::new(),
            shared: pg,
        })
    }

    /// The key attestations are signed with ([`crate::attest`]), read from
    /// the secret store (created there on first use).
    ///
    /// # Errors
    /// The master key or the secret store cannot be opened.
    pub fn signer(&self) -> Result<&crate::attest::Signer, String> {
        if let Some(signer) = self.signer.get() {
            return Ok(signer);
        }
        let secrets = self.secrets().map_err(|e| format!("{e:#}"))?;
        let signer = crate::attest::Signer::open_or_create(&secrets).map_err(|e| e.to_string())?;
        Ok(self.signer.get_or_init(|| signer))
    }

    /// The publish policy ([`crate::policy`]), compiled on first use.
    ///
    /// # Errors
    /// A policy that cannot be read, does not compile or fails on the
    /// sample publish; nothing may be published until it is fixed.
    pub fn policy(&self) -> Result<&crate::policy::PolicyBundle, crate::policy::PolicyError> {
        if let Some(bundle) = self.policy.get() {
            return Ok(bundle);
        }
        let sample = crate::policy::sample_input(&self.platform);
        let bundle = crate::policy::PolicyBundle::load(&self.platform.policy, &sample)?;
        Ok(self.policy.get_or_init(|| bundle))
    }

    /// Loads and checks an app (see [`crate::app`]).
    pub fn load_app(&self, manifest_path: &Path) -> Result<LoadedApp, ConfigError> {
        self.load_app_with(manifest_path, &app::LoadOptions::default())
    }

    /// Loads an app with what the host knows beyond its manifest: review
    /// state and quota overrides.
    pub(crate) fn load_app_with(
        &self,
        manifest_path: &Path,
        options: &app::LoadOptions,
    ) -> Result<LoadedApp, ConfigError> {
        self.with_load_context(|cx| app::load(cx, manifest_path, options))
    }

    /// Every check [`Runtime::load_app_with`] makes but the compile: what
    /// a host does before it listens, compiling in the background after.
    pub(crate) fn check_app_with(
        &self,
        manifest_path: &Path,
        options: &app::LoadOptions,
    ) -> Result<app::CheckedApp, ConfigError> {
        self.with_load_context(|cx| app::check(&cx, manifest_path, options))
    }

    /// Compiles a checked app (or loads its cached artifact): seconds to
    /// minutes for a big component, so not on an async worker.
    pub(crate) fn compile_app(&self, checked: app::CheckedApp) -> Result<LoadedApp, ConfigError> {
        self.with_load_context(|cx| app::compile(&cx, checked))
    }

    fn with_load_context<T>(&self, load: impl FnOnce(app::LoadContext<'_>) -> T) -> T {
        let kill = &|name: &str| self.kill_switch(name);
        load(app::LoadContext {
            engine: &self.engine,
            linker: &self.linker,
            cache: &self.cache,
            platform: &self.platform,
            capabilities: &self.capabilities,
            usage: &self.usage,
            kill,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    pub fn platform(&self) -> &PlatformConfig {
        &self.platform
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where usage counters are kept (this data directory's, or the
    /// database nodes share).
    pub fn usage(&self) -> &Arc<dyn UsageBackend> {
        &self.usage
    }

    /// The audit log (see [`crate::audit::AuditBackend`]).
    pub fn audit(&self) -> &dyn AuditBackend {
        self.audit.as_ref()
    }

    /// The secret store this runtime uses (see [`open_secrets`]), on its
    /// own pool when nodes share state.
    ///
    /// # Errors
    /// The master key cannot be had.
    pub fn secrets(&self) -> anyhow::Result<SecretStore> {
        Ok(secrets_in(
            &self.data_dir,
            master_key(&self.platform, &self.data_dir)?,
            self.shared.as_ref(),
        ))
    }

    /// The PostgreSQL server this node shares its state through, if any.
    pub fn shared(&self) -> Option<&Arc<crate::state::postgres::Postgres>> {
        self.shared.as_ref()
    }

    pub fn artifact_cache(&self) -> &ArtifactCache {
        &self.cache
    }

    /// Seals compiled artifacts from now on, and loads only sealed ones,
    /// under a key derived from the master key (see
    /// [`crate::artifact_cache`]). A serving host calls it before it loads
    /// any app.
    ///
    /// # Errors
    /// The master key cannot be had (see [`master_key`]).
    ///
    /// Without a master key it fails closed: no artifact on disk is
    /// trusted, and every load compiles ([`ArtifactCache::distrust`]).
    pub fn seal_artifacts(&self) -> anyhow::Result<()> {
        let key = master_key(&self.platform, &self.data_dir).and_then(|k| {
            k.derive(crate::artifact_cache::SEAL_PURPOSE)
                .map_err(|e| anyhow::anyhow!(e))
        });
        match key {
            Ok(key) => {
                self.cache.seal_with(key);
                Ok(())
            }
            Err(e) => {
                self.cache.distrust();
                Err(e)
            }
        }
    }

    /// Compiles components from now on in child processes of `program`
    /// (the `warden` binary), each stopped after `deploys.compile_timeout`.
    pub fn compile_in_child(&self, program: PathBuf) {
        self.cache.compile_in_child(crate::compile::ChildCompiler {
            program,
            budget: self.platform.deploys.compile_timeout.get(),
            facts: crate::compile::EngineFacts::of(&self.platform),
            stopping: std::sync::Arc::default(),
        });
    }

    /// Ends the child compiles under way and refuses new ones: the host
    /// is stopping (or refused to start), and nothing will serve them.
    /// Compiles in this process (no child compiler) run to their end.
    pub fn stop_compiles(&self) {
        self.cache.stop_compiles();
    }

    pub(crate) fn kill_record(&self) -> &KillRecordCache {
        &self.kill_record
    }

    pub(crate) fn switches(
        &self,
    ) -> &std::sync::Mutex<std::collections::HashMap<String, Arc<warden_host_apis::kill::KillSwitch>>>
    {
        &self.switches
    }

    /// One kill, unkill or refresh of the switches at a time in this
    /// process (see `kills.rs`).
    pub(crate) fn kill_changes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.kill_changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn kills_held_blind(&self) -> &std::sync::Mutex<std::collections::HashSet<String>> {
        &self.held_blind
    }

    /// Deployed versions, review state, quota overrides and templates.
    pub fn registry(&self) -> &dyn crate::registry::RegistryBackend {
        self.registry.as_ref()
    }

    /// A template by name: `warden.toml` first, then the admin API's.
    pub fn template(&self, name: &str) -> Option<crate::registry::Template> {
        self.platform
            .templates
            .get(name)
            .cloned()
            .or_else(|| self.registry.template(name).wait().ok().flatten())
    }

    pub(crate) fn instruments(&self) -> &Arc<crate::telemetry::signals::Instruments> {
        &self.instruments
    }

    /// Metric samples dropped because their queue was full.
    pub(crate) fn metric_samples_dropped(&self) -> u64 {
        self.instruments.dropped()
    }

    /// Records queued metric samples now (before a shutdown flush).
    pub(crate) fn flush_metrics(&self) {
        self.instruments.drain();
    }

    pub(crate) fn tally(&self) -> &crate::containment::Tally {
        &self.tally
    }

    /// Keeps `flush` (a usage-counter write spawned off an invocation's
    /// thread) until it ends, forgetting those that have.
    pub(crate) fn flushing(&self, flush: tokio::task::JoinHandle<()>) {
        let mut flushes = self.flushes.lock().unwrap_or_else(|p| p.into_inner());
        flushes.retain(|f| !f.is_finished());
        flushes.push(flush);
    }

    /// Waits for the usage-counter writes still running: a one-shot
    /// command (`warden run`) calls it before its async runtime ends, which
    /// would cancel them and lose what they carry.
    pub async fn settle(&self) {
        let running = std::mem::take(&mut *self.flushes.lock().unwrap_or_else(|p| p.into_inner()));
        for flush in running {
            // A store that does not answer does not hold the command up:
            // what the write carried is then said lost on the host's log.
            if tokio::time::timeout(std::time::Duration::from_secs(10), flush)
                .await
                .is_err()
            {
                tracing::warn!(
                    "a usage-counter write did not finish within 10 s; its counts may be lost"
                );
            }
        }
    }

    pub(crate) fn baselines(&self) -> &crate::anomaly::Baselines {
        &self.baselines
    }

    /// Orphaned apps, found at most every half minute.
    pub fn orphans(&self) -> &crate::lifecycle::orphans::Cache {
        &self.orphans
    }

    /// Which apps' paid connector calls are blocked by a spent budget.
    pub fn paid_calls(&self) -> &crate::costs::PaidCallGate {
        &self.paid_calls
    }

    pub(crate) fn dlp(&self) -> &Scanner {
        &self.dlp
    }

    /// The storage backend (for purges and maintenance).
    pub fn storage(&self) -> &Arc<dyn KvStore> {
        &self.storage
    }

    /// Connector credentials (for tests and metrics: token fetch counts).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub(crate) fn tracer(&self) -> &SdkTracer {
        &self.tracer
    }
}
