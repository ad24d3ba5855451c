//! DLP scanner throughput on mixed text, one core.
//! Target: >= 200 MB/s. Run with `cargo bench -p warden-benches --bench dlp`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;
use warden_host_apis::dlp::Scanner;

/// ~16 MiB of prose, logs and JSON with a sensitive value every ~40 lines.
fn corpus() -> Vec<u8> {
    let lines = [
        "The quarterly review covered hiring plans, travel budgets and the new office lease terms.",
        "2026-11-27T10:15:02Z INFO request_id=af31 path=/api/v2/orders status=200 duration_ms=41",
        "{\"order\": 18273, \"items\": [3, 9, 12], \"total\": 129.95, \"currency\": \"EUR\", \"note\": \"gift\"}",
        "Meeting moved to Thursday at 3pm; please bring the slides from the last planning session.",
        "Invoice 2024-0193 for 1,250.00 USD is due in 30 days; reference PO 77812 on all payments.",
    ];
    let sensitive = [
        "Contact: jane.doe@example.com for access.",
        "Card on file 4111 1111 1111 1111 expires 12/29.",
        "Employee SSN 123-45-6789 recorded.",
        "Wire to GB82 WEST 1234 5698 7654 32 today.",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ];
    let mut out = Vec::with_capacity(17 << 20);
    let mut i = 0usize;
    while out.len() < 16 << 20 {
        let line = if i % 40 == 39 {
            sensitive[(i / 40) % sensitive.len()]
        } else {
            lines[i % lines.len()]
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        i += 1;
    }
    out
}

fn main() {
    let scanner = Scanner::new([7; 32]);
    let data = corpus();
    let _warm = scanner.scan(&data[..1 << 20]);
    let mut best = f64::MAX;
    let mut findings = 0;
    for _ in 0..5 {
        let start = Instant::now();
        findings = scanner.scan(&data).len();
        best = best.min(start.elapsed().as_secs_f64());
    }
    let mb = data.len() as f64 / 1e6;
    println!(
        "dlp scan: {:.1} MB of mixed text in {:.1} ms (best of 5) = {:.0} MB/s on one core, {findings} findings (target >= 200 MB/s)",
        mb,
        best * 1e3,
        mb / best
    );
}
