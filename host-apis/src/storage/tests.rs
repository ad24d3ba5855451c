use super::config::BucketRequest;
use super::store::{KvStore, SqliteKv, WriteCaps, Written};
use super::*;
use crate::Now as _;
use crate::bindings::warden::host::storage::{Error, Host};
use crate::bindings::warden::host::types::DenialKind;
use crate::units::Dur;

struct Fixture {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    store: Arc<SqliteKv>,
    master: MasterKey,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("storage.db");
    let store = Arc::new(SqliteKv::open(&db).expect("open"));
    Fixture {
        _dir: dir,
        db,
        store,
        master: MasterKey::from_bytes([9; 32]),
    }
}

fn bucket(name: &str, class: DataClass) -> BucketRequest {
    BucketRequest {
        bucket: name.into(),
        class,
        ttl: None,
    }
}

fn state(f: &Fixture, app: &str, buckets: &[BucketRequest], quota: Option<u64>) -> StorageState {
    let ctx = StorageGrant::build(
        app,
        buckets,
        &StorageRules::default(),
        quota,
        f.store.clone(),
        Some(&f.master),
    )
    .expect("build");
    StorageState::new(Arc::new(ctx), Label::default())
}

fn ok<T>(r: impl std::future::Future<Output = wasmtime::Result<Result<T, Error>>>) -> T {
    r.now().expect("no trap").expect("storage call")
}

#[test]
fn values_round_trip_and_apps_see_only_their_own_buckets() {
    let f = fixture();
    let mut a = state(&f, "app-a", &[bucket("cache", DataClass::Internal)], None);
    let mut b = state(&f, "app-b", &[bucket("cache", DataClass::Internal)], None);
    ok(a.set("cache".into(), "k".into(), b"from a".to_vec(), None));
    assert_eq!(
        ok(a.get("cache".into(), "k".into())),
        Some(b"from a".to_vec())
    );
    assert_eq!(
        ok(b.get("cache".into(), "k".into())),
        None,
        "app-b read app-a's value"
    );
    let err = a
        .get("other".into(), "k".into())
        .now()
        .expect("no trap")
        .expect_err("ungranted");
    assert!(
        matches!(err, Error::Denied(d) if d.kind == DenialKind::NotGranted && d.message.contains("granted: cache"))
    );
}

#[test]
fn confidential_values_are_not_in_the_database_file_in_plaintext() {
    let f = fixture();
    let mut s = state(
        &f,
        "hr",
        &[
            bucket("people", DataClass::Confidential),
            bucket("notes", DataClass::Public),
        ],
        None,
    );
    ok(s.set(
        "people".into(),
        "alice".into(),
        b"salary=123456-SECRET".to_vec(),
        None,
    ));
    ok(s.set(
        "notes".into(),
        "n".into(),
        b"public-note-visible".to_vec(),
        None,
    ));
    drop(s);
    let mut raw = std::fs::read(&f.db).unwrap_or_default();
    raw.extend(std::fs::read(f.db.with_extension("db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.contains("123456-SECRET"),
        "confidential plaintext on disk"
    );
    assert!(
        text.contains("public-note-visible"),
        "the check must be able to see plaintext"
    );
}

#[test]
fn deleting_an_app_destroys_its_key_and_data() {
    let f = fixture();
    let mut s = state(&f, "hr", &[bucket("people", DataClass::Confidential)], None);
    ok(s.set("people".into(), "alice".into(), b"v".to_vec(), None));
    let wrapped_before = f.store.data_key("hr").now().expect("key").expect("exists");
    assert_eq!(f.store.delete_app("hr").now().expect("delete"), 1);
    assert!(f.store.data_key("hr").now().expect("key").is_none());
    // A re-created app gets a new key: old ciphertexts could never open.
    let mut again = state(&f, "hr", &[bucket("people", DataClass::Confidential)], None);
    assert_eq!(ok(again.get("people".into(), "alice".into())), None);
    assert_ne!(
        f.store.data_key("hr").now().expect("key").expect("exists"),
        wrapped_before
    );
}

#[test]
fn expired_values_are_never_returned_even_before_purge() {
    let f = fixture();
    let mut s = state(&f, "app", &[bucket("cache", DataClass::Internal)], None);
    f.store
        .set(
            "app",
            "cache",
            "old",
            b"stale",
            now_ms() - 1,
            WriteCaps::default(),
        )
        .now()
        .expect("set");
    assert_eq!(ok(s.get("cache".into(), "old".into())), None);
    assert!(!ok(s.exists("cache".into(), "old".into())));
    assert!(
        ok(s.list_keys("cache".into(), "".into(), None, 10))
            .keys
            .is_empty()
    );
    assert_eq!(
        f.store.purge_expired(now_ms(), 100).now().expect("purge"),
        1
    );
    assert_eq!(f.store.usage("app").now().expect("usage").keys, 0);
}

#[test]
fn a_purge_touches_only_expired_entries() {
    let f = fixture();
    let later = now_ms() + 3_600_000;
    for i in 0..50 {
        f.store
            .set(
                "app",
                "b",
                &format!("live-{i}"),
                b"x",
                later,
                WriteCaps::default(),
            )
            .now()
            .expect("set");
    }
    for i in 0..5 {
        f.store
            .set(
                "app",
                "b",
                &format!("dead-{i}"),
                b"x",
                1,
                WriteCaps::default(),
            )
            .now()
            .expect("set");
    }
    assert_eq!(f.store.purge_expired(now_ms(), 2).now().expect("purge"), 2);
    assert_eq!(
        f.store.purge_expired(now_ms(), 100).now().expect("purge"),
        3
    );
    assert_eq!(f.store.usage("app").now().expect("usage").keys, 50);
}

#[test]
fn reading_raises_the_label_and_labelled_data_cannot_move_down() {
    let f = fixture();
    let mut s = state(
        &f,
        "app",
        &[
            bucket("secret", DataClass::Confidential),
            bucket("cache", DataClass::Internal),
        ],
        None,
    );
    ok(s.set(
        "cache".into(),
        "k".into(),
        b"fine before reading".to_vec(),
        None,
    ));
    ok(s.set("secret".into(), "k".into(), b"v".to_vec(), None));
    assert_eq!(s.label.get(), DataClass::Public, "writing does not label");
    ok(s.get("secret".into(), "k".into()));
    assert_eq!(s.label.get(), DataClass::Confidential);
    let err = s
        .set("cache".into(), "k2".into(), b"v".to_vec(), None)
        .now()
        .expect("no trap")
        .expect_err("downgrade");
    assert!(
        matches!(err, Error::Denied(d) if d.kind == DenialKind::ClassViolation && d.message.contains("confidential"))
    );
    ok(s.set(
        "secret".into(),
        "k2".into(),
        b"same class is fine".to_vec(),
        None,
    ));
}

#[test]
fn quotas_and_size_caps_are_enforced() {
    let f = fixture();
    let mut s = state(&f, "app", &[bucket("b", DataClass::Internal)], Some(100));
    ok(s.set("b".into(), "a".into(), vec![0; 60], None));
    let err = s
        .set("b".into(), "c".into(), vec![0; 60], None)
        .now()
        .expect("no trap")
        .expect_err("over quota");
    assert!(matches!(err, Error::QuotaExceeded(m) if m.contains("storage_bytes")));
    // Replacing a value gets credit for the old one.
    ok(s.set("b".into(), "a".into(), vec![0; 90], None));
    let big = vec![0u8; (StorageRules::default().max_value_bytes.bytes() + 1) as usize];
    let mut unlimited = state(&f, "other", &[bucket("b", DataClass::Internal)], None);
    assert!(matches!(
        unlimited
            .set("b".into(), "k".into(), big, None)
            .now()
            .expect("no trap"),
        Err(Error::TooLarge(_))
    ));
}

#[test]
fn keys_are_listed_by_prefix_in_pages() {
    let f = fixture();
    let mut s = state(&f, "app", &[bucket("b", DataClass::Public)], None);
    for k in ["user:1", "user:2", "user:3", "team:1"] {
        ok(s.set("b".into(), k.into(), b"v".to_vec(), None));
    }
    let first = ok(s.list_keys("b".into(), "user:".into(), None, 2));
    assert_eq!(first.keys, ["user:1", "user:2"]);
    let second = ok(s.list_keys("b".into(), "user:".into(), first.cursor, 2));
    assert_eq!(second.keys, ["user:3"]);
    assert_eq!(second.cursor, None);
}

#[test]
fn bucket_ttls_above_the_class_maximum_and_regulated_buckets_are_refused_at_load() {
    let f = fixture();
    let long = BucketRequest {
        bucket: "b".into(),
        class: DataClass::Regulated,
        ttl: Some(Dur(Duration::from_secs(30 * 86_400))),
    };
    let err = StorageGrant::build(
        "app",
        &[long],
        &StorageRules::default(),
        None,
        f.store.clone(),
        Some(&f.master),
    )
    .err();
    assert_eq!(err.map(|p| p.field), Some("storage[0].ttl".to_string()));
    let regulated = bucket("r", DataClass::Regulated);
    let err = StorageGrant::build(
        "app",
        std::slice::from_ref(&regulated),
        &StorageRules::default(),
        None,
        f.store.clone(),
        Some(&f.master),
    )
    .err();
    assert!(err.is_some_and(|p| p.problem.contains("needs approval")));
    let approved = StorageGrant::build(
        "app",
        &[regulated],
        &StorageRules::default().approved(),
        None,
        f.store.clone(),
        Some(&f.master),
    );
    let grant = approved.map(|ctx| ctx.buckets["r"].rule.clone());
    assert!(
        grant.as_ref().is_ok_and(|r| r.encrypt && !r.approval),
        "{:?}",
        grant.err()
    );
}

#[test]
fn dlp_redacts_or_blocks_writes_by_bucket_class() {
    use crate::dlp::{Action, ActionByClass, Scanner};
    let f = fixture();
    let buckets = [
        bucket("open", DataClass::Public),
        bucket("strict", DataClass::Internal),
    ];
    let actions = ActionByClass {
        public: Action::Redact,
        internal: Action::Block,
        ..ActionByClass::default()
    };
    let ctx = StorageGrant::build(
        "app",
        &buckets,
        &StorageRules::default(),
        None,
        f.store.clone(),
        Some(&f.master),
    )
    .expect("build")
    .with_dlp(Arc::new(Scanner::new([5; 32])), actions);
    let denials = DenialLog::default();
    let mut s = StorageState::new(Arc::new(ctx), Label::default()).with_denials(denials.clone());
    ok(s.set(
        "open".into(),
        "k".into(),
        b"mail alice@example.com".to_vec(),
        None,
    ));
    let stored = String::from_utf8(ok(s.get("open".into(), "k".into())).unwrap_or_default())
        .unwrap_or_default();
    assert!(stored.starts_with("mail [REDACTED:email:"), "{stored}");
    let err = s
        .set(
            "strict".into(),
            "k".into(),
            b"card 4111 1111 1111 1111".to_vec(),
            None,
        )
        .now()
        .expect("no trap")
        .expect_err("blocked");
    assert!(
        matches!(err, Error::Denied(d) if d.kind == DenialKind::DlpBlocked && d.message.contains("card=1"))
    );
    assert_eq!(denials.records()[0].kind.as_str(), "dlp-blocked");
    assert!(!denials.records()[0].target.contains("4111"));
}

#[test]
fn the_key_count_cap_refuses_new_keys_but_not_overwrites() {
    let f = fixture();
    let rules = StorageRules {
        max_keys: 2,
        ..StorageRules::default()
    };
    let ctx = StorageGrant::build(
        "app",
        &[bucket("b", DataClass::Internal)],
        &rules,
        None,
        f.store.clone(),
        None,
    )
    .expect("build");
    let mut s = StorageState::new(Arc::new(ctx), Label::default());
    ok(s.set("b".into(), "one".into(), b"1".to_vec(), None));
    ok(s.set("b".into(), "two".into(), b"2".to_vec(), None));
    let err = s
        .set("b".into(), "three".into(), b"3".to_vec(), None)
        .now()
        .expect("no trap")
        .expect_err("cap");
    assert!(matches!(err, Error::QuotaExceeded(m) if m.contains("max_keys")));
    ok(s.set("b".into(), "two".into(), b"22".to_vec(), None));
}

/// A storage call that waits for the database (here: another connection
/// holds the write lock) must not hold the thread that runs the guest:
/// on a one-thread runtime, another task runs meanwhile — and it is that
/// task which releases the lock. Were the SQLite call on the runtime's
/// thread, the other task could not run, and the write would fail with
/// SQLITE_BUSY after the store's 5 s busy timeout.
#[test]
fn a_waiting_storage_call_leaves_the_guests_thread_free() {
    let f = fixture();
    let blocker = rusqlite::Connection::open(&f.db).expect("open");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = f.store.clone();
    let (write, other) = rt.block_on(async move {
        let write = tokio::spawn(async move {
            store
                .set("app", "b", "k", b"v", u64::MAX / 4, WriteCaps::default())
                .await
        });
        let other = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            blocker
                .execute_batch("COMMIT")
                .expect("release the write lock");
            "ran while the write waited"
        });
        (write.await, other.await)
    });
    assert_eq!(other.expect("other task"), "ran while the write waited");
    let write = write.expect("write task");
    assert!(write.is_ok(), "{write:?}");
}

/// A guest's write runs in place only when it cannot wait; one that meets
/// another connection's write lock goes to the blocking pool and waits
/// there for the lock (it does not fail with `BUSY`), and the fast path
/// leaves the connection's patience as it found it.
#[test]
fn a_write_that_meets_a_held_lock_waits_for_it_and_lands() {
    let f = fixture();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let store = f.store.clone();
    let first = rt.block_on(rt.spawn(async move {
        store
            .set(
                "app",
                "b",
                "first",
                b"1",
                u64::MAX / 4,
                WriteCaps::default(),
            )
            .await
    }));
    assert!(matches!(first, Ok(Ok(Written::Stored(_)))), "{first:?}");
    let blocker = rusqlite::Connection::open(&f.db).expect("open");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let store = f.store.clone();
    let (write, released) = rt.block_on(async move {
        let write = tokio::spawn(async move {
            let written = store
                .set(
                    "app",
                    "b",
                    "second",
                    b"2",
                    u64::MAX / 4,
                    WriteCaps::default(),
                )
                .await;
            let deleted = store.delete("app", "b", "first").await;
            (written, deleted)
        });
        let released = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            blocker.execute_batch("COMMIT")
        });
        (write.await, released.await)
    });
    assert!(matches!(released, Ok(Ok(()))), "{released:?}");
    let (written, deleted) = write.expect("write task");
    assert!(matches!(written, Ok(Written::Stored(_))), "{written:?}");
    assert!(matches!(deleted, Ok(true)), "{deleted:?}");
    let read = |key: &str| f.store.get("app", "b", key, now_ms()).now().expect("get");
    assert_eq!(read("second"), Some(b"2".to_vec()));
    assert_eq!(read("first"), None);
}

/// The caps are checked in the write's own transaction: of two writes at
/// once that each fit alone but not together, exactly one is stored.
#[test]
fn two_writes_at_once_cannot_both_pass_the_quota() {
    let f = fixture();
    let caps = WriteCaps {
        max_bytes: Some(150),
        max_keys: None,
    };
    // Two stores on one file, as two processes would be: nothing in this
    // process serialises them, only the database.
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|key| {
            let store = SqliteKv::open(&f.db).expect("second store");
            std::thread::spawn(move || {
                store
                    .set("app", "b", key, &[b'v'; 99], u64::MAX / 4, caps)
                    .now()
                    .expect("set")
            })
        })
        .collect();
    let outcomes: Vec<Written> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Written::Stored(_)))
        .count();
    assert_eq!(stored, 1, "{outcomes:?}");
    assert!(
        outcomes.contains(&Written::OverBytes { used: 100 }),
        "{outcomes:?}"
    );
    assert_eq!(f.store.usage("app").now().expect("usage").bytes, 100);
}

#[test]
fn a_killed_apps_storage_calls_are_refused() {
    let f = fixture();
    let mut s = state(&f, "app", &[bucket("b", DataClass::Internal)], None);
    ok(s.set("b".into(), "k".into(), b"v".to_vec(), None));
    let kill = Arc::new(crate::kill::KillSwitch::default());
    s.kill = Some(kill.clone());
    kill.kill();
    for err in [
        s.get("b".into(), "k".into()).now().expect("no trap").err(),
        s.set("b".into(), "k".into(), b"w".to_vec(), None)
            .now()
            .expect("no trap")
            .err(),
    ] {
        match err {
            Some(Error::Denied(d)) => assert_eq!(d.kind, DenialKind::Killed),
            other => panic!("expected a kill denial, got {other:?}"),
        }
    }
    kill.revive();
    assert_eq!(ok(s.get("b".into(), "k".into())), Some(b"v".to_vec()));
}
