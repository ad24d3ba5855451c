//! The serving host's signed checkpoints of the audit chain (see
//! `crate::audit::checkpoint`): one as it takes the lease at start-up
//! (sealing what was written while no host ran), one whenever
//! `audit.checkpoint_interval` has passed since its last and something
//! was appended, and one at shutdown. Only the host that runs the schedules signs — one host per
//! data directory, one node per cluster — so checkpoints follow one
//! another and never race.

use crate::audit::checkpoint;
use crate::runtime::Runtime;
use crate::serve::Server;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the task looks (a checkpoint is due at most every interval).
const TICK: Duration = Duration::from_secs(10);

/// Signs a checkpoint now, saying why; a failure is logged (the chain
/// itself is intact, only not yet signed).
pub(crate) fn sign_now(runtime: &Runtime, reason: &str) -> bool {
    let signed = runtime
        .secrets()
        .map_err(|e| format!("{e:#}"))
        .and_then(|secrets| {
            checkpoint::sign_in_turn(
                runtime.audit(),
                &secrets,
                reason,
                &checkpoint::Turn::of(runtime),
            )
            .map_err(|e| e.to_string())
        });
    match signed {
        Ok(entry) => {
            if let Some(entry) = entry {
                tracing::debug!(seq = entry.seq, reason, "audit checkpoint signed");
            }
            true
        }
        Err(e) => {
            tracing::warn!("the audit chain was not checkpointed ({reason}): {e}");
            false
        }
    }
}

/// Signs whenever the interval has passed since the last signing here,
/// until the server is gone (the start checkpoint is signed as the host
/// takes the lease: [`on_lease_taken`]).
pub(crate) fn spawn(server: &Arc<Server>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let server = Arc::downgrade(server);
    tokio::spawn(async move {
        let mut last = Instant::now();
        loop {
            tokio::time::sleep(TICK.min(interval)).await;
            let Some(strong) = server.upgrade() else {
                break;
            };
            if last.elapsed() >= interval && strong.runs_schedules() {
                let runtime = strong.runtime().clone();
                let signed =
                    tokio::task::spawn_blocking(move || sign_now(&runtime, "interval")).await;
                if signed.unwrap_or(false) {
                    last = Instant::now();
                }
            }
        }
    })
}

/// Signs what was written while this host did not sign (before it
/// started, or while another host held the lease), as it takes the lease.
pub(crate) fn on_lease_taken(runtime: &Arc<Runtime>) {
    let runtime = runtime.clone();
    tokio::task::spawn_blocking(move || sign_now(&runtime, "start"));
}
