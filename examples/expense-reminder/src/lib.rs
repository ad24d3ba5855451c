//! Expense reminder: every weekday morning, a nudge in the finance channel
//! for each person with open expense reports — once a day each.
//!
//! Shows the Rust SDK with the governed capabilities: the CRM read
//! through the `crm` connector (its `read` scope only), the reminders
//! posted through `chat`, who was reminded today kept in an `internal`
//! bucket for a day (so a second run the same day nudges nobody twice),
//! the channel as a configuration value, and a `[[schedule]]` trigger as
//! well as an HTTP route. The host adds both credentials; the app never
//! sees them.
//!
//! Run it (with the main job's stand-in CRM and chat):
//! ```sh
//! warden build examples/expense-reminder/app.toml
//! warden run examples/expense-reminder/app.toml --config examples/warden.toml
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use warden_sdk::storage::Bucket;
use warden_sdk::{Handler, Json, config, connectors, log, reply};

#[derive(Deserialize)]
struct Expense {
    id: String,
    submitter: String,
    amount: f64,
}

#[derive(Default, Deserialize)]
struct Ask {
    /// The day to remind for (`YYYY-MM-DD`); default today (UTC).
    day: Option<String>,
}

#[derive(Serialize)]
struct Done {
    day: String,
    reminded: usize,
    already: usize,
}

struct ExpenseReminder;

impl Handler for ExpenseReminder {
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let ask = if input.iter().all(u8::is_ascii_whitespace) {
            Ask::default()
        } else {
            Json::<Ask>::parse(&input)
                .map_err(|e| {
                    reply::refuse(
                        400,
                        &format!("{e}; send {{}} or {{\"day\": \"YYYY-MM-DD\"}}"),
                    )
                })?
                .0
        };
        let day = ask.day.unwrap_or_else(today);
        let open = connectors::get("crm", "/expenses?status=open")
            .map_err(|e| format!("reading the CRM: {e:?}"))?;
        if !(200..300).contains(&open.status) {
            return Err(reply::refuse(
                502,
                &format!("the CRM answered {}", open.status),
            ));
        }
        let expenses: Vec<Expense> = serde_json::from_slice(&open.body)
            .map_err(|e| format!("the CRM's answer is not the expected JSON: {e}"))?;
        let mut by_submitter: BTreeMap<&str, Vec<&Expense>> = BTreeMap::new();
        for expense in &expenses {
            by_submitter
                .entry(&expense.submitter)
                .or_default()
                .push(expense);
        }
        let reminded = Bucket::open("reminded").map_err(|e| format!("{e:?}"))?;
        let channel = config::get("channel")?.unwrap_or_else(|| "#finance".into());
        let mut done = Done {
            day: day.clone(),
            reminded: 0,
            already: 0,
        };
        for (submitter, theirs) in by_submitter {
            let key = format!("{day}/{submitter}");
            if reminded.exists(&key).map_err(|e| format!("{e:?}"))? {
                done.already += 1;
                continue;
            }
            let ids: Vec<&str> = theirs.iter().map(|e| e.id.as_str()).collect();
            let total: f64 = theirs.iter().map(|e| e.amount).sum();
            let text = format!(
                "Reminder: {} open expense report(s) ({}, {total:.2} in all) wait for their submitter",
                ids.len(),
                ids.join(", ")
            );
            connectors::post_json(
                "chat",
                "/messages",
                &serde_json::json!({ "channel": channel, "text": text }),
            )
            .map_err(|e| format!("posting to the chat: {e:?}"))?;
            reminded
                .set_with_ttl(&key, b"1", Duration::from_secs(86_400))
                .map_err(|e| format!("{e:?}"))?;
            done.reminded += 1;
        }
        log::info(&format!(
            "{day}: {} reminded, {} already",
            done.reminded, done.already
        ));
        reply::content_type("application/json")?;
        Json(done).to_output()
    }
}

/// Today's date in UTC, `YYYY-MM-DD` (days from the civil calendar,
/// Howard Hinnant's `civil_from_days`).
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

warden_sdk::export!(ExpenseReminder);
