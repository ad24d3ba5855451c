use super::*;
use crate::Now as _;

/// One call's counters.
fn one_call() -> Counters {
    Counters {
        calls: 1,
        ..Counters::default()
    }
}

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
    m.record("crm", one_call()).now();
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

/// A store whose first write is added but answered with an error (a
/// commit whose answer was lost); it records every batch it is given.
struct LostAnswer {
    inner: UsageStore,
    batches: std::sync::Mutex<Vec<(String, Rows)>>,
}

#[async_trait::async_trait]
impl UsageBackend for LostAnswer {
    async fn get(&self, app: &str, scope: &str, window: &str) -> Result<Counters, UsageError> {
        self.inner.get(app, scope, window).await
    }
    async fn add_all(
        &self,
        app: &str,
        batch: &str,
        rows: &[((String, String), Counters)],
    ) -> Result<(), UsageError> {
        let first = {
            let mut batches = self.batches.lock().expect("batches");
            batches.push((batch.to_string(), rows.to_vec()));
            batches.len() == 1
        };
        self.inner.add_all(app, batch, rows).await?;
        if first {
            return Err(UsageError::Interrupted("the answer was lost".into()));
        }
        Ok(())
    }
    async fn lease(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        limit: u64,
    ) -> Result<u64, UsageError> {
        self.inner.lease(app, quota, window, limit).await
    }
    async fn give_back(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        units: u64,
    ) -> Result<(), UsageError> {
        self.inner.give_back(app, quota, window, units).await
    }
    async fn days(&self, from: u64, to: u64) -> Result<Vec<super::DayUsage>, UsageError> {
        self.inner.days(from, to).await
    }
}

/// A batch whose write failed is sent again as it was, under its own
/// name (a shared store adds a name once), and deltas recorded meanwhile
/// go in a batch of their own: never merged into the one that may have
/// been added already.
#[test]
fn a_failed_batch_is_sent_again_as_it_was_under_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(LostAnswer {
        inner: UsageStore::open(&dir.path().join("usage.db")).expect("open"),
        batches: std::sync::Mutex::default(),
    });
    let m = Meter::new("app", QuotaLimits::default(), store.clone());
    let one = |calls| Counters {
        calls,
        ..Counters::default()
    };
    m.record("crm", one(1)).now();
    assert!(m.flush().now().is_err(), "the answer was lost");
    m.record("crm", one(2)).now();
    m.flush().now().expect("the next flush writes");
    let batches = store.batches.lock().expect("batches").clone();
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert_eq!(batches[0], batches[1], "the same batch, as it was");
    assert_ne!(batches[2].0, batches[0].0, "new deltas, a new name");
    let calls = |b: &(String, Rows)| {
        b.1.iter()
            .filter(|((scope, _), _)| scope == "crm")
            .map(|(_, c)| c.calls)
            .sum::<u64>()
    };
    // One call, then two (in every window a call counts in).
    assert!(calls(&batches[0]) > 0);
    assert_eq!(calls(&batches[2]), 2 * calls(&batches[0]));
}

/// A flush that has to wait for the database waits off the thread that
/// asked: while another connection holds the write lock, another task on
/// a one-thread runtime runs — and releases the lock — before the flush
/// finishes. Were the wait on the runtime's thread, the flush would end
/// first (failing after the store's 5 s busy timeout) and the other task
/// only after it.
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
        m.record("crm", one_call()).await;
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

/// Counting that nothing holds up runs where it is asked, without the
/// blocking pool: on a one-thread runtime whose only pool thread is kept
/// busy, the read of the day's counters and the flush still finish (sent
/// to the pool, they would queue behind that thread until the 5 s timeout
/// below). So a `warden run` counts its call without starting a thread.
#[test]
fn counting_that_nothing_holds_up_needs_no_pool_thread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let m = meter(dir.path(), QuotaLimits::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (release, held) = std::sync::mpsc::channel::<()>();
    let counted = rt.block_on(async {
        let busy = tokio::task::spawn_blocking(move || held.recv());
        let counted = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            m.record("crm", one_call()).await;
            m.flush().await
        })
        .await;
        release.send(()).expect("release the pool's thread");
        busy.await.expect("busy task").expect("released");
        counted
    });
    counted
        .expect("counting waited for the pool's thread")
        .expect("written");
    let store = UsageStore::open(&dir.path().join("usage.db")).expect("reopen");
    let day = Window::day_now().key();
    assert_eq!(store.get("app", "crm", &day).now().expect("read").calls, 1);
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
