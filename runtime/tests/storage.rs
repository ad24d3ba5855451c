//! Classified storage from real guests: buckets, expiry, label-based egress
//! against a real upstream, purge, and durability across a SIGKILL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;
use warden_runtime::wait::Wait as _;

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use support::upstream::Upstream;
use support::{TestHost, block_on, fixture, text};
use warden_host_apis::classes::{DataClass, Label};
use warden_host_apis::storage::config::{BucketRequest, StorageRules};
use warden_host_apis::storage::store::{KvStore, SqliteKv, WriteCaps};
use warden_host_apis::storage::{StorageGrant, StorageState};
use warden_runtime::invoke::InvocationRequest;

const BUCKETS: &str = r#"
[[storage]]
bucket = "people"
class = "confidential"

[[storage]]
bucket = "cache"
class = "internal"
ttl = "1h"
"#;

fn run(host: &TestHost, name: &str, extra: &str, ops: &str) -> Vec<String> {
    let manifest = host.manifest(name, &fixture("kv_app"), extra);
    let app = host.load(&manifest);
    let report = block_on(host.runtime.invoke(&app, InvocationRequest::cli(ops)));
    let output = report.result.expect("kv app runs");
    serde_json::from_slice(&output).expect("json results")
}

#[test]
fn a_guest_stores_reads_lists_and_deletes_in_its_own_buckets() {
    let host = TestHost::new();
    let results = run(
        &host,
        "kv",
        BUCKETS,
        r#"[{"op":"set","bucket":"cache","key":"a:1","value":"one"},
            {"op":"set","bucket":"cache","key":"a:2","value":"two"},
            {"op":"get","bucket":"cache","key":"a:1"},
            {"op":"keys","bucket":"cache","prefix":"a:"},
            {"op":"delete","bucket":"cache","key":"a:1"},
            {"op":"get","bucket":"cache","key":"a:1"},
            {"op":"get","bucket":"nope","key":"x"}]"#,
    );
    assert_eq!(
        &results[..6],
        ["ok", "ok", "one", "a:1,a:2", "true", "none"]
    );
    assert!(results[6].contains("NotGranted"), "{results:?}");

    let other = run(
        &host,
        "other-app",
        BUCKETS,
        r#"[{"op":"get","bucket":"cache","key":"a:2"}]"#,
    );
    assert_eq!(other, ["none"], "another app saw this app's data");
}

#[test]
fn a_value_past_its_ttl_is_not_returned() {
    let host = TestHost::new();
    let set = run(
        &host,
        "kv",
        BUCKETS,
        r#"[{"op":"set","bucket":"cache","key":"k","value":"v","ttl":1}]"#,
    );
    assert_eq!(set, ["ok"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let got = run(
        &host,
        "kv",
        BUCKETS,
        r#"[{"op":"get","bucket":"cache","key":"k"}]"#,
    );
    assert_eq!(got, ["none"]);
    assert_eq!(
        host.runtime
            .storage()
            .purge_expired(u64::MAX / 2, 1000)
            .wait()
            .expect("purge"),
        1
    );
}

#[test]
fn reading_confidential_data_blocks_a_connector_cleared_only_for_internal() {
    let upstream = Upstream::start();
    let config = format!(
        "[egress]\nallow_cidrs = [\"127.0.0.1/32\"]\n[[connectors]]\nname = \"crm\"\nbase_url = \"{}\"\nmax_class = \"internal\"\nscopes = {{ read = [\"GET /**\"] }}\n",
        upstream.url("/api")
    );
    let host = TestHost::with_config(&config);
    let grants = format!("{BUCKETS}\n[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n");
    let results = run(
        &host,
        "leaky",
        &grants,
        r#"[{"op":"call","connector":"crm","path":"/before"},
            {"op":"set","bucket":"people","key":"alice","value":"salary 100k"},
            {"op":"get","bucket":"people","key":"alice"},
            {"op":"call","connector":"crm","path":"/after"},
            {"op":"set","bucket":"cache","key":"copy","value":"salary 100k"}]"#,
    );
    assert_eq!(results[0], "status 200");
    assert_eq!(results[2], "salary 100k");
    assert!(
        results[3].contains("ClassViolation") && results[3].contains("confidential"),
        "{results:?}"
    );
    assert!(results[4].contains("ClassViolation"), "{results:?}");
    assert_eq!(
        upstream.hits("/api/after"),
        0,
        "labelled data left through a lower-cleared connector"
    );
    assert_eq!(upstream.hits("/api/before"), 1);
}

#[test]
fn purge_deletes_what_expired_and_leaves_the_rest() {
    let host = TestHost::new();
    run(
        &host,
        "kv",
        BUCKETS,
        r#"[{"op":"set","bucket":"cache","key":"stay","value":"v"}]"#,
    );
    let store = host.runtime.storage();
    store
        .set("kv", "cache", "gone", b"v", 1, WriteCaps::default())
        .wait()
        .expect("set expired");
    assert_eq!(
        store
            .purge_expired(warden_host_apis::storage::now_ms(), 1000)
            .wait()
            .expect("purge"),
        1
    );
    assert_eq!(store.usage("kv").wait().expect("usage").keys, 1);
}

/// Child side of the SIGKILL test: writes keys forever, printing each one
/// after `set` returned (the acknowledgement a guest would get).
fn writer(db: &str) {
    let store: Arc<dyn KvStore> = Arc::new(SqliteKv::open(std::path::Path::new(db)).expect("open"));
    let bucket = BucketRequest {
        bucket: "log".into(),
        class: DataClass::Internal,
        ttl: None,
    };
    let ctx = StorageGrant::build(
        "writer",
        &[bucket],
        &StorageRules::default(),
        None,
        store,
        None,
    )
    .expect("ctx");
    let mut state = StorageState::new(Arc::new(ctx), Label::default());
    use std::io::Write;
    use warden_host_apis::bindings::warden::host::storage::Host;
    let mut out = std::io::stdout();
    for i in 0.. {
        state
            .set("log".into(), format!("key-{i}"), vec![b'v'; 256], None)
            .wait()
            .expect("trap")
            .expect("set");
        writeln!(out, "acked {i}").expect("stdout");
        out.flush().expect("flush");
    }
}

/// The full name libtest knows `name` in this module by (`storage::NAME`),
/// for re-running one test in a child process.
fn this_test(name: &str) -> String {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    format!("{module}::{name}")
}

#[test]
fn acknowledged_writes_survive_a_sigkill() {
    if let Ok(db) = std::env::var("WARDEN_KV_WRITER_DB") {
        writer(&db);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("storage.db");
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            &this_test("acknowledged_writes_survive_a_sigkill"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WARDEN_KV_WRITER_DB", &db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let mut acked = Vec::new();
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    for line in reader.lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("acked ") {
            acked.push(n.parse::<u64>().expect("number"));
            if acked.len() == 300 {
                child.kill().expect("SIGKILL");
                break;
            }
        }
    }
    let _ = child.wait();
    assert_eq!(acked.len(), 300);
    let store = SqliteKv::open(&db).expect("reopen after crash");
    let now = warden_host_apis::storage::now_ms();
    let missing: Vec<_> = acked
        .iter()
        .filter(|i| {
            store
                .get("writer", "log", &format!("key-{i}"), now)
                .wait()
                .expect("get")
                .is_none()
        })
        .collect();
    assert!(missing.is_empty(), "acknowledged keys lost: {missing:?}");
    assert!(store.usage("writer").wait().expect("usage").keys >= 300);
}

/// Everything the store holds, as bytes: the embedded store's files, or
/// every key and value row of the PostgreSQL database.
fn stored_bytes(host: &TestHost) -> Vec<u8> {
    let state = &host.runtime.platform().state;
    match (&state.backend, &state.url) {
        (warden_runtime::config::state::Backend::Postgres, Some(url)) => support::postgres::rows(
            url,
            "SELECT convert_to(key, 'UTF8') || value FROM storage_values",
        )
        .iter()
        .flat_map(|r| r.get::<_, Vec<u8>>(0))
        .collect(),
        _ => {
            let data = host.runtime.data_dir();
            let mut raw = std::fs::read(data.join("storage.db")).unwrap_or_default();
            raw.extend(std::fs::read(data.join("storage.db-wal")).unwrap_or_default());
            raw
        }
    }
}

#[test]
fn confidential_values_written_by_a_guest_are_encrypted_on_disk() {
    let host = TestHost::new();
    run(
        &host,
        "hr",
        BUCKETS,
        r#"[{"op":"set","bucket":"people","key":"bob","value":"PLAINTEXT-SALARY-424242"}]"#,
    );
    let raw = stored_bytes(&host);
    assert!(
        !text(&raw).contains("PLAINTEXT-SALARY"),
        "confidential plaintext in the database"
    );
    assert!(
        text(&raw).contains("bob"),
        "the key itself is stored in the clear, so the scan must see the row"
    );
    let back = run(
        &host,
        "hr",
        BUCKETS,
        r#"[{"op":"get","bucket":"people","key":"bob"}]"#,
    );
    assert_eq!(back, ["PLAINTEXT-SALARY-424242"]);
}

#[test]
fn the_cli_purges_now_and_deletes_an_apps_data_with_an_audit_entry() {
    let data = tempfile::tempdir().expect("temp dir");
    {
        let store = SqliteKv::open(&data.path().join("storage.db")).expect("open");
        store
            .set("app", "b", "expired", b"v", 1, WriteCaps::default())
            .wait()
            .expect("set");
        store
            .set("app", "b", "live", b"v", u64::MAX / 4, WriteCaps::default())
            .wait()
            .expect("set");
    }
    let warden = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .env("WARDEN_DATA_DIR", data.path())
            .output()
            .expect("run warden")
    };
    let purge = warden(&["storage", "purge", "--json"]);
    assert_eq!(purge.status.code(), Some(0), "{}", text(&purge.stderr));
    let report: serde_json::Value = serde_json::from_slice(&purge.stdout).expect("json");
    assert_eq!(report["purged"], 1);

    assert_eq!(
        warden(&["storage", "delete-app", "app"]).status.code(),
        Some(2)
    );
    let deleted = warden(&["storage", "delete-app", "app", "--yes"]);
    assert_eq!(deleted.status.code(), Some(0), "{}", text(&deleted.stderr));
    assert!(text(&deleted.stdout).contains("deleted 1 values"));
    let audit = text(&warden(&["audit", "show", "--app", "app"]).stdout);
    assert!(audit.contains("storage.app-deleted"), "{audit}");
    assert!(warden(&["audit", "verify"]).status.success());
}

#[test]
fn wasi_keyvalue_components_use_the_same_governed_buckets() {
    let host = TestHost::new();
    let manifest = host.manifest("kvc", &fixture("keyvalue_client"), BUCKETS);
    let app = host.load(&manifest);
    let client = |args: &[&str]| {
        let args = args.iter().map(|s| s.to_string()).collect();
        let report = block_on(
            host.runtime
                .invoke(&app, InvocationRequest::cli(Vec::new()).with_args(args)),
        );
        text(&report.stdout)
    };
    assert_eq!(client(&["cache", "set", "k", "v1"]), "Ok(())\n");
    assert_eq!(client(&["cache", "get", "k"]), "v1\n");
    assert!(client(&["secrets", "get", "k"]).contains("NoSuchStore"));
    for i in 0..150 {
        client(&["cache", "set", &format!("key-{i:03}"), "x"]);
    }
    assert_eq!(client(&["cache", "list"]), "151 keys\n");
    // The same app reading through warden:host/storage sees the same value.
    let results = run(
        &host,
        "kvc",
        BUCKETS,
        r#"[{"op":"get","bucket":"cache","key":"k"}]"#,
    );
    assert_eq!(results, ["v1"]);
    let other_app = run(
        &host,
        "someone-else",
        BUCKETS,
        r#"[{"op":"get","bucket":"cache","key":"k"}]"#,
    );
    assert_eq!(other_app, ["none"]);
}

#[test]
fn the_background_purger_removes_expired_values_within_its_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[storage]\npurge_interval = \"100ms\"\n",
    )
    .expect("write");
    let platform = warden_runtime::config::PlatformConfig::load(&config).expect("config");
    let runtime = Arc::new(
        warden_runtime::Runtime::new(platform, warden_runtime::telemetry::disabled())
            .expect("runtime"),
    );
    runtime
        .storage()
        .set("app", "b", "expired", b"v", 1, WriteCaps::default())
        .wait()
        .expect("set");
    runtime
        .storage()
        .set("app", "b", "live", b"v", u64::MAX / 4, WriteCaps::default())
        .wait()
        .expect("set");
    block_on(async {
        let purger = warden_runtime::purge::spawn_purger(&runtime);
        tokio::time::sleep(std::time::Duration::from_millis(450)).await;
        purger.abort();
    });
    assert_eq!(
        runtime.storage().usage("app").wait().expect("usage").keys,
        1
    );
}

#[test]
fn each_storage_call_is_a_child_span_without_key_or_value() {
    let host = TestHost::new();
    run(
        &host,
        "kv",
        BUCKETS,
        r#"[{"op":"set","bucket":"people","key":"secret-key-name","value":"secret-value"},
            {"op":"get","bucket":"people","key":"secret-key-name"},
            {"op":"get","bucket":"nope","key":"x"}]"#,
    );
    let spans = host.spans.get_finished_spans().unwrap();
    let root = spans.iter().find(|s| s.name == "invocation").unwrap();
    let storage: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "storage" && !format!("{:?}", s.attributes).contains("\"open\""))
        .collect();
    assert_eq!(
        storage.len(),
        2,
        "set and get (the third call fails at open)"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.name == "storage" && format!("{:?}", s.attributes).contains("not-granted"))
    );
    let rendered: Vec<String> = storage
        .iter()
        .map(|s| format!("{:?}", s.attributes))
        .collect();
    assert!(
        rendered[0].contains("\"set\"")
            && rendered[0].contains("people")
            && rendered[0].contains("I64(12)"),
        "{}",
        rendered[0]
    );
    assert!(
        rendered[1].contains("\"get\"") && rendered[1].contains("I64(12)"),
        "{}",
        rendered[1]
    );
    for (span, text) in storage.iter().zip(&rendered) {
        assert_eq!(span.parent_span_id, root.span_context.span_id());
        assert!(
            !text.contains("secret-key-name") && !text.contains("secret-value"),
            "{text}"
        );
    }
}

#[test]
fn stored_bytes_and_keys_count_against_their_quotas_in_the_usage_report() {
    let host = TestHost::new();
    let extra = format!("{BUCKETS}\n[quota]\nstorage_bytes = \"1MiB\"\n");
    let manifest = host.manifest("kv", &fixture("kv_app"), &extra);
    let app = host.load(&manifest);
    let report = block_on(host.runtime.invoke(
        &app,
        InvocationRequest::cli(r#"[{"op":"set","bucket":"cache","key":"k","value":"0123456789"}]"#),
    ));
    assert!(report.result.is_ok());
    let quotas = warden_runtime::quota_use::quota_use(&app);
    let bytes = quotas.iter().find(|q| q.quota == "storage_bytes").unwrap();
    assert!(bytes.used >= 11, "{bytes:?}");
    assert_eq!(bytes.limit, Some(1024 * 1024));
    assert!(bytes.utilization().unwrap() > 0.0);
    let keys = quotas.iter().find(|q| q.quota == "storage_keys").unwrap();
    assert_eq!(keys.used, 1);
}

#[test]
fn an_app_without_a_storage_quota_gets_the_platform_default_and_cannot_ask_past_the_maximum() {
    let host = TestHost::with_config(
        "[quotas.defaults]\nstorage_bytes = \"16B\"\n[quotas.maximums]\nstorage_bytes = \"1MiB\"\n",
    );
    let app = host.load(&host.manifest("kv", &fixture("kv_app"), BUCKETS));
    let quotas = warden_runtime::quota_use::quota_use(&app);
    let bytes = quotas.iter().find(|q| q.quota == "storage_bytes").unwrap();
    assert_eq!(bytes.limit, Some(16));
    let report = block_on(host.runtime.invoke(
        &app,
        InvocationRequest::cli(
            r#"[{"op":"set","bucket":"cache","key":"k","value":"0123456789012345678901234567890123456789"}]"#,
        ),
    ));
    let out = String::from_utf8_lossy(report.result.as_deref().unwrap_or_default()).into_owned();
    assert!(
        out.to_lowercase().contains("quota"),
        "a write past the default quota is refused: {out}"
    );
    let greedy = host.manifest(
        "greedy",
        &fixture("kv_app"),
        &format!("{BUCKETS}\n[quota]\nstorage_bytes = \"100GiB\"\n"),
    );
    let err = host.load_error(&greedy);
    assert!(
        err.contains("quota.storage_bytes") && err.contains("quotas.maximums.storage_bytes"),
        "{err}"
    );
}
