//! The shared state backends side by side: the embedded store (SQLite files)
//! against PostgreSQL on this machine (a unix socket), for what a request
//! may touch — a storage get and set, a usage flush — and an audit append,
//! alone and from 8 writers at once (group commit).
//!
//! PostgreSQL is the server named by `WARDEN_TEST_POSTGRES_URL`, else a
//! throwaway one this bench starts with `scripts/postgres.sh` and stops.
//! Run with `cargo bench -p warden-benches --bench shared_state`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{micros, percentile, sample};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warden_host_apis::metering::{Counters, Meter, QuotaLimits, UsageBackend, UsageStore};
use warden_host_apis::storage::store::{KvStore, SqliteKv, WriteCaps};
use warden_runtime::audit::{AuditBackend, AuditEvent, AuditKind};
use warden_runtime::config::state::{Backend, StateSettings};
use warden_runtime::state::postgres::Postgres;
use warden_runtime::wait::Wait as _;

/// A throwaway server, stopped when dropped.
struct Server {
    dir: Option<std::path::PathBuf>,
    url: String,
}

impl Server {
    fn start() -> Server {
        if let Ok(url) = std::env::var("WARDEN_TEST_POSTGRES_URL") {
            return Server { dir: None, url };
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
        let dir = std::env::temp_dir().join(format!("warden-bench-pg-{}", std::process::id()));
        let out = std::process::Command::new(script)
            .arg("start")
            .arg(&dir)
            .output()
            .expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        let url = printed
            .split('\'')
            .nth(1)
            .expect("the script prints the URL")
            .to_string();
        Server {
            dir: Some(dir),
            url,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
            let _ = std::process::Command::new(script)
                .arg("stop")
                .arg(dir)
                .output();
        }
    }
}

fn report(name: &str, embedded: &[Duration], postgres: &[Duration]) {
    let (e, p) = (percentile(embedded, 50.0), percentile(postgres, 50.0));
    println!(
        "{name:<34} embedded p50 {:>8.1} µs p99 {:>8.1} µs | postgres p50 {:>8.1} µs p99 {:>8.1} µs | ratio {:>5.1}×",
        micros(e),
        micros(percentile(embedded, 99.0)),
        micros(p),
        micros(percentile(postgres, 99.0)),
        p.as_secs_f64() / e.as_secs_f64().max(1e-9)
    );
}

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        kind: AuditKind::QuotaSet,
        app: Some("bench".into()),
        actor: "token:bench".into(),
        details: serde_json::json!({ "n": n }),
    }
}

/// Appends per second from `writers` threads for `per` appends each.
fn audit_rate(log: &Arc<dyn AuditBackend>, writers: u64, per: u64) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..writers {
            let log = log.clone();
            s.spawn(move || {
                for i in 0..per {
                    log.append(event(w * per + i)).wait().unwrap();
                }
            });
        }
    });
    (writers * per) as f64 / started.elapsed().as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let server = Server::start();
    let dir = tempfile::tempdir()?;
    let settings = StateSettings {
        backend: Backend::Postgres,
        url: Some(server.url.clone()),
        pool_size: Some(8),
    };
    // A database of its own, empty.
    let db = format!("warden_bench_{}", std::process::id());
    futures_executor::block_on(async {
        let pg = Postgres::connect(&settings).unwrap();
        let sql = [
            format!("DROP DATABASE IF EXISTS {db}"),
            format!("CREATE DATABASE {db}"),
        ];
        pg.call(move |client| async move {
            for s in &sql {
                client.batch_execute(s).await?;
            }
            Ok(())
        })
        .await
        .unwrap();
    });
    let (base, query) = server.url.split_once('?').unwrap_or((&server.url, ""));
    let url = format!("{}/{db}?{query}", base.rsplit_once('/').unwrap().0);
    let settings = StateSettings {
        url: Some(url),
        ..settings
    };
    let pg = Postgres::connect(&settings)?;
    pg.migrate().wait()?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // Storage, as a guest's host call makes it: from a tokio worker.
    let kv_embedded: Arc<dyn KvStore> = Arc::new(SqliteKv::open(&dir.path().join("storage.db"))?);
    let kv_pg: Arc<dyn KvStore> =
        Arc::new(warden_runtime::state::postgres::kv::PgKv::new(pg.clone()));
    let mut gets = Vec::new();
    let mut sets = Vec::new();
    for kv in [&kv_embedded, &kv_pg] {
        let caps = WriteCaps::default();
        rt.block_on(kv.set("bench", "b", "hot", &[b'v'; 256], u64::MAX / 4, caps))?;
        gets.push(sample(5_000, 500, || {
            let v = rt.block_on(kv.get("bench", "b", "hot", 1)).unwrap();
            assert!(v.is_some());
        }));
        let mut i = 0u64;
        sets.push(sample(2_000, 200, || {
            i += 1;
            rt.block_on(kv.set(
                "bench",
                "b",
                &format!("k{}", i % 1000),
                &[b'v'; 256],
                u64::MAX / 4,
                caps,
            ))
            .unwrap();
        }));
    }
    report("storage get, 256 B", &gets[0], &gets[1]);
    report("storage set, 256 B", &sets[0], &sets[1]);

    // A meter's flush: three rows (app total, connector, minute).
    let usage_embedded: Arc<dyn UsageBackend> =
        Arc::new(UsageStore::open(&dir.path().join("usage.db"))?);
    let usage_pg: Arc<dyn UsageBackend> = Arc::new(
        warden_runtime::state::postgres::usage::PgUsage::new(pg.clone()),
    );
    let rows = [
        (
            ("*".to_string(), "2026-12-01".to_string()),
            Counters {
                calls: 1,
                ..Counters::default()
            },
        ),
        (
            ("crm".to_string(), "2026-12-01".to_string()),
            Counters {
                calls: 1,
                ..Counters::default()
            },
        ),
        (
            ("*".to_string(), "2026-12-01T10:00".to_string()),
            Counters {
                invocations: 1,
                ..Counters::default()
            },
        ),
    ];
    let mut flushes = Vec::new();
    let mut batch = 0u64;
    for usage in [&usage_embedded, &usage_pg] {
        flushes.push(sample(2_000, 200, || {
            batch += 1;
            rt.block_on(usage.add_all("bench", &format!("bench-{batch}"), &rows))
                .unwrap();
        }));
    }
    report("usage flush, 3 rows", &flushes[0], &flushes[1]);

    // The quota check an invocation makes (requests_per_minute, leased):
    // mostly from memory, with a lease round trip every block of units.
    let mut admits = Vec::new();
    for (i, usage) in [&usage_embedded, &usage_pg].into_iter().enumerate() {
        let limits = QuotaLimits {
            requests_per_minute: Some(u64::MAX / 4),
            ..QuotaLimits::default()
        };
        let meter = Meter::new(&format!("paced{i}"), limits, usage.clone());
        admits.push(sample(20_000, 1_000, || {
            rt.block_on(meter.admit_invocation()).unwrap();
        }));
    }
    report("quota check (admit, leased)", &admits[0], &admits[1]);
    let tail = |admits: &[Duration]| {
        admits
            .iter()
            .filter(|d| **d > Duration::from_micros(100))
            .count() as f64
            / admits.len() as f64
            * 100.0
    };
    println!(
        "  admissions over 100 µs (a lease):  embedded {:.2}% | postgres {:.2}%",
        tail(&admits[0]),
        tail(&admits[1])
    );

    // The audit log: one append, then throughput with 1 and 8 writers.
    let audit_embedded = warden_runtime::audit::open(dir.path());
    let audit_pg: Arc<dyn AuditBackend> = Arc::new(
        warden_runtime::state::postgres::audit::PgAudit::new(pg.clone(), "bench".into()),
    );
    let mut appends = Vec::new();
    for log in [&audit_embedded, &audit_pg] {
        let mut n = 0;
        appends.push(sample(500, 50, || {
            n += 1;
            log.append(event(n)).wait().unwrap();
        }));
    }
    report(
        "audit append (synced / committed)",
        &appends[0],
        &appends[1],
    );
    for writers in [1, 8] {
        let e = audit_rate(&audit_embedded, writers, 200);
        let p = audit_rate(&audit_pg, writers, 200);
        println!(
            "audit appends/s, {writers} writer(s)           embedded {e:>8.0}/s | postgres {p:>8.0}/s | ratio {:>5.2}×",
            p / e
        );
    }
    let (_, report) = audit_pg.read().wait()?;
    assert!(report.is_intact(), "{report:?}");
    drop(server);
    Ok(())
}
