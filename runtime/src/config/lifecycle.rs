//! `[lifecycle]` in `warden.toml`: how often each app's periodic review
//! comes due, by its risk tier (see `crate::lifecycle`).
//!
//! ```toml
//! [lifecycle]
//! review_every = { high = "30d", medium = "90d", low = "180d" }
//! notice = "7d"    # listed as due this long before the date
//! grace = "14d"    # how long past the date before an app counts as lapsed
//! suspend_lapsed = false   # true: a lapsed app is suspended until reviewed
//! unused_after = "90d"     # no invocation for this long: flagged as orphaned
//! retire_orphans = false   # true: orphaned apps are retired automatically
//! ```

use serde::{Deserialize, Serialize};
use std::time::Duration;
use warden_host_apis::units::Dur;

const DAY: u64 = 86_400;

/// `[lifecycle]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleSettings {
    /// The longest an app of each tier goes between periodic reviews.
    pub review_every: ReviewIntervals,
    /// How long before its date a review is listed as due.
    pub notice: Dur,
    /// How long past its date an overdue review may go before the app
    /// counts as lapsed (`warden reviews due` says so).
    pub grace: Dur,
    /// Suspend a lapsed app: the serving host pulls its kill switch, as
    /// `warden:lifecycle` (not served, credentials withheld, data kept),
    /// until a reviewer records its review. Off by default.
    pub suspend_lapsed: bool,
    /// How often the serving host looks for lapsed apps to suspend and
    /// orphans to retire.
    pub check_interval: Dur,
    /// A live app with no invocation for this long is flagged as orphaned
    /// (counted in whole UTC days of usage; see `crate::lifecycle::orphans`).
    pub unused_after: Dur,
    /// Retire orphaned apps automatically (not served, credentials
    /// withheld, data kept until its TTL; an admin's `warden unretire`
    /// puts one back). Off by default: flagged only.
    pub retire_orphans: bool,
}

/// `review_every`, per risk tier.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewIntervals {
    pub high: Dur,
    pub medium: Dur,
    pub low: Dur,
}

impl Default for ReviewIntervals {
    fn default() -> Self {
        ReviewIntervals {
            high: Dur(Duration::from_secs(30 * DAY)),
            medium: Dur(Duration::from_secs(90 * DAY)),
            low: Dur(Duration::from_secs(180 * DAY)),
        }
    }
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            review_every: ReviewIntervals::default(),
            notice: Dur(Duration::from_secs(7 * DAY)),
            grace: Dur(Duration::from_secs(14 * DAY)),
            suspend_lapsed: false,
            check_interval: Dur(Duration::from_secs(3600)),
            unused_after: Dur(Duration::from_secs(90 * DAY)),
            retire_orphans: false,
        }
    }
}

impl LifecycleSettings {
    /// What is wrong with the settings, as (field, problem, fix).
    pub fn problem(&self) -> Option<(String, String, String)> {
        let every = &self.review_every;
        for (tier, interval) in [
            ("high", every.high),
            ("medium", every.medium),
            ("low", every.low),
        ] {
            if interval.get() < Duration::from_secs(1) {
                return Some((
                    format!("lifecycle.review_every.{tier}"),
                    format!("{interval} is shorter than a second"),
                    "use a number of days, e.g. \"90d\"".into(),
                ));
            }
        }
        if self.check_interval.get() < Duration::from_millis(100) {
            return Some((
                "lifecycle.check_interval".into(),
                format!("{} is shorter than 100ms", self.check_interval),
                "use 100ms or more (1h is the default)".into(),
            ));
        }
        if self.unused_after.get() < Duration::from_secs(1) {
            return Some((
                "lifecycle.unused_after".into(),
                format!("{} is shorter than a second", self.unused_after),
                "use a number of days, e.g. \"90d\"".into(),
            ));
        }
        if self.notice >= every.high {
            return Some((
                "lifecycle.notice".into(),
                format!(
                    "{} is as long as the high tier's interval ({}): high apps would be due again the moment they are reviewed",
                    self.notice, every.high
                ),
                "make the notice shorter than review_every.high, e.g. \"7d\"".into(),
            ));
        }
        if every.high > every.medium || every.medium > every.low {
            return Some((
                "lifecycle.review_every".into(),
                format!(
                    "a riskier tier is reviewed less often (high {}, medium {}, low {})",
                    every.high, every.medium, every.low
                ),
                "keep high <= medium <= low, e.g. 30d, 90d, 180d".into(),
            ));
        }
        None
    }
}
