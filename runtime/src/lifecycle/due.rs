//! When each live app's periodic review comes due: its risk tier's
//! interval after its last periodic review, or — never reviewed — after
//! its first deploy. Approving a new version does not count: that review
//! looks at a change, a periodic one at the whole app as it stands.
//!
//! | status | when |
//! |---|---|
//! | `ok` | more than `lifecycle.notice` before the date |
//! | `due` | within the notice before the date |
//! | `overdue` | past the date, within `lifecycle.grace` |
//! | `lapsed` | past the date by more than the grace |

use super::risk::{RiskTier, tier};
use crate::config::AppManifest;
use crate::registry::{PeriodicReview, RegistryError, Status};
use crate::runtime::Runtime;
use serde::Serialize;
use std::time::SystemTime;

/// One live app's review schedule.
#[derive(Debug, Clone, Serialize)]
pub struct Due {
    pub app: String,
    /// The live version.
    pub version: String,
    pub owner: Option<String>,
    pub team: Option<String>,
    /// `active` or `killed`.
    pub state: &'static str,
    /// Killed by a lapsed review (`[lifecycle] suspend_lapsed`): a
    /// recorded review lifts it.
    pub suspended: bool,
    pub tier: RiskTier,
    /// What put the app in its tier.
    pub reasons: Vec<String>,
    pub last_review: Option<PeriodicReview>,
    /// When the interval started (RFC 3339): the last review, else the
    /// first deploy.
    pub since: String,
    /// When the next review is due (RFC 3339).
    pub due_at: String,
    /// `ok`, `due`, `overdue` or `lapsed` (see the module's table).
    pub status: &'static str,
    /// Whole days until the date (negative once past it).
    pub days_left: i64,
}

impl Due {
    /// Whether a reviewer should look at it now.
    pub fn is_due(&self) -> bool {
        self.status != "ok"
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Every live app's schedule at `now`, most urgent first.
///
/// # Errors
/// The registry cannot be read.
pub async fn schedule(runtime: &Runtime, now: SystemTime) -> Result<Vec<Due>, RegistryError> {
    let settings = &runtime.platform().lifecycle;
    let registry = runtime.registry();
    let reviews = registry.last_reviews().await?;
    let kills = runtime.kill_state();
    let mut out = Vec::new();
    for live in registry.active().await? {
        let manifest = AppManifest::load(&live.manifest_path).ok();
        let (tier, mut reasons) = match &manifest {
            Some(m) => tier(m, runtime.platform()),
            // Unreadable: reviewed as often as the riskiest.
            None => (
                RiskTier::High,
                vec!["its manifest cannot be read here, so it is held to the high tier".into()],
            ),
        };
        // The app as it is now began with its first deploy that was not
        // refused, failed or deleted: reviews of an app deleted before,
        // under the same name, do not count for it.
        let first = registry
            .versions(&live.app)
            .await?
            .iter()
            .filter(|d| {
                !matches!(
                    d.status,
                    Status::Failed | Status::Deleted | Status::Rejected
                )
            })
            .map(|d| d.deployed_at.clone())
            .min()
            .unwrap_or_else(|| live.deployed_at.clone());
        let last_review = reviews.get(&live.app).filter(|r| r.at >= first).cloned();
        let since = last_review.as_ref().map_or(first, |r| r.at.clone());
        let start = match humantime::parse_rfc3339_weak(&since) {
            Ok(start) => start,
            Err(_) => {
                // A date that does not read must not make the app never
                // due: it is as late as it can be.
                tracing::warn!(app = live.app.as_str(), "unreadable review date `{since}`");
                reasons.push(format!("its review clock (`{since}`) cannot be read"));
                SystemTime::UNIX_EPOCH
            }
        };
        let due_at = start + tier.interval(settings);
        let status = status_at(now, due_at, settings);
        out.push(Due {
            app: live.app.clone(),
            version: live.version.clone(),
            owner: live.owner.clone(),
            team: manifest.and_then(|m| m.app.team),
            state: live.status.as_str(),
            suspended: kills
                .get(&live.app)
                .is_some_and(|k| k.actor == crate::serve::lifecycle::SUSPENDER),
            tier,
            reasons,
            last_review,
            since,
            due_at: rfc3339(due_at),
            status,
            days_left: days_between(now, due_at),
        });
    }
    out.sort_by(|a, b| (a.due_at.as_str(), &a.app).cmp(&(b.due_at.as_str(), &b.app)));
    Ok(out)
}

/// Where a review due at `due_at` stands at `now` (the module's table).
fn status_at(
    now: SystemTime,
    due_at: SystemTime,
    settings: &crate::config::lifecycle::LifecycleSettings,
) -> &'static str {
    if now + settings.notice.get() < due_at {
        "ok"
    } else if now < due_at {
        "due"
    } else if now < due_at + settings.grace.get() {
        "overdue"
    } else {
        "lapsed"
    }
}

/// Whole days from `now` to `then`, negative when `then` is past.
fn days_between(now: SystemTime, then: SystemTime) -> i64 {
    const DAY: u64 = 86_400;
    match then.duration_since(now) {
        Ok(ahead) => (ahead.as_secs() / DAY) as i64,
        Err(past) => -(past.duration().as_secs().div_ceil(DAY) as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_review_is_ok_then_due_then_overdue_then_lapsed() {
        let settings = crate::config::lifecycle::LifecycleSettings::default();
        let day = Duration::from_secs(86_400);
        let due_at = SystemTime::UNIX_EPOCH + day * 1000;
        for (now, expected) in [
            (due_at - day * 8, "ok"),
            (due_at - day * 7, "due"),
            (due_at - Duration::from_secs(1), "due"),
            (due_at, "overdue"),
            (due_at + day * 13, "overdue"),
            (due_at + day * 14, "lapsed"),
        ] {
            assert_eq!(status_at(now, due_at, &settings), expected);
        }
    }

    #[test]
    fn days_round_toward_the_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let day = Duration::from_secs(86_400);
        assert_eq!(days_between(now, now + day * 3 + Duration::from_secs(5)), 3);
        assert_eq!(days_between(now, now), 0);
        assert_eq!(days_between(now, now - Duration::from_secs(5)), -1);
        assert_eq!(days_between(now, now - day * 2), -2);
    }
}
