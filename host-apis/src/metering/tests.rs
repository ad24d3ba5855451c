use super::*;
use crate::Now as _;

fn meter(dir: &std::path::Path, limits: QuotaLimits) -> Meter {
    let store = Arc::new(UsageStore::open(&dir.join("usage.db")).expect("open"));
    Meter::new("app", limits, store)
}

#[test]
fn counters_add_up_per_scope_and_for_the_app() {
    let dir = tempfile::tempdir().expect("temp dir");
    let m = meter(dir.path(), QuotaLimits::default());
    m.record(
        "crm",
        Counters {
            calls: 1,
            bytes_out: 10,
            ..Counters::default()
        },
    )
    .now();
    m.record(
        "hosts",
        Counters {
            calls: 1,
            bytes_in: 5,
            ..Counters::default()
        },
    )
    .now();
    let day = Window::day_now();
    assert_eq!(m.usage("crm", &day).calls, 1);
    assert_eq!(
        m.usage(ALL, &day),
        Counters {
            calls: 2,
            bytes_out: 10,
            bytes_in: 5,
            ..Counters::default()
        }
    );
}

#[test]
fn counters_survive_a_restart_and_add_across_writers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = meter(dir.path(), QuotaLimits::default());
    let second = meter(dir.path(), QuotaLimits::default());
    first
        .record(
            "crm",
            Counters {
                calls: 2,
                ..Counters::default()
            },
        )
        .now();
    second
        .record(
            "crm",
            Counters {
                calls: 3,
                ..Counters::default()
            },
        )
        .now();
    first.flush().now().expect("flush");
    second.flush().now().expect("flush");
    drop((first, second));
    let reopened = meter(dir.path(), QuotaLimits::default());
    assert_eq!(reopened.usage("crm", &Window::day_now()).calls, 5);
    assert_eq!(reopened.usage(ALL, &Window::day_now()).calls, 5);
}

#[test]
fn the_call_quota_is_enforced_from_stored_usage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let limits = QuotaLimits {
        connector_calls: Some(3),
        ..QuotaLimits::default()
    };
    let m = meter(dir.path(), limits);
    m.record(
        "crm",
        Counters {
            calls: 3,
            ..Counters::default()
        },
    )
    .now();
    m.flush().now().expect("flush");
    let restarted = meter(dir.path(), limits);
    let err = restarted.check_call(0).now().expect_err("exhausted");
    assert_eq!((err.quota, err.used, err.limit), ("connector_calls", 3, 3));
}

#[test]
fn deltas_whose_write_failed_wait_for_the_next_flush() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("usage.db");
    let store = Arc::new(UsageStore::open(&path).expect("open"));
    let m = Meter::new("app", QuotaLimits::default(), store.clone());
    m.record(
        "crm",
        Counters {
            calls: 1,
            ..Counters::default()
        },
    )
    .now();
    // The table goes away for a moment (a full disk would do the same).
    let other = rusqlite::Connection::open(&path).expect("second connection");
    other
        .execute("ALTER TABLE usage RENAME TO usage_away", [])
        .expect("rename");
    assert!(m.flush().now().is_err(), "the write fails");
    other
        .execute("ALTER TABLE usage_away RENAME TO usage", [])
        .expect("rename back");
    m.flush().now().expect("the next flush writes");
    let day = Window::day_now().key();
    assert_eq!(store.get("app", "crm", &day).now().expect("read").calls, 1);
    assert_eq!(store.get("app", ALL, &day).now().expect("read").calls, 1);
}

/// The meter writes its counters off the thread that asked: while another
/// connection holds the write lock, another task on a one-thread runtime
/// runs — and releases the lock — before the flush finishes. Were the
/// write on the runtime's thread, the flush would end first (failing after
/// the store's 5 s busy timeout) and the other task only after it.
#[test]
fn a_flush_waiting_for_the_database_leaves_the_thread_free() {
    let dir = tempfile::tempdir().expect("temp dir");
    let m = Arc::new(meter(dir.path(), QuotaLimits::default()));
    let blocker = rusqlite::Connection::open(dir.path().join("usage.db")).expect("open");
    let order = Arc::new(Mutex::new(Vec::new()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (flushed, other) = (order.clone(), order.clone());
    rt.block_on(async move {
        m.record(
            "crm",
            Counters {
                calls: 1,
                ..Counters::default()
            },
        )
        .await;
        blocker
            .execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");
        let flush = tokio::spawn(async move {
            let result = m.flush().await;
            flushed.lock().expect("order").push("flush");
            result
        });
        let other = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            blocker.execute_batch("COMMIT").expect("release the lock");
            other.lock().expect("order").push("other");
        });
        other.await.expect("other task");
        flush.await.expect("flush task").expect("written");
    });
    assert_eq!(*order.lock().expect("order"), ["other", "flush"]);
}

/// Two meters on one store (two processes on one data directory, or two
/// nodes on one database) share a call quota exactly: between them, as
/// many calls as the limit, whichever takes them; a unit taken for a call
/// that was not made goes back; a meter dropped gives back what it held.
#[test]
fn a_leased_call_quota_is_exact_across_meters_sharing_a_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let limits = QuotaLimits {
        connector_calls: Some(40),
        ..QuotaLimits::default()
    };
    let (a, b) = (meter(dir.path(), limits), meter(dir.path(), limits));
    // A call refused after its unit was taken gives it back.
    a.check_call(0).now().expect("a unit").refund();
    let mut made = 0;
    loop {
        let (from_a, from_b) = (a.check_call(0).now(), b.check_call(0).now());
        let mut any = false;
        for ticket in [from_a, from_b].into_iter().flatten() {
            drop(ticket);
            made += 1;
            any = true;
        }
        if !any {
            break;
        }
    }
    assert_eq!(made, 40);
    let err = b.check_call(0).now().expect_err("handed out");
    assert_eq!((err.quota, err.limit), ("connector_calls", 40));

    // Units a meter holds when dropped are not lost.
    let c = meter(
        dir.path(),
        QuotaLimits {
            connector_calls: Some(100),
            ..limits
        },
    );
    drop(c.check_call(0).now().expect("a unit"));
    drop(c);
    let d = meter(
        dir.path(),
        QuotaLimits {
            connector_calls: Some(100),
            ..limits
        },
    );
    let mut more = 0;
    while let Ok(ticket) = d.check_call(0).now() {
        drop(ticket);
        more += 1;
    }
    assert_eq!(
        more,
        100 - 40 - 1,
        "what c held and did not spend came back"
    );
}
