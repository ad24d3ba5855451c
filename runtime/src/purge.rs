//! Physical removal of expired values.
//!
//! Reads already ignore expired values; the purger reclaims their space
//! within the purge interval. Each pass deletes in batches through the
//! expiry index, so its cost follows the number of expired values, not the
//! number stored, and a batch holds the store's lock only briefly.

use crate::runtime::Runtime;
use crate::telemetry::keys;
use crate::wait::Wait as _;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Tracer};
use std::time::Instant;
use warden_host_apis::storage::now_ms;

/// Values removed per batch.
const BATCH: u32 = 1_000;

/// What one purge pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    pub purged: u64,
    pub batches: u64,
    pub duration_us: u64,
}

impl Runtime {
    /// Deletes every value expired now; traced as a `storage.purge` span.
    pub fn purge_expired(&self) -> Result<PurgeReport, String> {
        let started = Instant::now();
        let now = now_ms();
        let mut report = PurgeReport {
            purged: 0,
            batches: 0,
            duration_us: 0,
        };
        loop {
            // The purger runs on its own thread, not a guest's: it waits.
            let n = self
                .storage()
                .purge_expired(now, BATCH)
                .wait()
                .map_err(|e| e.to_string())?;
            report.purged += n;
            report.batches += 1;
            if n < u64::from(BATCH) {
                break;
            }
        }
        report.duration_us = started.elapsed().as_micros() as u64;
        let mut span = self.tracer().start("storage.purge");
        span.set_attribute(KeyValue::new(keys::PURGED, report.purged as i64));
        span.set_attribute(KeyValue::new(keys::DURATION_US, report.duration_us as i64));
        span.end();
        Ok(report)
    }
}

/// Runs a purge every `storage.purge_interval` until the runtime is
/// dropped (the task holds only a weak reference). Used by long-running
/// hosts; `warden storage purge` runs one pass on demand.
pub fn spawn_purger(runtime: &std::sync::Arc<Runtime>) -> tokio::task::JoinHandle<()> {
    let weak = std::sync::Arc::downgrade(runtime);
    let interval = runtime.platform().storage.purge_interval.get();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(runtime) = weak.upgrade() else { break };
            let result = tokio::task::spawn_blocking(move || runtime.purge_expired()).await;
            if let Ok(Err(e)) = result {
                tracing::warn!("storage purge failed: {e}");
            }
        }
    })
}
