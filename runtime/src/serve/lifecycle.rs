//! The lifecycle rules that act on their own, every `check_interval`, on
//! the host that runs the schedules — one per data directory, one per
//! cluster:
//!
//! - **Suspending lapsed apps** (`[lifecycle] suspend_lapsed`): the kill
//!   switch of each live app whose periodic review is past its date by
//!   more than the grace is pulled, as `warden:lifecycle`, saying why. The
//!   kill switch is the suspension: the app is not served and gets no
//!   credentials, its data stays, every node sees it at once, and it is
//!   audited (`app.killed`). A reviewer's recorded review lifts it
//!   (`crate::admin` periodic reviews); so can an admin's unkill.
//! - **Retiring orphans** (`[lifecycle] retire_orphans`): each orphaned
//!   app (`crate::lifecycle::orphans`) is retired, as `warden:lifecycle`,
//!   with the reasons (`app.retired`): not served, no credentials, data
//!   kept until its TTL; `warden unretire` puts it back.
//! - **Stale credentials** (a connector's `rotate_every`): each secret past
//!   it is alerted once per value (`crate::lifecycle::credentials`).

use crate::audit::{AuditEvent, AuditKind};
use crate::lifecycle::{credentials, due, orphans};
use crate::runtime::Runtime;
use crate::serve::Server;
use serde_json::json;
use std::sync::Arc;
use std::time::SystemTime;

/// The actor of a suspension, which a review may lift.
pub const SUSPENDER: &str = "warden:lifecycle";

/// Checks every interval until the server is gone (nothing when neither
/// rule is on).
pub(crate) fn spawn(server: &Arc<Server>) -> Option<tokio::task::JoinHandle<()>> {
    let settings = server.runtime().platform().lifecycle.clone();
    let watch_credentials = credentials::watched(server.runtime());
    if !settings.suspend_lapsed && !settings.retire_orphans && !watch_credentials {
        return None;
    }
    let server = Arc::downgrade(server);
    let every = settings.check_interval.get();
    Some(tokio::spawn(async move {
        // The first check as soon as this host runs the schedules (a host
        // restarted more often than the interval still checks), then
        // every interval.
        let mut last: Option<std::time::Instant> = None;
        let mut raised = std::collections::HashSet::new();
        loop {
            tokio::time::sleep(every.min(std::time::Duration::from_secs(10))).await;
            let Some(strong) = server.upgrade() else {
                break;
            };
            if strong.runs_schedules() && last.is_none_or(|l| l.elapsed() >= every) {
                if settings.suspend_lapsed {
                    suspend_lapsed(strong.runtime()).await;
                }
                if settings.retire_orphans {
                    retire_orphans(&strong).await;
                }
                if watch_credentials {
                    let granted = granted(&strong);
                    let (server, mut seen) = (strong.clone(), std::mem::take(&mut raised));
                    raised = tokio::task::spawn_blocking(move || {
                        credentials::alert(server.runtime(), &granted, &mut seen);
                        seen
                    })
                    .await
                    .unwrap_or_default();
                }
                last = Some(std::time::Instant::now());
            }
        }
    }))
}

/// Each connector's apps among those served here.
fn granted(server: &Server) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut granted: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for app in server.all_apps() {
        for c in &app.manifest.connectors {
            granted
                .entry(c.name.clone())
                .or_default()
                .push(app.name().to_string());
        }
    }
    granted
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

/// Retires every orphaned live app (but one an admin put back for a
/// deactivated owner, see [`orphans::Orphan::retiring`]).
async fn retire_orphans(server: &Arc<Server>) {
    let runtime = server.runtime();
    // An invocation this host has not written yet counts as one.
    server.flush_meters().await;
    let found = match orphans::find(runtime, SystemTime::now()).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("orphaned apps not checked: {e}");
            return;
        }
    };
    for orphan in found {
        let reasons = orphan.retiring();
        if reasons.is_empty() {
            continue;
        }
        let why = format!(
            "retired as orphaned: {}; `warden unretire {} --reason ...` puts it back",
            reasons
                .iter()
                .map(|r| r.describe())
                .collect::<Vec<_>>()
                .join("; "),
            orphan.app
        );
        let retired = match runtime
            .registry()
            .retire(&orphan.app, SUSPENDER, &why)
            .await
        {
            Ok(Some(retired)) => retired,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(app = orphan.app.as_str(), "orphan not retired: {e}");
                continue;
            }
        };
        if let Err(e) = server.remove(&orphan.app) {
            tracing::warn!(
                app = orphan.app.as_str(),
                "retired, but not unloaded here: {e}"
            );
        }
        let event = AuditEvent {
            kind: AuditKind::AppRetired,
            app: Some(orphan.app.clone()),
            actor: SUSPENDER.into(),
            details: json!({
                "version": retired.version,
                "deploy": retired.id,
                "reason": why,
                "orphaned": reasons,
            }),
        };
        let audit = runtime.clone();
        match tokio::task::spawn_blocking(move || audit.audit().append_blocking(event)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(app = orphan.app.as_str(), "retirement not audited: {e}"),
            Err(e) => tracing::warn!(app = orphan.app.as_str(), "retirement not audited: {e}"),
        }
        runtime.orphans().forget();
        tracing::warn!(app = orphan.app.as_str(), "{why}");
    }
}
