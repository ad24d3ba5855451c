//! Report formatter: the kind of tiny tool finance asks for every quarter.
//!
//! Shows: a `warden:host/app` handler written with the SDK — JSON input
//! parsed with a clear error, logging through the host, a configuration
//! value (`default_currency`, which the platform may set in `warden.toml`
//! under `[config.apps.report-formatter]`), text output.
//!
//! Run it:
//! ```sh
//! warden run examples/report-formatter/app.toml \
//!   --input '{"title":"Q3 travel","rows":[{"name":"flights","amount":1200.5},{"name":"hotels","amount":830}]}'
//! ```

use serde::Deserialize;
use warden_sdk::{Handler, Json, config, log};

#[derive(Deserialize)]
struct Report {
    title: String,
    #[serde(default)]
    currency: Option<String>,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    name: String,
    amount: f64,
}

struct ReportFormatter;

impl Handler for ReportFormatter {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let Json(report): Json<Report> = Json::parse(&input)?;
        log::info(&format!("formatting {} rows", report.rows.len()));
        let currency = match &report.currency {
            Some(currency) => currency.clone(),
            None => config::get("default_currency")?.unwrap_or_else(|| "USD".into()),
        };
        Ok(render(&report, &currency).into_bytes())
    }
}

fn render(report: &Report, currency: &str) -> String {
    let width = report
        .rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("TOTAL".len());
    let mut out = format!(
        "{}\n{}\n",
        report.title,
        "=".repeat(report.title.chars().count())
    );
    let mut total = 0.0;
    for row in &report.rows {
        total += row.amount;
        out.push_str(&format!(
            "{:<width$}  {:>12.2} {currency}\n",
            row.name, row.amount
        ));
    }
    out.push_str(&format!(
        "{}\n",
        "-".repeat(width + 2 + 12 + 1 + currency.len())
    ));
    out.push_str(&format!(
        "{:<width$}  {:>12.2} {currency}\n",
        "TOTAL", total
    ));
    out
}

warden_sdk::export!(ReportFormatter);
