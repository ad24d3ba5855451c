//! The audit log in PostgreSQL: one hash chain however many nodes append
//! at once, and every kind of tampering the file log catches caught there
//! too, by the same verification.

use crate::support;
use std::sync::Arc;
use warden_runtime::audit::{AuditBackend, AuditEvent, AuditKind};
use warden_runtime::state::postgres::audit::PgAudit;
use warden_runtime::wait::Wait as _;

/// A node's view of the shared log at `url`: its own pool and committer.
fn node(url: &str) -> Arc<dyn AuditBackend> {
    Arc::new(PgAudit::new(support::postgres::pool(url), "test".into()))
}

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        kind: AuditKind::QuotaSet,
        app: Some(format!("app-{}", n % 3)),
        actor: format!("token:writer-{n}"),
        details: serde_json::json!({ "n": n }),
    }
}

/// Three nodes, four writers each, appending at once: one chain, no gap,
/// no fork, every acknowledged entry in it.
#[test]
fn three_nodes_appending_at_once_make_one_unbroken_chain() {
    let url = support::postgres::fresh_database();
    let nodes: Vec<_> = (0..3).map(|_| node(&url)).collect();
    let acknowledged: Vec<u64> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..12)
            .map(|w| {
                let log = nodes[w % 3].clone();
                s.spawn(move || {
                    (0..25)
                        .map(|i| log.append(event(w * 100 + i)).wait().unwrap().seq)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut seqs = acknowledged.clone();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<u64>>(),
        "each entry its own number, none missing"
    );
    let (entries, report) = nodes[1].read().wait().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 300);
    assert_eq!(entries.len(), 300);
    assert_eq!(nodes[2].revision().wait().unwrap(), 300);
}

#[test]
fn an_edited_a_dropped_and_a_cut_entry_are_each_caught() {
    let cases = [
        (
            "UPDATE audit_log SET line = replace(line, 'writer-3', 'someone-else') WHERE seq = 4",
            "entry #4 does not match its hash: it was edited",
        ),
        (
            "DELETE FROM audit_log WHERE seq = 5",
            "entries #5..#5 were deleted",
        ),
        (
            "DELETE FROM audit_log WHERE seq > 6",
            "the log ends at #6 but the head records #8: entries at the end were deleted",
        ),
    ];
    for (tampering, caught) in cases {
        let url = support::postgres::fresh_database();
        let log = node(&url);
        for n in 0..8 {
            log.append(event(n)).wait().unwrap();
        }
        assert!(log.verify().wait().unwrap().is_intact());
        support::postgres::execute(&url, tampering);
        let report = log.verify().wait().unwrap();
        let reason = report.problem.map(|p| p.reason).unwrap_or_default();
        assert!(reason.contains(caught), "{tampering}: {reason}");
    }
}
