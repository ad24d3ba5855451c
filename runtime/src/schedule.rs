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
//! skips are counted (`warden inspect`), not traced one by one. While an
//! app is killed its schedules are paused: fire times are counted, not run.
//!
//! Checked at load against `[schedules]` in `warden.toml`: at most
//! `max_per_app` entries (default 10), no two fire times of a pattern
//! closer than `min_interval` (default 1 minute), and a pattern must fire
//! at least once more — `0 0 30 2 *`, `0 0 31 4 *` or a past year is
//! refused, naming `schedule[N].cron`.

use crate::app::LoadedApp;
use crate::invoke::{InvocationRequest, Trigger};
use crate::runtime::Runtime;
use chrono::Utc;
use croner::Cron;
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

pub use crate::config::schedules::ScheduleRules;

/// Fire times looked at to find a pattern's shortest interval: enough to
/// cover any burst a single pattern can have (60 seconds of a minute).
const INTERVAL_SAMPLE: usize = 512;

/// Parses a pattern, with a message that shows an accepted form.
pub fn parse(text: &str) -> Result<Cron, String> {
    Cron::from_str(text).map_err(|e| {
        format!("`{text}` is not a cron pattern ({e}); write it like \"0 7 * * MON-FRI\" or \"*/30 * * * * *\"")
    })
}

/// Parses a pattern and checks it against the platform's rules at `now`:
/// it must fire at least once more (`0 0 30 2 *` never does, nor a year in
/// the past) and never twice within `rules.min_interval`.
pub fn parse_checked(
    text: &str,
    rules: &ScheduleRules,
    now: chrono::DateTime<Utc>,
) -> Result<Cron, String> {
    let cron = parse(text)?;
    let first = cron.find_next_occurrence(&now, false).map_err(|_| {
        format!(
            "`{text}` never fires (no matching date after {})",
            now.format("%Y-%m-%d")
        )
    })?;
    let mut previous = first;
    for next in cron.iter_after(first).take(INTERVAL_SAMPLE) {
        let gap = (next - previous).to_std().unwrap_or_default();
        if gap < rules.min_interval.get() {
            return Err(format!(
                "`{text}` fires {} apart (at {} and {}); the platform's minimum is {}",
                crate::config::Dur(gap),
                previous.format("%Y-%m-%d %H:%M:%S"),
                next.format("%H:%M:%S"),
                rules.min_interval
            ));
        }
        previous = next;
    }
    Ok(cron)
}

/// Counters of one app's scheduler, for tests and `warden inspect`.
#[derive(Debug, Default)]
pub struct ScheduleStats {
    pub runs: AtomicU64,
    pub skipped: AtomicU64,
    /// Fire times that came while the app was killed: not run, not traced.
    pub paused: AtomicU64,
    running: AtomicBool,
    in_flight: std::sync::atomic::AtomicU32,
    /// Set if two runs of the app were ever in flight at once (must not be).
    pub overlapped: AtomicBool,
}

/// Starts one task per schedule of `app`; they stop when aborted.
pub fn spawn(
    on: &tokio::runtime::Handle,
    runtime: Arc<Runtime>,
    app: Arc<LoadedApp>,
) -> (Arc<ScheduleStats>, Vec<tokio::task::JoinHandle<()>>) {
    let stats = Arc::new(ScheduleStats::default());
    let tasks = app
        .schedules
        .iter()
        .cloned()
        .map(|schedule| {
            on.spawn(run_schedule(
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
            tracing::warn!(
                "schedule `{}` of `{}` has no next fire time; stopping it",
                schedule.text,
                app.name()
            );
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        // A killed app's schedules are paused, not run into a refusal.
        if app.kill_switch().is_killed() {
            stats.paused.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if stats.running.swap(true, Ordering::SeqCst) {
            // Counted, not traced one by one: an app whose schedules
            // overlap must not fill the span store with skips.
            stats.skipped.fetch_add(1, Ordering::Relaxed);
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
                tracing::warn!("scheduled run of `{}` failed: {e}", app_ref.name());
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

    fn at(text: &str) -> chrono::DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn patterns_that_never_fire_are_refused() {
        let rules = ScheduleRules::default();
        let now = at("2026-11-30T12:00:00Z");
        for never in ["0 0 30 2 *", "0 0 31 4 *", "0 0 0 1 1 * 2020"] {
            let err = parse_checked(never, &rules, now).err().unwrap_or_default();
            assert!(err.contains("never fires"), "{never}: {err}");
        }
        assert!(
            parse_checked("0 0 29 2 *", &rules, now).is_ok(),
            "leap days come"
        );
    }

    #[test]
    fn patterns_firing_closer_than_the_minimum_interval_are_refused() {
        let rules = ScheduleRules::default();
        let now = at("2026-11-30T12:00:00Z");
        let err = parse_checked("* * * * * *", &rules, now)
            .err()
            .unwrap_or_default();
        assert!(err.contains("1s apart") && err.contains("1m"), "{err}");
        let err = parse_checked("0,30 * * * * *", &rules, now)
            .err()
            .unwrap_or_default();
        assert!(err.contains("30s apart"), "{err}");
        assert!(
            parse_checked("0 0,1 * * * *", &rules, now).is_ok(),
            "exactly the minimum"
        );
        assert!(parse_checked("*/5 * * * *", &rules, now).is_ok());
        assert!(parse_checked("0 7 * * MON-FRI", &rules, now).is_ok());
        let seconds = ScheduleRules {
            min_interval: crate::config::Dur(std::time::Duration::from_secs(1)),
            ..rules
        };
        assert!(parse_checked("* * * * * *", &seconds, now).is_ok());
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
