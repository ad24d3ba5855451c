//! Orphaned apps: live apps nobody looks after any more.
//!
//! | reason | when |
//! |---|---|
//! | `owner-deactivated` | the app's owner is a person the identity provider deactivated or deleted (`crate::people`) |
//! | `unused` | no invocation for `lifecycle.unused_after` (default 90 days), counted from the later of the live version's deploy and an admin's unretire |
//!
//! Flagged apps show in `warden apps`, `warden inspect` and the dashboard.
//! With `lifecycle.retire_orphans = true` the host that runs the
//! schedules retires them (`crate::serve::lifecycle`): not served, no
//! credentials, data kept until its TTL, put back by an admin with
//! `warden unretire`. An app an admin unretired is not retired again for
//! the same reason: its unused clock starts at the unretire, and a
//! deactivated owner is taken as known (it stays flagged until the app is
//! given an owner with `warden apps transfer`).

use crate::people::store::PeopleStore;
use crate::runtime::Runtime;
use crate::wait::Wait as _;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use warden_host_apis::metering::ALL;

/// Why an app is orphaned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reason {
    /// Its owner was deactivated or deleted by the identity provider.
    OwnerDeactivated { owner: String },
    /// No invocation since `since` (RFC 3339), longer than `unused_after`.
    Unused {
        since: String,
        /// The last UTC day it ran (`2026-09-01`) within the look-back, if any.
        last_invocation: Option<String>,
        /// `lifecycle.unused_after`, in days.
        unused_after_days: u64,
    },
}

impl Reason {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Reason::OwnerDeactivated { owner } => {
                format!("its owner `{owner}` was deactivated by the identity provider")
            }
            Reason::Unused {
                since,
                unused_after_days,
                ..
            } => format!("no invocation since {since} (unused after {unused_after_days} days)"),
        }
    }
}

/// One orphaned live app.
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    pub app: String,
    pub version: String,
    pub owner: Option<String>,
    pub reasons: Vec<Reason>,
    /// An admin put the app back after its owner was deactivated: taken
    /// on, so that does not retire it again.
    #[serde(skip)]
    pub unretired: bool,
}

impl Orphan {
    /// The reasons that retire it under `retire_orphans`.
    pub fn retiring(&self) -> Vec<&Reason> {
        self.reasons
            .iter()
            .filter(|r| !(self.unretired && matches!(r, Reason::OwnerDeactivated { .. })))
            .collect()
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn parse_secs(text: &str) -> Option<u64> {
    humantime::parse_rfc3339(text).ok().map(secs)
}

/// The live apps whose owner is one of `aliases` (`\nname\n…`).
pub fn owned_by(runtime: &Runtime, aliases: &str) -> Vec<String> {
    runtime
        .registry()
        .active()
        .wait()
        .unwrap_or_default()
        .into_iter()
        .filter(|d| {
            d.owner.as_deref().is_some_and(|o| {
                crate::people::store::alias_keys(o)
                    .iter()
                    .any(|key| aliases.contains(key.as_str()))
            })
        })
        .map(|d| d.app)
        .collect()
}

/// When an admin last unretired `deploy` (Unix seconds), if ever.
async fn unretired_at(runtime: &Runtime, deploy: i64) -> Option<u64> {
    runtime
        .registry()
        .history(deploy)
        .await
        .ok()?
        .iter()
        .filter(|t| t.from.as_deref() == Some("retired"))
        .filter_map(|t| parse_secs(&t.at))
        .max()
}

/// Every orphaned live app at `now`.
///
/// # Errors
/// The registry or the usage counters cannot be read.
pub async fn find(runtime: &Runtime, now: SystemTime) -> Result<Vec<Orphan>, String> {
    let live = runtime
        .registry()
        .active()
        .await
        .map_err(|e| format!("the registry cannot be read: {e}"))?;
    if live.is_empty() {
        return Ok(Vec::new());
    }
    let unused_after = runtime.platform().lifecycle.unused_after.get();
    let now_s = secs(now);
    let window_start = now_s.saturating_sub(unused_after.as_secs());
    let first_day = window_start - window_start % 86_400;
    let rows = runtime
        .usage()
        .days(first_day, now_s - now_s % 86_400 + 86_400)
        .await
        .map_err(|e| format!("the usage counters cannot be read: {e}"))?;
    let mut last_ran: BTreeMap<&str, u64> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r.scope == ALL && r.counters.invocations > 0)
    {
        let day = last_ran.entry(row.app.as_str()).or_insert(0);
        *day = (*day).max(row.day);
    }
    let people = PeopleStore::of(runtime);
    let mut out = Vec::new();
    for d in live {
        let mut reasons = Vec::new();
        let unretired = unretired_at(runtime, d.id).await;
        // An admin who put the app back after its owner left took it on;
        // an owner who left after that orphans it again.
        let mut known_to_admin = false;
        if let Some(owner) = &d.owner
            && let Ok(Some(at)) = people.deactivated_at(owner)
        {
            reasons.push(Reason::OwnerDeactivated {
                owner: owner.clone(),
            });
            known_to_admin = unretired.is_some_and(|u| u >= at);
        }
        let since = parse_secs(&d.deployed_at)
            .unwrap_or(0)
            .max(unretired.unwrap_or(0));
        let ran = last_ran.get(d.app.as_str()).copied();
        // A run on the day the clock started (or later) counts.
        if since <= window_start && ran.is_none_or(|day| day + 86_400 <= window_start) {
            reasons.push(Reason::Unused {
                since: crate::admin::token_store::rfc3339(since),
                last_invocation: ran.map(crate::costs::month::date_of),
                unused_after_days: unused_after.as_secs() / 86_400,
            });
        }
        if !reasons.is_empty() {
            out.push(Orphan {
                app: d.app,
                version: d.version,
                owner: d.owner,
                reasons,
                unretired: known_to_admin,
            });
        }
    }
    Ok(out)
}

/// [`find`] at most every half minute per host: `GET /v1/apps` and the
/// dashboard ask often, the answer changes by the day.
#[derive(Default)]
pub struct Cache {
    last: Mutex<Option<(Instant, Flags)>>,
}

/// Each orphaned app's reasons, by app.
pub type Flags = BTreeMap<String, Vec<Reason>>;

const FRESH: Duration = Duration::from_secs(30);

impl Cache {
    /// Each orphaned app's reasons (empty when it cannot be told: the
    /// host's log says why).
    pub async fn reasons(&self, runtime: &Runtime) -> Flags {
        if let Some((at, known)) = &*self.last.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < FRESH
        {
            return known.clone();
        }
        let found = match find(runtime, SystemTime::now()).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("orphaned apps not checked: {e}");
                return BTreeMap::new();
            }
        };
        let map: Flags = found.into_iter().map(|o| (o.app, o.reasons)).collect();
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), map.clone()));
        map
    }

    /// Forgets what was found (an app retired, transferred or a person
    /// changed): the next question looks again.
    pub fn forget(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
