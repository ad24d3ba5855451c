//! Classified storage as a capability: `warden:host/storage` and
//! `wasi:keyvalue/store`, over one backend.
//!
//! Request: `[[storage]]` buckets in `app.toml` (and `quota.storage_bytes`).
//! Rules: `[storage]` classes (approval opens the approval-only ones) and
//! `[dlp] storage` in `warden.toml`.

use crate::capability::{Account, Capability, GrantInput, HostResources, InvocationContext, Part};
use crate::config::ConfigError;
use crate::host_state::HostState;
use crate::telemetry::keys;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Status, TraceContextExt, Tracer};
use std::sync::Arc;
use warden_host_apis::dlp::Scanner;
use warden_host_apis::secrets::MasterKey;
use warden_host_apis::storage::store::KvStore;
pub use warden_host_apis::storage::{StorageGrant, StorageState};
use warden_host_apis::storage::{StorageOp, StorageOutcome};
use wasmtime::component::Linker;

/// The storage capability: the backend, and the master key that wraps
/// each app's data key when a class encrypts.
pub struct Storage {
    backend: Arc<dyn KvStore>,
    master_key: Arc<dyn Fn() -> Option<MasterKey> + Send + Sync>,
    dlp: Arc<Scanner>,
}

impl Capability for Storage {
    type Grant = StorageGrant;
    type State = StorageState;

    fn new(host: &HostResources<'_>) -> anyhow::Result<Self> {
        Ok(Storage {
            backend: host.storage.clone(),
            master_key: host.master_key.clone(),
            dlp: host.dlp.clone(),
        })
    }

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        warden_host_apis::storage::add_to_linker(linker, |s: &mut HostState| s.part())?;
        warden_host_apis::storage::keyvalue::add_to_linker(linker, |s: &mut HostState| s.part())
    }

    /// The manifest's buckets under the class rules (approval opens the
    /// approval-only classes), with a data key when a class encrypts.
    fn grant(&self, app: &GrantInput<'_>) -> Result<StorageGrant, ConfigError> {
        let manifest = app.manifest;
        let platform = app.platform;
        let needs_key = manifest
            .storage
            .iter()
            .any(|b| platform.storage.rule(b.class).encrypt);
        let master = if needs_key { (self.master_key)() } else { None };
        let rules = if app.options.approved {
            platform.storage.approved()
        } else {
            platform.storage.clone()
        };
        StorageGrant::build(
            &manifest.app.name,
            &manifest.storage,
            &rules,
            manifest.quota.storage_bytes.map(|s| s.bytes()),
            self.backend.clone(),
            master.as_ref(),
        )
        .map(|s| {
            s.with_dlp(self.dlp.clone(), platform.dlp.storage.clone())
                .with_quota_set_by(app.quota.storage_bytes)
        })
        .map_err(|p| app.invalid(p.field, p.problem, p.fix))
    }

    fn state(grant: &Arc<StorageGrant>, invocation: &InvocationContext) -> StorageState {
        StorageState::for_invocation(grant.clone(), invocation)
    }

    /// Reads and writes in the usage, one child span per call, and the
    /// calls' metric samples.
    fn account(state: &mut StorageState, account: &mut Account<'_>) {
        account.usage.storage_reads = state.reads;
        account.usage.storage_writes = state.writes;
        let ops = std::mem::take(&mut state.ops);
        record_storage(account, &ops);
        account
            .metrics
            .storage
            .extend(ops.iter().map(|op| (op.op, op.bytes)));
    }
}

/// One child span per storage call, under the invocation's span.
fn record_storage(account: &Account<'_>, ops: &[StorageOp]) {
    if !account.span.span().is_recording() {
        return;
    }
    let tracer = account.tracer;
    for op in ops {
        let mut span = tracer
            .span_builder("storage")
            .with_start_time(op.started)
            .with_attributes([
                KeyValue::new(keys::STORAGE_OP, op.op),
                KeyValue::new(keys::STORAGE_BUCKET, op.bucket.clone()),
                KeyValue::new(keys::STORAGE_BYTES, op.bytes as i64),
                KeyValue::new(keys::OUTCOME, op.outcome.as_str()),
            ])
            .start_with_context(tracer, account.span);
        if op.outcome != StorageOutcome::Ok {
            span.set_status(Status::error(op.outcome.as_str()));
        }
        span.end_with_timestamp(op.started + op.duration);
    }
}
