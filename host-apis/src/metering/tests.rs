use super::*;

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
    );
    m.record(
        "hosts",
        Counters {
            calls: 1,
            bytes_in: 5,
            ..Counters::default()
        },
    );
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
    first.record(
        "crm",
        Counters {
            calls: 2,
            ..Counters::default()
        },
    );
    second.record(
        "crm",
        Counters {
            calls: 3,
            ..Counters::default()
        },
    );
    first.flush().expect("flush");
    second.flush().expect("flush");
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
    );
    m.flush().expect("flush");
    let restarted = meter(dir.path(), limits);
    let err = restarted.check_call(0).expect_err("exhausted");
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
    );
    // The table goes away for a moment (a full disk would do the same).
    let other = rusqlite::Connection::open(&path).expect("second connection");
    other
        .execute("ALTER TABLE usage RENAME TO usage_away", [])
        .expect("rename");
    assert!(m.flush().is_err(), "the write fails");
    other
        .execute("ALTER TABLE usage_away RENAME TO usage", [])
        .expect("rename back");
    m.flush().expect("the next flush writes");
    let day = Window::day_now().key();
    assert_eq!(store.get("app", "crm", &day).expect("read").calls, 1);
    assert_eq!(store.get("app", ALL, &day).expect("read").calls, 1);
}
