//! `warden:host/storage`: classified buckets with TTL, encryption at rest
//! and label-based flow control.
//!
//! Guarantees:
//! - an app reaches only the buckets its manifest names, in its own
//!   namespace (every store operation is keyed by the app's name);
//! - every value expires (see [`policy::effective_ttl`]) and an expired
//!   value is never returned, even before the purger removes it;
//! - values of classes whose rule says `encrypt` (confidential and
//!   regulated by default) are sealed with AES-256-GCM under a data key per
//!   app, itself wrapped by the platform master key; deleting the app
//!   deletes the wrapped key, so its ciphertexts can never be opened again;
//! - reading raises the invocation's [`Label`](crate::classes::Label);
//!   writing labelled data into a lower class fails with class-violation.

pub mod config;
mod host;
pub mod keyvalue;
pub mod policy;
pub mod store;

use crate::classes::{DataClass, Label};
use crate::denial::DenialLog;
use crate::dlp::{ActionByClass, Scanner};
use crate::problem::Problem;
use crate::secrets::MasterKey;
use config::{BucketRequest, ClassRule, StorageRules};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use store::KvStore;
use wasmtime::component::{HasSelf, Linker};

/// One granted bucket, compiled at load.
#[derive(Debug, Clone)]
pub struct BucketGrant {
    pub class: DataClass,
    pub ttl: Option<Duration>,
    pub rule: ClassRule,
}

/// Everything an app's storage needs, built once at load.
pub struct StorageGrant {
    pub app: String,
    pub buckets: BTreeMap<String, BucketGrant>,
    pub store: Arc<dyn KvStore>,
    pub rules: StorageRules,
    /// `quota.storage_bytes`, if set.
    pub quota_bytes: Option<u64>,
    /// Who set `quota_bytes`, for a refusal that says whom to ask.
    pub quota_set_by: crate::metering::QuotaSource,
    data_key: Option<[u8; 32]>,
    dlp: Option<(Arc<Scanner>, ActionByClass)>,
}

impl StorageGrant {
    /// Compiles the manifest's buckets against the platform rules. A data
    /// key is created (or unwrapped) only when some bucket encrypts.
    pub fn build(
        app: &str,
        requests: &[BucketRequest],
        rules: &StorageRules,
        quota_bytes: Option<u64>,
        store: Arc<dyn KvStore>,
        master: Option<&MasterKey>,
    ) -> Result<StorageGrant, Problem> {
        let mut buckets = BTreeMap::new();
        for (i, request) in requests.iter().enumerate() {
            let at = |f: &str| format!("storage[{i}].{f}");
            let name = &request.bucket;
            let valid = !name.is_empty()
                && name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid {
                return Err(Problem::new(
                    at("bucket"),
                    format!("`{name}` is not a valid bucket name"),
                    "use 1-63 characters of a-z, 0-9, '-' and '_'",
                ));
            }
            let rule = rules.rule(request.class);
            if let Some(ttl) = request.ttl
                && ttl.get() > rule.max_ttl
            {
                return Err(Problem::new(
                    at("ttl"),
                    format!(
                        "{ttl} is longer than the {} class keeps data ({})",
                        request.class,
                        crate::units::Dur(rule.max_ttl)
                    ),
                    format!(
                        "lower the ttl, or ask the platform team about `storage.classes.{}.max_ttl`",
                        request.class
                    ),
                ));
            }
            if rule.approval {
                return Err(Problem::new(
                    at("class"),
                    format!(
                        "bucket `{name}` holds {} data, which needs approval before use",
                        request.class
                    ),
                    format!(
                        "get the app reviewed and approved, or (for local development only) set `storage.classes.{}.approval = false` in warden.toml",
                        request.class
                    ),
                ));
            }
            if buckets
                .insert(
                    name.clone(),
                    BucketGrant {
                        class: request.class,
                        ttl: request.ttl.map(|t| t.get()),
                        rule,
                    },
                )
                .is_some()
            {
                return Err(Problem::new(
                    at("bucket"),
                    format!("bucket `{name}` is listed twice"),
                    "list each bucket once",
                ));
            }
        }
        let data_key = if buckets.values().any(|b| b.rule.encrypt) {
            let master = master.ok_or_else(|| {
                Problem::new(
                    "storage",
                    "encrypted buckets need the master key, and none is available",
                    "set WARDEN_MASTER_KEY or `secrets.master_key_file`",
                )
            })?;
            Some(data_key(app, store.as_ref(), master)?)
        } else {
            None
        };
        Ok(StorageGrant {
            app: app.to_string(),
            buckets,
            store,
            rules: rules.clone(),
            quota_bytes,
            quota_set_by: crate::metering::QuotaSource::App,
            data_key,
            dlp: None,
        })
    }

    /// Records who set the storage quota.
    pub fn with_quota_set_by(mut self, set_by: crate::metering::QuotaSource) -> Self {
        self.quota_set_by = set_by;
        self
    }

    /// Scans values written into buckets, acting by the bucket's class.
    pub fn with_dlp(mut self, scanner: Arc<Scanner>, actions: ActionByClass) -> Self {
        self.dlp = Some((scanner, actions));
        self
    }
}

/// What an app's data key is wrapped under besides the master key, so a
/// wrapped key moved to another app's row does not open.
pub fn data_key_context(app: &str) -> String {
    format!("warden-data-key:{app}")
}

/// The app's data key: unwrapped from the store, or created and stored.
/// Runs at load, not on a guest's thread, so it waits for the backend.
fn data_key(app: &str, store: &dyn KvStore, master: &MasterKey) -> Result<[u8; 32], Problem> {
    let context = data_key_context(app);
    let fail =
        |m: String| Problem::new("storage", m, "check the master key and the data directory");
    let backend = |e: store::StorageError| fail(e.to_string());
    if futures_executor::block_on(store.data_key(app))
        .map_err(backend)?
        .is_none()
    {
        let key = crate::aead::random_key().map_err(fail)?;
        let wrapped = master.wrap(&key, context.as_bytes()).map_err(fail)?;
        futures_executor::block_on(store.put_data_key(app, &wrapped)).map_err(backend)?;
    }
    let wrapped = futures_executor::block_on(store.data_key(app))
        .map_err(backend)?
        .ok_or_else(|| fail("the data key vanished".into()))?;
    let key = master
        .unwrap_key(&wrapped, context.as_bytes())
        .ok_or_else(|| {
            fail(format!(
                "the data key of `{app}` does not open with this master key"
            ))
        })?;
    key.try_into()
        .map_err(|_| fail("the data key has the wrong size".into()))
}

/// One invocation's view of storage.
pub struct StorageState {
    pub(crate) ctx: Arc<StorageGrant>,
    pub(crate) label: Label,
    pub(crate) denials: DenialLog,
    /// The app's kill switch: a killed app's storage calls are refused.
    /// (A write already handed to the backend when the kill comes still
    /// commits, as an HTTP request already sent still arrives.)
    pub(crate) kill: Option<Arc<crate::kill::KillSwitch>>,
    pub(crate) table: wasmtime::component::ResourceTable,
    pub reads: u64,
    pub writes: u64,
    /// Set when a shared backend could not be reached during the call
    /// (its message): an invocation that then fails is the state's fault,
    /// not the app's, and is answered 503 with `Retry-After`.
    pub unavailable: std::sync::Mutex<Option<String>>,
    /// Each storage call of the invocation, for its trace (at most
    /// [`MAX_OPS`]; the counters above count them all).
    pub ops: Vec<StorageOp>,
}

/// One storage call as the trace shows it: never a key or a value.
#[derive(Debug, Clone)]
pub struct StorageOp {
    /// `open`, `get`, `set`, `delete` or `list`.
    pub op: &'static str,
    pub bucket: String,
    pub started: std::time::SystemTime,
    pub duration: std::time::Duration,
    /// Value bytes read or written.
    pub bytes: u64,
    /// How it ended.
    pub outcome: StorageOutcome,
}

pub(crate) const MAX_OPS: usize = 256;

/// How a storage call ended, as traces and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageOutcome {
    Ok,
    /// Refused by the platform (the denial's own name).
    Denied(crate::denial::Denial),
    TooLarge,
    QuotaExceeded,
    Internal,
}

impl StorageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageOutcome::Ok => "ok",
            StorageOutcome::Denied(kind) => kind.as_str(),
            StorageOutcome::TooLarge => "too-large",
            StorageOutcome::QuotaExceeded => "quota-exceeded",
            StorageOutcome::Internal => "internal",
        }
    }
}

impl StorageState {
    pub fn new(ctx: Arc<StorageGrant>, label: Label) -> Self {
        StorageState {
            ctx,
            label,
            denials: DenialLog::default(),
            kill: None,
            table: wasmtime::component::ResourceTable::new(),
            reads: 0,
            writes: 0,
            unavailable: std::sync::Mutex::new(None),
            ops: Vec::new(),
        }
    }

    /// One invocation's storage: the app's grant, with the label and
    /// denial log it shares with the other capabilities.
    pub fn for_invocation(
        ctx: Arc<StorageGrant>,
        invocation: &crate::invocation::InvocationContext,
    ) -> Self {
        let mut state = StorageState::new(ctx, invocation.label.clone())
            .with_denials(invocation.denials.clone());
        state.kill = Some(invocation.kill.clone());
        state
    }

    /// Records DLP refusals in the invocation's denial log.
    pub fn with_denials(mut self, denials: DenialLog) -> Self {
        self.denials = denials;
        self
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Links `warden:host/storage`; `get` finds the invocation's state.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut StorageState,
) -> wasmtime::Result<()> {
    crate::bindings::warden::host::storage::add_to_linker::<T, HasSelf<StorageState>>(linker, get)
}

#[cfg(test)]
mod tests;
