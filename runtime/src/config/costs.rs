//! `[costs]` in `warden.toml`: the platform's own prices and the monthly
//! budgets of teams and cost centers (see `crate::costs`).
//!
//! ```toml
//! [costs]
//! currency = "USD"          # the unit of every price and budget (a label)
//! per_invocation = 0.00002  # charged per invocation that ran
//! per_million_fuel = 0.001  # charged per million fuel units consumed
//!
//! [[costs.budgets]]
//! team = "ops"              # or cost_center = "CC-1200"
//! monthly = 200.0
//! on_exceeded = "block-paid-calls"   # default "alert"
//! ```
//!
//! A connector's price is its `cost_per_call` in the catalog. Every price
//! is charged when the call or invocation happens, so a price changed
//! later does not rewrite a month already spent.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use warden_host_apis::units::Dur;

/// `[costs]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CostSettings {
    /// What prices and budgets are in; shown beside every amount.
    pub currency: String,
    /// Charged for each invocation that ran (one refused before it
    /// started — killed, over its request quota — costs nothing).
    pub per_invocation: f64,
    /// Charged per million fuel units an invocation consumed.
    pub per_million_fuel: f64,
    /// How often each host adds up the month's spend against the budgets.
    pub check_interval: Dur,
    /// Where budget alerts are posted as JSON; when unset, to
    /// `containment.alert_webhook` if that is set.
    pub alert_webhook: Option<String>,
    /// Monthly budgets, one per team or cost center.
    pub budgets: Vec<Budget>,
}

impl Default for CostSettings {
    fn default() -> Self {
        CostSettings {
            currency: "USD".into(),
            per_invocation: 0.0,
            per_million_fuel: 0.0,
            check_interval: Dur(Duration::from_secs(60)),
            alert_webhook: None,
            budgets: Vec::new(),
        }
    }
}

/// One `[[costs.budgets]]`: what a team or a cost center may spend in a
/// calendar month (UTC).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The apps whose `app.team` is this.
    pub team: Option<String>,
    /// The apps whose `app.cost_center` is this.
    pub cost_center: Option<String>,
    /// The amount, in `costs.currency`.
    pub monthly: f64,
    #[serde(default)]
    pub on_exceeded: OnExceeded,
}

/// What happens once a budget is spent.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnExceeded {
    /// Alert (at 80% and at 100%) and keep serving.
    #[default]
    Alert,
    /// Alert, and refuse the apps' calls to connectors that cost money
    /// until the month ends or the budget is raised; free calls go on.
    BlockPaidCalls,
}

impl OnExceeded {
    pub fn as_str(self) -> &'static str {
        match self {
            OnExceeded::Alert => "alert",
            OnExceeded::BlockPaidCalls => "block-paid-calls",
        }
    }
}

/// Which apps a budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Holder {
    Team,
    CostCenter,
}

impl Holder {
    pub fn as_str(self) -> &'static str {
        match self {
            Holder::Team => "team",
            Holder::CostCenter => "cost-center",
        }
    }
}

impl Budget {
    /// Whose budget it is: (team or cost center, its name).
    pub fn holder(&self) -> (Holder, &str) {
        match (&self.team, &self.cost_center) {
            (Some(team), _) => (Holder::Team, team),
            (None, Some(center)) => (Holder::CostCenter, center),
            (None, None) => (Holder::Team, ""),
        }
    }
}

impl CostSettings {
    /// What is wrong with the settings, as (field, problem, fix).
    pub fn problem(&self) -> Option<(String, String, String)> {
        let price_fix = "write an amount in costs.currency, e.g. 0.0001 (0 charges nothing)";
        if self.currency.trim().is_empty() {
            return Some((
                "costs.currency".into(),
                "is empty".into(),
                "name the currency prices are in, e.g. \"USD\"".into(),
            ));
        }
        for (field, price) in [
            ("per_invocation", self.per_invocation),
            ("per_million_fuel", self.per_million_fuel),
        ] {
            if !price.is_finite() || price < 0.0 {
                return Some((
                    format!("costs.{field}"),
                    format!("{price} is not a price"),
                    price_fix.into(),
                ));
            }
        }
        if self.check_interval.get() < Duration::from_secs(1) {
            return Some((
                "costs.check_interval".into(),
                format!("{} is shorter than a second", self.check_interval),
                "use \"1s\" or more (default \"1m\")".into(),
            ));
        }
        if let Some(hook) = &self.alert_webhook
            && let Err(problem) = super::urls::check_url(hook)
        {
            return Some((
                "costs.alert_webhook".into(),
                problem,
                "write the full URL of the hook, e.g. \"https://hooks.example.com/warden\"".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, budget) in self.budgets.iter().enumerate() {
            let at = |f: &str| format!("costs.budgets[{i}].{f}");
            match (&budget.team, &budget.cost_center) {
                (Some(_), Some(_)) | (None, None) => {
                    return Some((
                        at("team"),
                        "a budget needs exactly one of `team` and `cost_center`".into(),
                        "write `team = \"ops\"` or `cost_center = \"CC-1200\"`, one budget each"
                            .into(),
                    ));
                }
                (Some(name), None) | (None, Some(name)) if name.trim().is_empty() => {
                    return Some((
                        at(budget.holder().0.as_str().replace('-', "_").as_str()),
                        "is empty".into(),
                        "name the team or cost center as apps write it in app.toml".into(),
                    ));
                }
                _ => {}
            }
            if !budget.monthly.is_finite() || budget.monthly <= 0.0 {
                return Some((
                    at("monthly"),
                    format!("{} is not a budget", budget.monthly),
                    "write what may be spent in a month, in costs.currency, e.g. 200.0".into(),
                ));
            }
            let (holder, name) = budget.holder();
            if !seen.insert((holder, name.to_string())) {
                return Some((
                    at(holder.as_str().replace('-', "_").as_str()),
                    format!("{} `{name}` has two budgets", holder.as_str()),
                    "keep one budget per team or cost center".into(),
                ));
            }
        }
        None
    }

    /// Where budget alerts go: `costs.alert_webhook`, else the
    /// containment hook.
    pub fn alert_hook<'a>(
        &'a self,
        containment: &'a super::containment::ContainmentRules,
    ) -> Option<&'a str> {
        self.alert_webhook
            .as_deref()
            .or(containment.alert_webhook.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> CostSettings {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn defaults_charge_nothing_and_set_no_budget() {
        let settings = CostSettings::default();
        assert_eq!(settings.problem(), None);
        assert_eq!(
            (settings.per_invocation, settings.per_million_fuel),
            (0.0, 0.0)
        );
        assert!(settings.budgets.is_empty());
        assert_eq!(settings.currency, "USD");
    }

    #[test]
    fn a_budget_names_one_team_or_one_cost_center() {
        let both = parse("[[budgets]]\nteam = \"ops\"\ncost_center = \"CC-1\"\nmonthly = 5.0\n");
        let (field, problem, _) = both.problem().expect("refused");
        assert_eq!(field, "costs.budgets[0].team");
        assert!(problem.contains("exactly one"), "{problem}");
        let neither = parse("[[budgets]]\nmonthly = 5.0\n");
        assert!(neither.problem().is_some());
        let twice = parse(
            "[[budgets]]\ncost_center = \"CC-1\"\nmonthly = 5.0\n[[budgets]]\ncost_center = \"CC-1\"\nmonthly = 9.0\n",
        );
        let (field, problem, _) = twice.problem().expect("refused");
        assert_eq!(field, "costs.budgets[1].cost_center");
        assert!(problem.contains("two budgets"), "{problem}");
    }

    #[test]
    fn amounts_must_be_real_prices() {
        let (field, ..) = parse("[[budgets]]\nteam = \"ops\"\nmonthly = 0.0\n")
            .problem()
            .expect("refused");
        assert_eq!(field, "costs.budgets[0].monthly");
        let (field, ..) = parse("per_invocation = -1.0").problem().expect("refused");
        assert_eq!(field, "costs.per_invocation");
        let (field, ..) = parse("per_million_fuel = nan").problem().expect("refused");
        assert_eq!(field, "costs.per_million_fuel");
        let ok = parse(
            "[[budgets]]\nteam = \"ops\"\nmonthly = 2.5\non_exceeded = \"block-paid-calls\"\n",
        );
        assert_eq!(ok.problem(), None);
        assert_eq!(ok.budgets[0].on_exceeded, OnExceeded::BlockPaidCalls);
        assert!(
            toml::from_str::<CostSettings>(
                "[[budgets]]\nteam = \"ops\"\nmonthly = 1.0\non_exceeded = \"stop\"\n"
            )
            .is_err()
        );
    }
}
