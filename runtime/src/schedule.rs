//! The schedule trigger: `[[schedule]] cron = "…"` runs an app on a cron
//! pattern (UTC), through the same governed invocation as every trigger.
//!
//! | pattern               | meaning                              |
//! |-----------------------|--------------------------------------|
//! | `0 7 * * MON-FRI`     | 07:00 on weekdays (five fields)      |
//! | `*/10 * * * * *`      | every 10 seconds (six, seconds first)|
//! | `@hourly`, `@daily`   | aliases                              |
//!
//! Rules: runs of one app never overlap — a fire time that comes while the
//! app is still running (any of its schedules) is skipped and counted.
//! Missed-run policy: fire times that passed while the app was running or
//! the host was down are not caught up; the next run is the next fire time
//! after now. Every run is an invocation span with `warden.trigger=schedule`;
//! every skip is a `schedule.skipped` span.

use crate::app::LoadedApp;
use crate::invoke::{InvocationRequest, Trigger};
use crate::runtime::Runtime;
use crate::telemetry::keys;
use chrono::Utc;
use croner::Cron;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Tracer};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A parsed `[[schedule]]` entry.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub text: String,
    pub cron: Cron,
    pub input: Vec<u8>,
}

/// Parses a pattern, with a message that shows an accepted form.
pub fn parse(text: &str) -> Result<Cron, String> {
    Cron::from_str(text).map_err(|e| {
        format!("`{text}` is not a cron pattern ({e}); write it like \"0 7 * * MON-FRI\" or \"*/30 * * * * *\"")
    })
}

/// Counters of one app's scheduler, for tests and `warden inspect`.
#[derive(Debug, Default)]
pub struct ScheduleStats {
    pub runs: AtomicU64,
    pub skipped: AtomicU64,
    running: AtomicBool,
    in_flight: std::sync::atomic::AtomicU32,
    /// Set if two runs of the app were ever in flight at once (must not be).
    pub overlapped: AtomicBool,
}

/// Starts one task per schedule of `app`; they stop when aborted.
pub fn spawn(
    runtime: Arc<Runtime>,
    app: Arc<LoadedApp>,
) -> (Arc<ScheduleStats>, Vec<tokio::task::JoinHandle<()>>) {
    let stats = Arc::new(ScheduleStats::default());
    let tasks = app
        .schedules
        .iter()
        .cloned()
        .map(|schedule| {
            tokio::spawn(run_schedule(
                runtime.clone(),
                app.clone(),
                schedule,
                stats.clone(),
            ))
        })
        .collect();
    (stats, tasks)
}

async fn run_schedule(
    runtime: Arc<Runtime>,
    app: Arc<LoadedApp>,
    schedule: Schedule,
    stats: Arc<ScheduleStats>,
) {
    loop {
        let now = Utc::now();
        let Ok(next) = schedule.cron.find_next_occurrence(&now, false) else {
            eprintln!(
                "warden: schedule `{}` of `{}` has no next fire time; stopping it",
                schedule.text,
                app.name()
            );
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        if stats.running.swap(true, Ordering::SeqCst) {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            let mut span = runtime.tracer().start("schedule.skipped");
            span.set_attribute(KeyValue::new(keys::APP, app.name().to_string()));
            span.set_attribute(KeyValue::new(keys::SCHEDULE, schedule.text.clone()));
            span.set_attribute(KeyValue::new(keys::OUTCOME, "skipped-overlap"));
            span.end();
            continue;
        }
        let request = InvocationRequest {
            trigger: Trigger::Schedule,
            ..InvocationRequest::cli(schedule.input.clone())
        };
        let runtime = runtime.clone();
        let app_ref = app.clone();
        let stats_ref = stats.clone();
        // Run in its own task so other schedules of the app can observe
        // (and skip) while this one runs.
        let run = tokio::spawn(async move {
            if stats_ref.in_flight.fetch_add(1, Ordering::SeqCst) > 0 {
                stats_ref.overlapped.store(true, Ordering::SeqCst);
            }
            let report = runtime.invoke(&app_ref, request).await;
            stats_ref.in_flight.fetch_sub(1, Ordering::SeqCst);
            stats_ref.runs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = &report.result {
                eprintln!("warden: scheduled run of `{}` failed: {e}", app_ref.name());
            }
        });
        let _ = run.await;
        stats.running.store(false, Ordering::SeqCst);
        // Fire times that passed during the run are skipped, not caught up.
        let now = Utc::now();
        let missed = schedule
            .cron
            .iter_after(next)
            .take(1_000)
            .take_while(|t| *t <= now)
            .count();
        stats.skipped.fetch_add(missed as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_field_patterns_and_aliases_parse() {
        for ok in ["0 7 * * MON-FRI", "*/10 * * * * *", "@hourly"] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        let err = parse("every morning").err().unwrap_or_default();
        assert!(err.contains("0 7 * * MON-FRI"), "{err}");
    }

    #[test]
    fn a_weekday_pattern_skips_the_weekend() {
        let cron = parse("0 7 * * MON-FRI").ok();
        let saturday = chrono::DateTime::parse_from_rfc3339("2026-11-28T08:00:00Z")
            .ok()
            .map(|d| d.with_timezone(&Utc));
        let next = cron
            .zip(saturday)
            .and_then(|(c, s)| c.find_next_occurrence(&s, false).ok());
        assert_eq!(
            next.map(|n| n.to_rfc3339()),
            Some("2026-11-30T07:00:00+00:00".to_string())
        );
    }
}
