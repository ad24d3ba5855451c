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
