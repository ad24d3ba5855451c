//! The storage backends keep one contract: every test here runs against
//! the embedded store (`storage.db`) and against PostgreSQL (a fresh
//! database on the test server), through the `KvStore` trait the
//! capability uses.

use crate::support;
use std::sync::Arc;
use warden_host_apis::storage::store::{AppUsage, KvStore, Replaced, SqliteKv, WriteCaps, Written};
use warden_runtime::state::postgres::kv::PgKv;
use warden_runtime::wait::Wait as _;

/// One store per backend, each empty.
fn stores() -> Vec<(&'static str, Arc<dyn KvStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let embedded = SqliteKv::open(&dir.path().join("storage.db")).unwrap();
    let pg = support::postgres::pool(&support::postgres::fresh_database());
    vec![
        ("embedded", Arc::new(embedded), Some(dir)),
        ("postgres", Arc::new(PgKv::new(pg)), None),
    ]
}

const FAR: u64 = u64::MAX / 4;
const NO_CAPS: WriteCaps = WriteCaps {
    max_bytes: None,
    max_keys: None,
};

fn set(
    kv: &dyn KvStore,
    app: &str,
    key: &str,
    value: &[u8],
    expires: u64,
    caps: WriteCaps,
) -> Written {
    kv.set(app, "b", key, value, expires, caps).wait().unwrap()
}

#[test]
fn values_round_trip_per_app_and_expire_on_read() {
    for (name, kv, _dir) in stores() {
        let kv = kv.as_ref();
        assert_eq!(
            set(kv, "a", "k", b"one", FAR, NO_CAPS),
            Written::Stored(Replaced::Nothing),
            "{name}"
        );
        assert_eq!(
            kv.get("a", "b", "k", 10).wait().unwrap(),
            Some(b"one".to_vec()),
            "{name}"
        );
        assert_eq!(
            kv.get("other", "b", "k", 10).wait().unwrap(),
            None,
            "{name}: apps are apart"
        );
        assert_eq!(
            set(kv, "a", "k", b"three", FAR, NO_CAPS),
            Written::Stored(Replaced::Value { bytes: 4 }),
            "{name}"
        );
        set(kv, "a", "soon", b"x", 100, NO_CAPS);
        assert_eq!(
            kv.get("a", "b", "soon", 99).wait().unwrap(),
            Some(b"x".to_vec()),
            "{name}"
        );
        assert_eq!(
            kv.get("a", "b", "soon", 100).wait().unwrap(),
            None,
            "{name}: expired, not yet purged"
        );
        assert!(kv.delete("a", "b", "k").wait().unwrap(), "{name}");
        assert!(!kv.delete("a", "b", "k").wait().unwrap(), "{name}");
        assert_eq!(kv.get("a", "b", "k", 10).wait().unwrap(), None, "{name}");
    }
}

#[test]
fn keys_are_listed_by_prefix_in_byte_order_in_pages_without_the_expired() {
    for (name, kv, _dir) in stores() {
        let kv = kv.as_ref();
        for key in ["user:b", "user:a", "user:C", "order:1", "user:z"] {
            set(kv, "a", key, b"v", FAR, NO_CAPS);
        }
        set(kv, "a", "user:gone", b"v", 5, NO_CAPS);
        let first = kv.list("a", "b", "user:", None, 2, 10).wait().unwrap();
        assert_eq!(first, vec!["user:C", "user:a"], "{name}: byte order");
        let next = kv
            .list("a", "b", "user:", Some("user:a"), 10, 10)
            .wait()
            .unwrap();
        assert_eq!(next, vec!["user:b", "user:z"], "{name}");
    }
}

#[test]
fn totals_follow_writes_deletes_and_purges_and_a_purge_takes_only_the_expired() {
    for (name, kv, _dir) in stores() {
        let kv = kv.as_ref();
        set(kv, "a", "k1", b"12345", FAR, NO_CAPS);
        set(kv, "a", "k2", b"1", 50, NO_CAPS);
        set(kv, "a", "k3", b"123", 60, NO_CAPS);
        set(kv, "z", "k1", b"1", 50, NO_CAPS);
        assert_eq!(
            kv.usage("a").wait().unwrap(),
            AppUsage {
                bytes: 7 + 3 + 5,
                keys: 3
            },
            "{name}"
        );
        set(kv, "a", "k1", b"1", FAR, NO_CAPS);
        assert_eq!(kv.usage("a").wait().unwrap().bytes, 3 + 3 + 5, "{name}");
        assert_eq!(
            kv.purge_expired(55, 100).wait().unwrap(),
            2,
            "{name}: a's k2 and z's k1"
        );
        assert_eq!(
            kv.usage("a").wait().unwrap(),
            AppUsage {
                bytes: 3 + 5,
                keys: 2
            },
            "{name}"
        );
        assert_eq!(kv.usage("z").wait().unwrap(), AppUsage::default(), "{name}");
        assert_eq!(
            kv.get("a", "b", "k3", 55).wait().unwrap(),
            Some(b"123".to_vec()),
            "{name}"
        );
        assert!(kv.delete("a", "b", "k3").wait().unwrap());
        assert_eq!(
            kv.usage("a").wait().unwrap(),
            AppUsage { bytes: 3, keys: 1 },
            "{name}"
        );
    }
}

#[test]
fn caps_refuse_what_does_not_fit_but_an_overwrite_that_fits_passes() {
    for (name, kv, _dir) in stores() {
        let kv = kv.as_ref();
        let caps = WriteCaps {
            max_bytes: Some(20),
            max_keys: Some(2),
        };
        assert!(
            matches!(set(kv, "a", "k1", b"123456", FAR, caps), Written::Stored(_)),
            "{name}"
        );
        assert!(
            matches!(set(kv, "a", "k2", b"1", FAR, caps), Written::Stored(_)),
            "{name}"
        );
        assert_eq!(
            set(kv, "a", "k3", b"1", FAR, caps),
            Written::OverKeys { keys: 2 },
            "{name}"
        );
        assert_eq!(
            set(kv, "a", "k1", b"1234567890123456", FAR, caps),
            Written::OverBytes { used: 11 },
            "{name}"
        );
        assert!(
            matches!(
                set(kv, "a", "k1", b"1234567890123", FAR, caps),
                Written::Stored(_)
            ),
            "{name}: 3 + 2 + 13 fits in 20"
        );
        assert_eq!(
            kv.get("a", "b", "k3", 1).wait().unwrap(),
            None,
            "{name}: a refused write leaves nothing"
        );
    }
}

/// Sixteen writers at once, each a new key, against a cap of five keys:
/// exactly five land, whatever the interleaving.
#[test]
fn writes_at_once_cannot_pass_a_cap_only_some_of_them_fit() {
    for (name, kv, _dir) in stores() {
        let caps = WriteCaps {
            max_bytes: None,
            max_keys: Some(5),
        };
        let stored: usize = std::thread::scope(|s| {
            let writers: Vec<_> = (0..16)
                .map(|i| {
                    let kv = kv.clone();
                    s.spawn(move || {
                        matches!(
                            set(kv.as_ref(), "a", &format!("k{i}"), b"v", FAR, caps),
                            Written::Stored(_)
                        )
                    })
                })
                .collect();
            writers
                .into_iter()
                .map(|w| usize::from(w.join().unwrap()))
                .sum()
        });
        assert_eq!(stored, 5, "{name}");
        assert_eq!(kv.usage("a").wait().unwrap().keys, 5, "{name}");
    }
}

#[test]
fn an_apps_data_key_is_kept_once_and_goes_with_its_data() {
    for (name, kv, _dir) in stores() {
        let kv = kv.as_ref();
        assert_eq!(kv.data_key("a").wait().unwrap(), None, "{name}");
        kv.put_data_key("a", b"first").wait().unwrap();
        kv.put_data_key("a", b"second").wait().unwrap();
        assert_eq!(
            kv.data_key("a").wait().unwrap(),
            Some(b"first".to_vec()),
            "{name}: the first stays"
        );
        set(kv, "a", "k", b"v", FAR, NO_CAPS);
        set(kv, "a", "j", b"v", FAR, NO_CAPS);
        set(kv, "other", "k", b"v", FAR, NO_CAPS);
        assert_eq!(kv.delete_app("a").wait().unwrap(), 2, "{name}");
        assert_eq!(kv.data_key("a").wait().unwrap(), None, "{name}");
        assert_eq!(kv.usage("a").wait().unwrap(), AppUsage::default(), "{name}");
        assert_eq!(
            kv.get("other", "b", "k", 1).wait().unwrap(),
            Some(b"v".to_vec()),
            "{name}"
        );
    }
}

/// On PostgreSQL one node purges at a time: a pass that meets another
/// node's purge in progress leaves the work to it.
#[test]
fn a_purge_meeting_another_nodes_purge_leaves_it_the_work() {
    let url = support::postgres::fresh_database();
    let kv = PgKv::new(support::postgres::pool(&url));
    for i in 0..5 {
        set(&kv, "a", &format!("k{i}"), b"v", 10, NO_CAPS);
    }
    // Another node's purge, holding its lock in an open transaction.
    let other = support::postgres::pool(&url);
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let holder = std::thread::spawn(move || {
        other
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    &[&0x7761_7264_6e70_7267i64],
                )
                .await?;
                let _ = hold.send(());
                let _ = released.await;
                tx.commit().await?;
                Ok(())
            })
            .wait()
            .unwrap();
    });
    held.recv().unwrap();
    assert_eq!(
        kv.purge_expired(100, 100).wait().unwrap(),
        0,
        "left to the other node"
    );
    let _ = release.send(());
    holder.join().unwrap();
    assert_eq!(kv.purge_expired(100, 100).wait().unwrap(), 5);
}
