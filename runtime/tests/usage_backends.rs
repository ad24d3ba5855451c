//! Usage counters keep one contract on both backends, and on PostgreSQL
//! the deltas of several nodes add up.

use crate::support;
use std::sync::Arc;
use warden_host_apis::metering::{Counters, UsageBackend, UsageStore};
use warden_runtime::state::postgres::usage::PgUsage;
use warden_runtime::wait::Wait as _;

fn pg_node(url: &str) -> Arc<dyn UsageBackend> {
    Arc::new(PgUsage::new(support::postgres::pool(url)))
}

fn delta(calls: u64, bytes_out: u64) -> Counters {
    Counters {
        calls,
        bytes_out,
        ..Counters::default()
    }
}

fn row(scope: &str, window: &str, c: Counters) -> ((String, String), Counters) {
    ((scope.into(), window.into()), c)
}

#[test]
fn deltas_add_up_per_app_scope_and_window_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let backends: Vec<(&str, Arc<dyn UsageBackend>)> = vec![
        (
            "embedded",
            Arc::new(UsageStore::open(&dir.path().join("usage.db")).unwrap()),
        ),
        ("postgres", pg_node(&support::postgres::fresh_database())),
    ];
    for (name, usage) in backends {
        let rows = [
            row("*", "2026-12-01", delta(2, 10)),
            row("crm", "2026-12-01", delta(1, 4)),
        ];
        usage.add_all("a", "batch-1", &rows).wait().unwrap();
        usage.add_all("a", "batch-2", &rows).wait().unwrap();
        assert_eq!(
            usage.get("a", "*", "2026-12-01").wait().unwrap(),
            delta(4, 20),
            "{name}"
        );
        assert_eq!(
            usage.get("a", "crm", "2026-12-01").wait().unwrap(),
            delta(2, 8),
            "{name}"
        );
        assert_eq!(
            usage.get("a", "*", "2026-12-02").wait().unwrap(),
            Counters::default(),
            "{name}"
        );
        assert_eq!(
            usage.get("b", "*", "2026-12-01").wait().unwrap(),
            Counters::default(),
            "{name}"
        );
    }
}

/// Three nodes flushing at once, each many times: the stored totals are
/// the sum of every delta.
#[test]
fn three_nodes_flushing_at_once_add_up_exactly() {
    let url = support::postgres::fresh_database();
    let nodes: Vec<_> = (0..3).map(|_| pg_node(&url)).collect();
    std::thread::scope(|s| {
        for (n, node) in nodes.iter().enumerate() {
            s.spawn(move || {
                for i in 0..50 {
                    let mut rows = vec![
                        row("*", "2026-12-01", delta(1, 3)),
                        row("crm", "2026-12-01", delta(1, 3)),
                        row("*", "2026-12-01T10:00", delta(1, 0)),
                    ];
                    // Each node hands its rows over in another order.
                    rows.rotate_left(n);
                    let batch = format!("node-{n}-{i}");
                    node.add_all("a", &batch, &rows).wait().unwrap();
                }
            });
        }
    });
    assert_eq!(
        nodes[0].get("a", "*", "2026-12-01").wait().unwrap(),
        delta(150, 450)
    );
    assert_eq!(
        nodes[1].get("a", "crm", "2026-12-01").wait().unwrap(),
        delta(150, 450)
    );
    assert_eq!(
        nodes[2].get("a", "*", "2026-12-01T10:00").wait().unwrap(),
        delta(150, 0)
    );
}

/// A batch sent again — its first commit's answer lost, so the meter
/// cannot know it was added — is added once on shared state: counters
/// never count twice.
#[test]
fn a_batch_sent_again_is_added_once() {
    let usage = pg_node(&support::postgres::fresh_database());
    let rows = [row("*", "2026-12-01", delta(3, 30))];
    usage.add_all("a", "lost-answer", &rows).wait().unwrap();
    usage.add_all("a", "lost-answer", &rows).wait().unwrap();
    assert_eq!(
        usage.get("a", "*", "2026-12-01").wait().unwrap(),
        delta(3, 30)
    );
    usage.add_all("a", "next", &rows).wait().unwrap();
    assert_eq!(
        usage.get("a", "*", "2026-12-01").wait().unwrap(),
        delta(6, 60)
    );
}

/// Fuel and charges add up like every other counter, and a month's day
/// rows come back by range on both backends: days in it only (not the
/// day before or after, not minute windows), each with its counters.
#[test]
fn day_rows_of_a_range_come_back_with_fuel_and_charges_on_both_backends() {
    use warden_host_apis::metering::DayUsage;
    let dir = tempfile::tempdir().unwrap();
    let backends: Vec<(&str, Arc<dyn UsageBackend>)> = vec![
        (
            "embedded",
            Arc::new(UsageStore::open(&dir.path().join("usage.db")).unwrap()),
        ),
        ("postgres", pg_node(&support::postgres::fresh_database())),
    ];
    // 2026-12-01T00:00:00Z and the day after the month.
    let (first, next_month) = (1_796_083_200u64, 1_798_761_600u64);
    let charged = Counters {
        calls: 1,
        fuel: 1_500,
        cost_micros: 250_000,
        ..Counters::default()
    };
    for (name, usage) in backends {
        let rows = [
            row("*", &format!("d:{}", first - 86_400), charged),
            row("*", &format!("d:{first}"), charged),
            row("crm", &format!("d:{first}"), charged),
            row("*", &format!("d:{}", next_month - 86_400), charged),
            row("*", &format!("d:{next_month}"), charged),
            row("*", &format!("m:{first}"), charged),
        ];
        usage.add_all("a", "batch-1", &rows).wait().unwrap();
        usage.add_all("a", "batch-2", &rows[1..2]).wait().unwrap();
        let mut days = usage.days(first, next_month).wait().unwrap();
        days.sort_by(|a, b| (a.day, &a.scope).cmp(&(b.day, &b.scope)));
        let twice = Counters {
            calls: 2,
            fuel: 3_000,
            cost_micros: 500_000,
            ..Counters::default()
        };
        let at = |scope: &str, day: u64, counters: Counters| DayUsage {
            app: "a".into(),
            scope: scope.into(),
            day,
            counters,
        };
        assert_eq!(
            days,
            vec![
                at("*", first, twice),
                at("crm", first, charged),
                at("*", next_month - 86_400, charged),
            ],
            "{name}"
        );
    }
}

/// A usage file written before Warden kept fuel and charges gains both
/// columns when opened, and keeps what it counted.
#[test]
fn an_older_usage_file_gains_the_new_counters_and_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE usage (
            app TEXT NOT NULL, scope TEXT NOT NULL, window TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0, bytes_out INTEGER NOT NULL DEFAULT 0,
            bytes_in INTEGER NOT NULL DEFAULT 0, denials INTEGER NOT NULL DEFAULT 0,
            invocations INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (app, scope, window));
         INSERT INTO usage (app, scope, window, calls, invocations) VALUES ('a', '*', 'd:86400', 3, 7);",
    )
    .unwrap();
    drop(old);
    let usage = UsageStore::open(&path).unwrap();
    let kept = usage.get("a", "*", "d:86400").wait().unwrap();
    assert_eq!((kept.calls, kept.invocations, kept.fuel), (3, 7, 0));
    let more = Counters {
        fuel: 9,
        cost_micros: 4,
        ..Counters::default()
    };
    usage
        .add_all("a", "b", &[row("*", "d:86400", more)])
        .wait()
        .unwrap();
    let now = usage.get("a", "*", "d:86400").wait().unwrap();
    assert_eq!((now.calls, now.fuel, now.cost_micros), (3, 9, 4));
    // Opened again (a second process): nothing to add, nothing lost.
    let again = UsageStore::open(&path).unwrap();
    assert_eq!(again.get("a", "*", "d:86400").wait().unwrap(), now);
}
