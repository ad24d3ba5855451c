//! `warden costs`: a month's spend by team, cost center or app, with the
//! budgets, from a running host's admin API or the data directory.

use super::exit::{Outcome, fail};
use super::lists::ListArgs;
use super::table::render;
use super::{EXIT_CONFIG, EXIT_USAGE, client};
use clap::Args;
use serde_json::{Value, json};
use warden_runtime::costs::Month;
use warden_runtime::costs::report::{By, for_month};
use warden_runtime::wait::Wait as _;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  WARDEN_TOKEN=... warden costs                      # this month, by team\n  WARDEN_TOKEN=... warden costs --by app --month 2026-11\n  warden costs --by cost-center --config /etc/warden/warden.toml --json\n\nCosts are charged when they happen: a connector's cost_per_call for each call\nsent, and [costs] per_invocation and per_million_fuel for each invocation.\nBudgets ([[costs.budgets]] in warden.toml) alert at 80% and 100%."
)]
pub struct CostsArgs {
    /// The roll-up: team, cost-center or app.
    #[arg(long, default_value = "team")]
    by: String,
    /// The month, YYYY-MM in UTC (default this month).
    #[arg(long)]
    month: Option<String>,
    #[command(flatten)]
    list: ListArgs,
}

/// `warden costs`.
pub fn costs(args: CostsArgs) -> Outcome {
    let by = By::parse(&args.by).map_err(|e| fail(EXIT_USAGE, format!("--by: {e}")))?;
    let month = match &args.month {
        None => Month::current(),
        Some(m) => Month::parse(m).map_err(|e| fail(EXIT_USAGE, format!("--month: {e}")))?,
    };
    let report = match super::remote(&args.list.server, &args.list.config, false) {
        Some(server) => {
            let path = format!("/v1/costs?month={month}&by={}", args.by);
            match client::call(&server, "GET", &path, None) {
                Ok((200, body)) => body,
                other => {
                    client::report(other)?;
                    return Err(super::exit::quiet(0));
                }
            }
        }
        None => {
            let platform = args.list.config.load()?;
            super::data_dir_to_read(&platform)?;
            let runtime = args.list.config.runtime()?;
            let report = for_month(&runtime, month, by, &[], None)
                .wait()
                .map_err(|e| {
                    fail(
                        EXIT_CONFIG,
                        format!("the usage counters cannot be read: {e}"),
                    )
                })?;
            json!(report)
        }
    };
    if args.list.json {
        println!("{report}");
        return Ok(());
    }
    print!("{}", text(&report));
    Ok(())
}

/// An amount as people read it: two decimals, more only for amounts
/// smaller than a cent.
fn amount(value: &Value) -> String {
    let v = value.as_f64().unwrap_or(0.0);
    let text = format!("{v:.6}");
    let trimmed = text.trim_end_matches('0');
    let decimals = trimmed.split_once('.').map_or(0, |(_, d)| d.len());
    if decimals <= 2 {
        format!("{v:.2}")
    } else {
        trimmed.to_string()
    }
}

/// The report as tables: the groups, then the budgets.
fn text(report: &Value) -> String {
    let currency = report["currency"].as_str().unwrap_or("");
    let (label, nobody) = match report["by"].as_str() {
        Some("app") => ("APP", "(unknown)"),
        Some("cost-center") => ("COST CENTER", "(no cost center)"),
        _ => ("TEAM", "(no team)"),
    };
    let groups: Vec<Value> = report["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            json!({
                "name": g["name"].as_str().unwrap_or(nobody),
                "cost": amount(&g["cost"]),
                "today": amount(&g["today"]),
                "connectors": amount(&json!(g["connectors"].as_object().into_iter().flatten().map(|(_, c)| c["cost"].as_f64().unwrap_or(0.0)).sum::<f64>())),
                "platform": amount(&g["platform"]["cost"]),
                "budget": g["budget"]["used_pct"].as_f64().map(|p| format!("{p}% of {}", amount(&g["budget"]["monthly"]))),
                "apps": g["apps"],
            })
        })
        .collect();
    let mut notes: Vec<String> = Vec::new();
    let mut out = format!(
        "{} costs, {currency}, by {}: total {}\n",
        report["month"].as_str().unwrap_or("?"),
        report["by"].as_str().unwrap_or("team"),
        amount(&report["total"])
    );
    if groups.is_empty() {
        out += "nothing was charged this month\n";
    } else {
        if report["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["name"].is_null()))
        {
            notes.push(format!("{nobody}: apps whose app.toml names none, or served only from a file this data directory does not know (ask the host with --server)"));
        }
        out += &render(
            &groups,
            &[
                (label, "name"),
                ("COST", "cost"),
                ("TODAY", "today"),
                ("CONNECTORS", "connectors"),
                ("PLATFORM", "platform"),
                ("BUDGET", "budget"),
                ("APPS", "apps"),
            ],
            false,
        );
    }
    let budgets: Vec<Value> = report["budgets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            json!({
                "holder": format!("{} {}", b["holder"].as_str().unwrap_or(""), b["name"].as_str().unwrap_or("")),
                "monthly": amount(&b["monthly"]),
                "spent": amount(&b["spent"]),
                "used": format!("{}%", b["used_pct"]),
                "state": b["state"],
                "on_exceeded": b["on_exceeded"],
                "blocking": if b["blocking_paid_calls"] == true { "paid calls blocked" } else { "-" },
            })
        })
        .collect();
    if !budgets.is_empty() {
        out += "\n";
        out += &render(
            &budgets,
            &[
                ("BUDGET", "holder"),
                ("MONTHLY", "monthly"),
                ("SPENT", "spent"),
                ("USED", "used"),
                ("STATE", "state"),
                ("ON EXCEEDED", "on_exceeded"),
                ("NOW", "blocking"),
            ],
            false,
        );
    }
    for note in notes {
        out += &format!("\n{note}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_show_cents_and_smaller_when_there_are_any() {
        assert_eq!(amount(&json!(2.5)), "2.50");
        assert_eq!(amount(&json!(0)), "0.00");
        assert_eq!(amount(&json!(0.0001)), "0.0001");
        assert_eq!(amount(&json!(12.345)), "12.345");
    }
}
