//! Monthly budgets of teams and cost centers: how much of each is spent,
//! the alerts at 80% and 100%, and the paid calls a spent budget blocks.
//!
//! Every host adds up the month's charges every `costs.check_interval`
//! (default a minute) from the usage counters — shared by every node on
//! PostgreSQL — and sets which apps' paid calls it refuses: each node
//! enforces, none waits for another. Only the host that runs the
//! schedules alerts, so a cluster alerts once. Spend can pass a budget by
//! what its apps charge within one interval (and a second of counter
//! flushing) before the block holds; like a cloud provider's budget, it is
//! a limit checked often, not a reservation taken per call.

use super::Month;
use super::report::{self, Attribution, By};
use crate::audit::AuditKind;
use crate::config::costs::{CostSettings, Holder, OnExceeded};
use crate::runtime::Runtime;
use crate::serve::Server;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use warden_host_apis::units::{from_micros, micros};

/// Shares of a budget that are alerted, in percent.
pub const THRESHOLDS: [u64; 2] = [80, 100];

/// One budget as spent in one month.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BudgetStatus {
    /// `team` or `cost-center`.
    pub holder: Holder,
    /// The team's or cost center's name.
    pub name: String,
    /// `YYYY-MM`.
    pub month: String,
    pub monthly: f64,
    pub spent: f64,
    /// `spent` as a percentage of `monthly`.
    pub used_pct: f64,
    /// `ok`, `warning` (80% or more) or `exceeded` (100% or more).
    pub state: &'static str,
    pub on_exceeded: OnExceeded,
    /// The apps' calls to paid connectors are refused (`exceeded` with
    /// `block-paid-calls`).
    pub blocking_paid_calls: bool,
    /// The apps it covers (those Warden knows with this team or cost
    /// center).
    pub apps: Vec<String>,
    #[serde(skip)]
    spent_micros: u64,
    #[serde(skip)]
    monthly_micros: u64,
}

impl BudgetStatus {
    /// Whether the budget belongs to the groups of a report `by`.
    pub fn holder_is(&self, by: By) -> bool {
        matches!(
            (self.holder, by),
            (Holder::Team, By::Team) | (Holder::CostCenter, By::CostCenter)
        )
    }

    /// The thresholds (percent) spend has reached.
    pub fn reached(&self) -> Vec<u64> {
        THRESHOLDS
            .into_iter()
            .filter(|t| reaches(self.spent_micros, self.monthly_micros, *t))
            .collect()
    }

    fn describe(&self) -> String {
        format!("the {} `{}` budget", self.holder.as_str(), self.name)
    }
}

/// Whether `spent` is `pct` percent of `monthly` or more (exact, in
/// millionths).
fn reaches(spent: u64, monthly: u64, pct: u64) -> bool {
    u128::from(spent) * 100 >= u128::from(monthly) * u128::from(pct)
}

/// Every budget of `settings` as spent in `month`, from each app's month
/// total (`totals`, millionths) and whose each app is (`who`).
pub fn statuses(
    settings: &CostSettings,
    month: Month,
    totals: &BTreeMap<String, u64>,
    who: &BTreeMap<String, Attribution>,
) -> Vec<BudgetStatus> {
    settings
        .budgets
        .iter()
        .map(|budget| {
            let (holder, name) = budget.holder();
            let apps: Vec<String> = who
                .iter()
                .filter(|(_, a)| match holder {
                    Holder::Team => a.team.as_deref() == Some(name),
                    Holder::CostCenter => a.cost_center.as_deref() == Some(name),
                })
                .map(|(app, _)| app.clone())
                .collect();
            let spent_micros: u64 = apps.iter().filter_map(|a| totals.get(a)).sum();
            let monthly_micros = micros(budget.monthly).max(1);
            let state = if reaches(spent_micros, monthly_micros, 100) {
                "exceeded"
            } else if reaches(spent_micros, monthly_micros, 80) {
                "warning"
            } else {
                "ok"
            };
            BudgetStatus {
                holder,
                name: name.to_string(),
                month: month.to_string(),
                monthly: budget.monthly,
                spent: from_micros(spent_micros),
                used_pct: (spent_micros as f64 * 1000.0 / monthly_micros as f64).round() / 10.0,
                state,
                on_exceeded: budget.on_exceeded,
                blocking_paid_calls: state == "exceeded"
                    && budget.on_exceeded == OnExceeded::BlockPaidCalls,
                apps,
                spent_micros,
                monthly_micros,
            }
        })
        .collect()
}

/// The apps whose paid calls `budgets` block, with the refusal each gets.
pub fn blocks(budgets: &[BudgetStatus], month: Month, currency: &str) -> HashMap<String, Arc<str>> {
    let mut out = HashMap::new();
    for b in budgets.iter().filter(|b| b.blocking_paid_calls) {
        let why: Arc<str> = Arc::from(format!(
            "{} ({:.2} {currency} for {month}) is spent: {:.2} {currency}; calls that cost money resume when the month ends ({}) or when `costs.budgets` in warden.toml raises it",
            b.describe(),
            b.monthly,
            b.spent,
            month.ends_at()
        ));
        for app in &b.apps {
            out.entry(app.clone()).or_insert_with(|| why.clone());
        }
    }
    out
}

/// The month's budgets now, from the shared counters; `served` says whose
/// the apps a host serves are.
///
/// # Errors
/// The usage store cannot be read.
pub async fn check(
    runtime: &Runtime,
    served: &[(String, Attribution)],
) -> Result<Vec<BudgetStatus>, warden_host_apis::metering::UsageError> {
    let month = Month::current();
    let rows = report::rows(runtime, month).await?;
    let who = report::attribution(runtime, served).await;
    Ok(statuses(
        &runtime.platform().costs,
        month,
        &report::app_totals(&rows),
        &who,
    ))
}

/// Checks the budgets now and then every `costs.check_interval` until the
/// server is gone (nothing without budgets): sets the paid calls this
/// host refuses, and — on the host that runs the schedules — alerts.
pub(crate) fn spawn(server: &Arc<Server>) -> Option<tokio::task::JoinHandle<()>> {
    let settings = server.runtime().platform().costs.clone();
    if settings.budgets.is_empty() {
        return None;
    }
    let server = Arc::downgrade(server);
    let every = settings.check_interval.get();
    Some(tokio::spawn(async move {
        let mut raised: HashSet<AlertKey> = HashSet::new();
        loop {
            let Some(strong) = server.upgrade() else {
                break;
            };
            // This host's charges not yet written go first: every node's
            // check does the same, so the shared counters are at most an
            // interval behind.
            strong.flush_meters().await;
            let served = strong.attributions();
            match check(strong.runtime(), &served).await {
                Ok(budgets) => {
                    // Alerts first: once a block shows, the pass that set
                    // it has alerted too.
                    if strong.runs_schedules() {
                        let (server, fresh) = (strong.clone(), std::mem::take(&mut raised));
                        let seen = budgets.clone();
                        let alerted = tokio::task::spawn_blocking(move || {
                            let mut raised = fresh;
                            alert(server.runtime(), &seen, &mut raised);
                            raised
                        })
                        .await;
                        raised = alerted.unwrap_or_default();
                    }
                    enforce(strong.runtime(), &budgets);
                }
                Err(e) => tracing::warn!("budgets not checked: {e}"),
            }
            drop(strong);
            tokio::time::sleep(every).await;
        }
    }))
}

/// Sets which apps' paid calls this host refuses, saying what changed.
fn enforce(runtime: &Runtime, budgets: &[BudgetStatus]) {
    let settings = &runtime.platform().costs;
    let (added, released) =
        runtime
            .paid_calls()
            .set(blocks(budgets, Month::current(), &settings.currency));
    for app in added {
        tracing::warn!(
            app = app.as_str(),
            "paid connector calls blocked: its budget is spent"
        );
    }
    for app in released {
        tracing::info!(app = app.as_str(), "paid connector calls allowed again");
    }
}

/// (holder, name, month, threshold, budget in millionths): one alert.
/// The amount is in the key so a budget raised mid-month alerts again
/// when the new amount's thresholds are crossed.
type AlertKey = (Holder, String, String, u64, u64);

fn key_of(b: &BudgetStatus, threshold: u64) -> AlertKey {
    (
        b.holder,
        b.name.clone(),
        b.month.clone(),
        threshold,
        b.monthly_micros,
    )
}

/// Whether `details` (of a `budget.crossed` entry) are the alert `key`.
fn same(details: &serde_json::Value, key: &AlertKey) -> bool {
    details["holder"] == key.0.as_str()
        && details["name"] == key.1.as_str()
        && details["month"] == key.2.as_str()
        && details["threshold_pct"] == key.3
        && details["monthly"].as_f64().map(micros) == Some(key.4)
}

/// Raises each threshold each budget has reached that was not raised
/// this month: audit `budget.crossed`, an ALERT line, the alert hook.
/// Blocking: reads the audit chain (once, if anything is to be raised).
fn alert(runtime: &Runtime, budgets: &[BudgetStatus], raised: &mut HashSet<AlertKey>) {
    let mut chain = crate::alert::Chain::new(runtime);
    let settings = &runtime.platform().costs;
    for b in budgets {
        for threshold in b.reached() {
            let key = key_of(b, threshold);
            if raised.contains(&key) {
                continue;
            }
            if chain.holds(AuditKind::BudgetCrossed, |d| same(d, &key)) {
                raised.insert(key);
                continue;
            }
            raise(runtime, settings, b, threshold);
            raised.insert(key);
        }
    }
}

fn raise(runtime: &Runtime, settings: &CostSettings, b: &BudgetStatus, threshold: u64) {
    let currency = &settings.currency;
    let blocking = threshold == 100 && b.blocking_paid_calls;
    tracing::warn!(
        "ALERT: {} has spent {}% of {:.2} {currency} for {} ({:.2} {currency}){}",
        b.describe(),
        b.used_pct,
        b.monthly,
        b.month,
        b.spent,
        if blocking {
            "; its apps' paid connector calls are blocked"
        } else {
            ""
        }
    );
    let details = json!({
        "holder": b.holder.as_str(),
        "name": b.name,
        "month": b.month,
        "threshold_pct": threshold,
        "monthly": b.monthly,
        "spent": b.spent,
        "used_pct": b.used_pct,
        "currency": currency,
        "on_exceeded": b.on_exceeded.as_str(),
        "paid_calls_blocked": blocking,
        "apps": b.apps,
    });
    crate::alert::raise(
        runtime,
        AuditKind::BudgetCrossed,
        "warden:costs",
        None,
        details,
        settings.alert_hook(&runtime.platform().containment),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::costs::Budget;

    fn settings(on_exceeded: OnExceeded) -> CostSettings {
        CostSettings {
            budgets: vec![Budget {
                team: Some("ops".into()),
                cost_center: None,
                monthly: 2.0,
                on_exceeded,
            }],
            ..CostSettings::default()
        }
    }

    fn who() -> BTreeMap<String, Attribution> {
        BTreeMap::from([
            (
                "bot".to_string(),
                Attribution {
                    team: Some("ops".into()),
                    ..Attribution::default()
                },
            ),
            ("other".to_string(), Attribution::default()),
        ])
    }

    #[test]
    fn a_budget_warns_at_80_and_is_exceeded_at_100_percent() {
        let month = Month::parse("2026-12").expect("month");
        let at = |micros: u64| {
            let totals = BTreeMap::from([
                ("bot".to_string(), micros),
                ("other".to_string(), 9_000_000),
            ]);
            statuses(&settings(OnExceeded::Alert), month, &totals, &who()).remove(0)
        };
        let quiet = at(1_599_999);
        assert_eq!((quiet.state, quiet.reached()), ("ok", vec![]));
        let warned = at(1_600_000);
        assert_eq!((warned.state, warned.reached()), ("warning", vec![80]));
        assert_eq!(warned.used_pct, 80.0);
        let spent = at(2_000_000);
        assert_eq!((spent.state, spent.reached()), ("exceeded", vec![80, 100]));
        // `other` names no team: its spend is not the team's.
        assert_eq!(spent.apps, ["bot"]);
        assert!(!spent.blocking_paid_calls, "alert only");
    }

    #[test]
    fn only_a_spent_blocking_budget_blocks_its_apps() {
        let month = Month::parse("2026-12").expect("month");
        let totals = BTreeMap::from([("bot".to_string(), 2_000_001)]);
        let budgets = statuses(
            &settings(OnExceeded::BlockPaidCalls),
            month,
            &totals,
            &who(),
        );
        let blocked = blocks(&budgets, month, "USD");
        assert_eq!(blocked.keys().collect::<Vec<_>>(), ["bot"]);
        let why = &blocked["bot"];
        assert!(
            why.contains("team `ops` budget (2.00 USD for 2026-12) is spent: 2.00 USD"),
            "{why}"
        );
        assert!(
            why.contains("2027-01-01T00:00:00Z") && why.contains("costs.budgets"),
            "{why}"
        );
        let under = BTreeMap::from([("bot".to_string(), 1_999_999)]);
        let budgets = statuses(&settings(OnExceeded::BlockPaidCalls), month, &under, &who());
        assert!(blocks(&budgets, month, "USD").is_empty());
    }
}
