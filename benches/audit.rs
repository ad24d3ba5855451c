//! Audit speed: export of one app with 10,000 entries among 100,000 in
//! the log (target: under 1 s), and the rate at which `audit verify`
//! checks a 1,000,000-entry log (chain and checkpoints), in entries/s.
//!
//! Run: `cargo bench -p warden-benches --bench audit`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use warden_runtime::Runtime;
use warden_runtime::audit::AuditEntry;
use warden_runtime::audit::checkpoint;
use warden_runtime::config::PlatformConfig;

/// Appends `count` entries to `dir`'s log after (`seq`, `prev`), one in
/// `every` of them `app`'s (the others spread over 500 apps), and keeps
/// the head file in step; returns the last (seq, hash).
fn write_entries(
    dir: &Path,
    (mut seq, mut prev): (u64, String),
    count: u64,
    app: &str,
    every: u64,
) -> (u64, String) {
    let path = dir.join("audit.jsonl");
    let mut file = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("log"),
    );
    let time = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    for _ in 0..count {
        seq += 1;
        let owner = if seq % every == 0 {
            app.to_string()
        } else {
            format!("app-{}", seq % 500)
        };
        let entry = AuditEntry::chained(
            seq,
            prev,
            time.clone(),
            "template.set",
            Some(owner),
            "ops@example.com",
            serde_json::json!({ "name": "matrix", "max_class": "internal" }),
        );
        prev = entry.hash.clone();
        writeln!(file, "{}", serde_json::to_string(&entry).expect("json")).expect("write");
    }
    file.flush().expect("flush");
    drop(file);
    let len = std::fs::metadata(&path).expect("len").len();
    std::fs::write(
        dir.join("audit.head"),
        serde_json::json!({ "seq": seq, "hash": prev, "len": len }).to_string(),
    )
    .expect("head");
    (seq, prev)
}

/// A log of `blocks` × `per_block` entries with a signed checkpoint after
/// each block, in `dir`, signed with `runtime`'s key.
fn signed_log(runtime: &Runtime, blocks: u64, per_block: u64, app: &str, every: u64) {
    let secrets = runtime.secrets().expect("secrets");
    let mut at = (0, "0".repeat(64));
    for _ in 0..blocks {
        write_entries(runtime.data_dir(), at, per_block, app, every);
        let cp = checkpoint::sign(runtime.audit(), &secrets, "interval")
            .expect("sign")
            .expect("a checkpoint");
        at = (cp.seq, cp.hash);
    }
}

fn runtime(dir: &Path) -> Runtime {
    let platform = PlatformConfig {
        data_dir: Some(dir.to_path_buf()),
        ..PlatformConfig::builtin()
    };
    Runtime::new(platform, warden_runtime::telemetry::disabled()).expect("runtime")
}

fn main() {
    // Export: 10,000 of 100,000 entries are the app's.
    let dir = tempfile::tempdir().expect("dir");
    let rt = runtime(dir.path());
    let made = Instant::now();
    signed_log(&rt, 10, 10_000, "expense-bot", 10);
    println!(
        "log of 100,000 entries (10 checkpoints) written in {:.1?}",
        made.elapsed()
    );
    let mut runs = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let archive =
            warden_runtime::audit::export::build(&rt, "expense-bot", None, None).expect("export");
        runs.push(start.elapsed());
        size = archive.len();
    }
    runs.sort();
    let p50 = runs[runs.len() / 2];
    println!(
        "audit export, 10,000 of 100,000 entries: p50 {:.0} ms, max {:.0} ms ({} KiB archive); target < 1000 ms: {}",
        p50.as_secs_f64() * 1e3,
        runs[runs.len() - 1].as_secs_f64() * 1e3,
        size / 1024,
        if p50 < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );

    // Verify: 1,000,000 entries, 10 checkpoints (each signing reads the
    // whole log, so more would only slow the set-up).
    let big = tempfile::tempdir().expect("dir");
    let rt = runtime(big.path());
    let made = Instant::now();
    signed_log(&rt, 10, 100_000, "expense-bot", 10);
    println!(
        "log of 1,000,000 entries (10 checkpoints) written in {:.1?}",
        made.elapsed()
    );
    let log = warden_runtime::audit::open(big.path());
    let start = Instant::now();
    let (entries, chain) = log.read_blocking().expect("read");
    let chained = start.elapsed();
    assert!(chain.is_intact(), "{chain:?}");
    let (keys, mark) =
        warden_runtime::audit::keys::trust(&rt.secrets().expect("secrets")).expect("keys");
    let start = Instant::now();
    let report = checkpoint::verify(
        &entries,
        &keys,
        mark.as_ref(),
        Duration::from_secs(3600),
        SystemTime::now(),
    );
    let signed = start.elapsed();
    assert_eq!(report.problem, None);
    let n = entries.len() as f64;
    println!(
        "audit verify, {} entries: chain {:.2} s ({:.0} entries/s), checkpoints {:.2} s ({:.0} entries/s), together {:.0} entries/s",
        entries.len(),
        chained.as_secs_f64(),
        n / chained.as_secs_f64(),
        signed.as_secs_f64(),
        n / signed.as_secs_f64(),
        n / (chained + signed).as_secs_f64()
    );
}
