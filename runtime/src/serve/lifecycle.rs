//! Suspending lapsed apps (`[lifecycle] suspend_lapsed`): every
//! `check_interval`, the host that runs the schedules — one per data
//! directory, one per cluster — pulls the kill switch of each live app
//! whose periodic review is past its date by more than the grace, as
//! `warden:lifecycle`, saying why. The kill switch is the suspension: the
//! app is not served and gets no credentials, its data stays, every node
//! sees it at once, and it is audited (`app.killed`). A reviewer's
//! recorded review lifts it (`crate::admin` periodic reviews); so can an
//! admin's unkill.

use crate::lifecycle::due;
use crate::runtime::Runtime;
use crate::serve::Server;
use std::sync::Arc;
use std::time::SystemTime;

/// The actor of a suspension, which a review may lift.
pub const SUSPENDER: &str = "warden:lifecycle";

/// Checks every interval until the server is gone (nothing when
/// suspension is off).
pub(crate) fn spawn(server: &Arc<Server>) -> Option<tokio::task::JoinHandle<()>> {
    let settings = server.runtime().platform().lifecycle.clone();
    if !settings.suspend_lapsed {
        return None;
    }
    let server = Arc::downgrade(server);
    let every = settings.check_interval.get();
    Some(tokio::spawn(async move {
        // The first check as soon as this host runs the schedules (a host
        // restarted more often than the interval still checks), then
        // every interval.
        let mut last: Option<std::time::Instant> = None;
        loop {
            tokio::time::sleep(every.min(std::time::Duration::from_secs(10))).await;
            let Some(strong) = server.upgrade() else {
                break;
            };
            if strong.runs_schedules() && last.is_none_or(|l| l.elapsed() >= every) {
                suspend_lapsed(strong.runtime()).await;
                last = Some(std::time::Instant::now());
            }
        }
    }))
}

/// Suspends every live, unkilled app whose review has lapsed.
async fn suspend_lapsed(runtime: &Arc<Runtime>) {
    let schedule = match due::schedule(runtime, SystemTime::now()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("lapsed reviews not checked: {e}");
            return;
        }
    };
    let grace = runtime.platform().lifecycle.grace;
    for app in schedule
        .into_iter()
        .filter(|d| d.status == "lapsed" && d.state == "active")
    {
        let reason = format!(
            "suspended: its periodic review ({} tier) was due {} and is past the {grace} grace; a reviewer's `warden review record {}` lifts it",
            app.tier.as_str(),
            app.due_at,
            app.app
        );
        let (runtime, name) = (runtime.clone(), app.app.clone());
        // Never over another kill: an operator's stays theirs.
        let killed = tokio::task::spawn_blocking(move || {
            runtime.kill_unless_killed(&name, &reason, SUSPENDER)
        })
        .await;
        match killed {
            Ok(Ok(true)) => {
                tracing::warn!(app = app.app.as_str(), "suspended: periodic review lapsed")
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(app = app.app.as_str(), "not suspended: {e}"),
            Err(e) => tracing::warn!(app = app.app.as_str(), "not suspended: {e}"),
        }
    }
}
