//! A month's spend, rolled up by app, team or cost center, from the usage
//! counters' charges ([`super`]) and who each app belongs to.

use super::Month;
use super::budgets::{BudgetStatus, statuses};
use super::month::{self, date_of};
use crate::config::AppManifest;
use crate::config::costs::CostSettings;
use crate::runtime::Runtime;
use serde::Serialize;
use std::collections::BTreeMap;
use warden_host_apis::metering::{ALL, DayUsage, UsageError};
use warden_host_apis::units::from_micros;

/// Whose an app is, from its manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attribution {
    pub owner: Option<String>,
    pub team: Option<String>,
    pub cost_center: Option<String>,
}

impl Attribution {
    pub fn of(manifest: &AppManifest) -> Attribution {
        Attribution {
            owner: manifest.app.owner.clone(),
            team: manifest.app.team.clone(),
            cost_center: manifest.app.cost_center.clone(),
        }
    }
}

/// What a report is rolled up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum By {
    App,
    Team,
    CostCenter,
}

impl By {
    /// Parses `app`, `team` or `cost-center`.
    ///
    /// # Errors
    /// Names the accepted values.
    pub fn parse(text: &str) -> Result<By, String> {
        match text {
            "app" => Ok(By::App),
            "team" => Ok(By::Team),
            "cost-center" | "cost_center" => Ok(By::CostCenter),
            other => Err(format!(
                "`{other}` is not a roll-up; use app, team or cost-center"
            )),
        }
    }

    /// The group an app with `who` falls in (`None`: the app names none).
    fn key(self, app: &str, who: &Attribution) -> Option<String> {
        match self {
            By::App => Some(app.to_string()),
            By::Team => who.team.clone(),
            By::CostCenter => who.cost_center.clone(),
        }
    }
}

/// One connector's share of a group's spend.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConnectorSpend {
    pub calls: u64,
    pub cost: f64,
}

/// The platform's own charges: invocations and fuel.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlatformSpend {
    pub invocations: u64,
    pub fuel: u64,
    pub cost: f64,
}

/// One app, team or cost center.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The app, team or cost center; `null` for apps that name no team
    /// (or cost center), or that Warden no longer knows.
    pub name: Option<String>,
    /// The month's spend, in the report's currency.
    pub cost: f64,
    /// Today's spend (0 for a month that is over).
    pub today: f64,
    /// The apps in the group that spent anything.
    pub apps: Vec<String>,
    /// For a report by app: whose the app is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
    /// Spend per UTC day (`2026-12-01`), days without any left out.
    pub days: BTreeMap<String, f64>,
    /// Spend per connector.
    pub connectors: BTreeMap<String, ConnectorSpend>,
    pub platform: PlatformSpend,
    /// The group's budget, when it is a team or cost center that has one.
    pub budget: Option<BudgetStatus>,
}

/// A month's costs.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `YYYY-MM`, UTC.
    pub month: String,
    pub currency: String,
    pub by: By,
    pub total: f64,
    /// Most expensive first.
    pub groups: Vec<Group>,
    /// Every budget of `[[costs.budgets]]`, as spent this month.
    pub budgets: Vec<BudgetStatus>,
}

/// Micro-unit sums of one group, before they become amounts.
#[derive(Default)]
struct Sums {
    total: u64,
    today: u64,
    apps: std::collections::BTreeSet<String>,
    days: BTreeMap<u64, u64>,
    connectors: BTreeMap<String, (u64, u64)>,
    invocations: u64,
    fuel: u64,
    connector_micros: u64,
}

/// Each app's month total, in millionths: what budgets are held to.
pub fn app_totals(rows: &[DayUsage]) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for row in rows.iter().filter(|r| r.scope == ALL) {
        *totals.entry(row.app.clone()).or_insert(0u64) += row.counters.cost_micros;
    }
    totals
}

/// The report of `month` from its usage `rows`, with `who` saying whose
/// each app is, as of `today` (the start of the current UTC day).
pub fn build(
    month: Month,
    by: By,
    rows: &[DayUsage],
    who: &BTreeMap<String, Attribution>,
    settings: &CostSettings,
    today: u64,
) -> Report {
    let nobody = Attribution::default();
    let mut groups: BTreeMap<Option<String>, Sums> = BTreeMap::new();
    for row in rows {
        let owner = who.get(&row.app).unwrap_or(&nobody);
        let sums = groups.entry(by.key(&row.app, owner)).or_default();
        let c = &row.counters;
        if row.scope == ALL {
            sums.total += c.cost_micros;
            sums.invocations += c.invocations;
            sums.fuel += c.fuel;
            *sums.days.entry(row.day).or_default() += c.cost_micros;
            if row.day == today {
                sums.today += c.cost_micros;
            }
            if c.cost_micros > 0 {
                sums.apps.insert(row.app.clone());
            }
        } else if row.scope != "hosts" && (c.calls > 0 || c.cost_micros > 0) {
            let spend = sums.connectors.entry(row.scope.clone()).or_default();
            spend.0 += c.calls;
            spend.1 += c.cost_micros;
            sums.connector_micros += c.cost_micros;
        }
    }
    let totals = app_totals(rows);
    let budgets = statuses(settings, month, &totals, who);
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|(name, s)| Group {
            attribution: (by == By::App).then(|| {
                name.as_ref()
                    .and_then(|n| who.get(n))
                    .cloned()
                    .unwrap_or_default()
            }),
            budget: budgets
                .iter()
                .find(|b| name.as_deref() == Some(b.name.as_str()) && b.holder_is(by))
                .cloned(),
            name,
            cost: from_micros(s.total),
            today: from_micros(s.today),
            apps: s.apps.into_iter().collect(),
            days: s
                .days
                .into_iter()
                .filter(|(_, m)| *m > 0)
                .map(|(d, m)| (date_of(d), from_micros(m)))
                .collect(),
            connectors: s
                .connectors
                .into_iter()
                .map(|(n, (calls, m))| {
                    (
                        n,
                        ConnectorSpend {
                            calls,
                            cost: from_micros(m),
                        },
                    )
                })
                .collect(),
            platform: PlatformSpend {
                invocations: s.invocations,
                fuel: s.fuel,
                cost: from_micros(s.total.saturating_sub(s.connector_micros)),
            },
        })
        .collect();
    groups.sort_by(|a, b| b.cost.total_cmp(&a.cost).then_with(|| a.name.cmp(&b.name)));
    Report {
        month: month.to_string(),
        currency: settings.currency.clone(),
        by,
        total: from_micros(totals.values().sum()),
        groups,
        budgets,
    }
}

/// Whose each app is: the manifest of every live or retired version in
/// the registry, and over them what `served` holds (the apps a host
/// serves now, files given with `--app` included). An app Warden no
/// longer knows (deleted) belongs to no team.
pub async fn attribution(
    runtime: &Runtime,
    served: &[(String, Attribution)],
) -> BTreeMap<String, Attribution> {
    let registry = runtime.registry();
    let mut who = BTreeMap::new();
    let mut versions = registry.retired().await.unwrap_or_default();
    versions.extend(registry.active().await.unwrap_or_default());
    for version in versions {
        if let Ok(manifest) = AppManifest::load(&version.manifest_path) {
            // The registry says whose it is now (transfers included).
            let mut attribution = Attribution::of(&manifest);
            attribution.owner = version.owner.clone();
            who.insert(version.app.clone(), attribution);
        }
    }
    for (app, owner) in served {
        who.insert(app.clone(), owner.clone());
    }
    who
}

/// `month`'s report by `by`, with `served` saying whose the apps a host
/// serves are. With `owner`, only that person's apps, and no budgets
/// (a creator sees what their own apps cost, not a team's spend).
///
/// # Errors
/// The usage store cannot be read.
pub async fn for_month(
    runtime: &Runtime,
    month: Month,
    by: By,
    served: &[(String, Attribution)],
    owner: Option<&str>,
) -> Result<Report, UsageError> {
    let mut rows = rows(runtime, month).await?;
    let who = attribution(runtime, served).await;
    if let Some(owner) = owner {
        rows.retain(|r| who.get(&r.app).and_then(|a| a.owner.as_deref()) == Some(owner));
    }
    let today = month::day_start(std::time::SystemTime::now());
    let mut report = build(month, by, &rows, &who, &runtime.platform().costs, today);
    if owner.is_some() {
        report.budgets.clear();
        for group in &mut report.groups {
            group.budget = None;
        }
    }
    Ok(report)
}

/// The usage rows of `month`.
///
/// # Errors
/// The usage store cannot be read.
pub async fn rows(runtime: &Runtime, month: Month) -> Result<Vec<DayUsage>, UsageError> {
    let (from, to) = month.bounds();
    runtime.usage().days(from, to).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_host_apis::metering::Counters;

    fn row(app: &str, scope: &str, day: u64, calls: u64, cost_micros: u64) -> DayUsage {
        DayUsage {
            app: app.into(),
            scope: scope.into(),
            day,
            counters: Counters {
                calls,
                cost_micros,
                invocations: u64::from(scope == ALL) * calls,
                ..Counters::default()
            },
        }
    }

    fn team(name: &str) -> Attribution {
        Attribution {
            team: Some(name.into()),
            ..Attribution::default()
        }
    }

    #[test]
    fn spend_rolls_up_by_team_with_connectors_days_and_the_platform() {
        let december = Month::parse("2026-12").expect("month");
        let (d1, _) = december.bounds();
        let d2 = d1 + 86_400;
        let rows = vec![
            // bot: 2 paid calls of 0.25 and 0.01 of platform on day 1.
            row("bot", "crm", d1, 2, 500_000),
            row("bot", ALL, d1, 2, 510_000),
            row("bot", "hosts", d1, 4, 0),
            // sheet (same team): 0.30 on day 2.
            row("sheet", "crm", d2, 1, 250_000),
            row("sheet", ALL, d2, 1, 300_000),
            // stray: no team.
            row("stray", ALL, d2, 1, 7),
        ];
        let who = BTreeMap::from([
            ("bot".to_string(), team("ops")),
            ("sheet".to_string(), team("ops")),
        ]);
        let report = build(
            december,
            By::Team,
            &rows,
            &who,
            &CostSettings::default(),
            d2,
        );
        assert_eq!(report.month, "2026-12");
        assert!((report.total - 0.810_007).abs() < 1e-9, "{}", report.total);
        let ops = &report.groups[0];
        assert_eq!(ops.name.as_deref(), Some("ops"));
        assert!((ops.cost - 0.81).abs() < 1e-9);
        assert!((ops.today - 0.30).abs() < 1e-9);
        assert_eq!(ops.apps, ["bot", "sheet"]);
        assert_eq!(ops.connectors["crm"].calls, 3);
        assert!((ops.connectors["crm"].cost - 0.75).abs() < 1e-9);
        assert!(!ops.connectors.contains_key("hosts"));
        assert!((ops.platform.cost - 0.06).abs() < 1e-9);
        assert_eq!(
            ops.days.keys().collect::<Vec<_>>(),
            ["2026-12-01", "2026-12-02"]
        );
        assert_eq!(report.groups[1].name, None);
        assert_eq!(report.groups[1].apps, ["stray"]);
        let by_app = build(december, By::App, &rows, &who, &CostSettings::default(), d2);
        assert_eq!(by_app.groups.len(), 3);
        assert_eq!(
            by_app.groups[0]
                .attribution
                .as_ref()
                .and_then(|a| a.team.as_deref()),
            Some("ops")
        );
    }
}
