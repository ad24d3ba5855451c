//! Adversarial guests are each stopped by the right limit, within it, and a
//! well-behaved app then runs fine in the same process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::{TestHost, block_on, fixture, text};
use warden_runtime::invoke::InvocationRequest;
use warden_runtime::invoke::outcome::InvocationError;

fn well_behaved_still_runs(host: &TestHost) {
    let manifest = host.manifest("well-behaved", &fixture("well_behaved"), "");
    let app = host.load(&manifest);
    let request = InvocationRequest::cli(Vec::new()).with_args(vec!["still".into(), "here".into()]);
    let report = block_on(host.runtime.invoke(&app, request));
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(text(&report.stdout), "ok: still here\n");
}

#[test]
fn an_infinite_loop_runs_out_of_fuel_at_its_budget() {
    let host = TestHost::new();
    let report = host.run_fixture("infinite_loop", "fuel = 20_000_000\ntimeout = \"30s\"");
    assert_eq!(
        report.result.as_ref().err(),
        Some(&InvocationError::FuelExhausted { limit: 20_000_000 })
    );
    assert_eq!(report.usage.fuel_used, 20_000_000);
    well_behaved_still_runs(&host);
}

#[test]
fn an_infinite_loop_with_ample_fuel_is_stopped_by_the_deadline() {
    let host = TestHost::new();
    let report = host.run_fixture(
        "infinite_loop",
        "fuel = 10_000_000_000\ntimeout = \"200ms\"",
    );
    assert_eq!(
        report.result.as_ref().map_err(|e| e.as_str()).err(),
        Some("timeout")
    );
    assert!(report.usage.wall_time_us < 2_000_000, "{:?}", report.usage);
    well_behaved_still_runs(&host);
}

#[test]
fn a_guest_blocked_in_a_host_call_is_stopped_by_the_deadline() {
    let host = TestHost::new();
    let report = host.run_fixture("sleep_forever", "timeout = \"200ms\"");
    assert_eq!(
        report.result.as_ref().map_err(|e| e.as_str()).err(),
        Some("timeout")
    );
    assert!(report.usage.wall_time_us < 2_000_000, "{:?}", report.usage);
    well_behaved_still_runs(&host);
}

#[test]
fn unbounded_allocation_hits_the_memory_limit_and_stays_under_it() {
    let host = TestHost::new();
    let report = host.run_fixture("memory_hog", "memory = \"16MiB\"");
    let err = report.result.as_ref().err();
    assert_eq!(err.map(|e| e.as_str()), Some("memory-limit"), "{err:?}");
    assert!(
        err.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("limits.memory")
    );
    assert!(
        report.usage.peak_memory_bytes <= 16 << 20,
        "{:?}",
        report.usage
    );
    assert!(
        report.usage.peak_memory_bytes > 8 << 20,
        "{:?}",
        report.usage
    );
    well_behaved_still_runs(&host);
}

#[test]
fn unbounded_recursion_is_a_stack_overflow() {
    let host = TestHost::new();
    let report = host.run_fixture("deep_recursion", "");
    let err = report.result.as_ref().err();
    assert_eq!(err.map(|e| e.as_str()), Some("stack-overflow"), "{err:?}");
    well_behaved_still_runs(&host);
}

#[test]
fn a_stdout_flood_is_cut_at_the_output_limit() {
    let host = TestHost::new();
    let report = host.run_fixture("stdout_flood", "max_output = \"64KiB\"");
    assert_eq!(
        report.result.as_ref().err(),
        Some(&InvocationError::OutputLimit {
            stream: "stdout",
            limit: warden_runtime::config::Size::kib(64)
        })
    );
    assert!(report.stdout.len() <= 64 * 1024);
    well_behaved_still_runs(&host);
}

#[test]
fn host_files_cannot_be_read_or_listed() {
    let host = TestHost::new();
    let report = host.run_fixture("read_passwd", "");
    let out = text(&report.stdout);
    assert!(!out.contains("READ") && !out.contains("LISTED"), "{out}");
    assert!(!out.contains("root:"), "{out}");
    // The guest looked for host directories and was given none; opening
    // the file then failed inside the guest, so the app failed on its own.
    let err = report.result.as_ref().err();
    assert_eq!(err.map(|e| e.as_str()), Some("app-error"), "{err:?}\n{out}");
    assert!(report.usage.looked_for_files);
    assert!(report.denials.is_empty(), "{:?}", report.denials);
    well_behaved_still_runs(&host);
}

#[test]
fn the_host_environment_is_never_visible() {
    // The test process always has variables of its own (cargo sets
    // CARGO_MANIFEST_DIR for every test run); none may reach the guest.
    // Setting one here instead would race the other tests' threads.
    let canary = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let host = TestHost::new();
    let report = host.run_fixture("list_env", "");
    assert!(report.result.is_ok(), "{:?}", report.result);
    let out = text(&report.stdout);
    assert_eq!(out, "0 variables\n");
    assert!(!out.contains(&canary));
}

#[test]
fn sockets_are_denied_and_each_attempt_is_recorded() {
    let host = TestHost::new();
    let report = host.run_fixture("open_socket", "");
    let out = text(&report.stdout);
    assert!(
        !out.contains("CONNECTED") && !out.contains("BOUND"),
        "{out}"
    );
    let err = report.result.as_ref().err();
    assert_eq!(err.map(|e| e.as_str()), Some("denied"), "{err:?}\n{out}");
    let targets: Vec<_> = report.denials.iter().map(|d| d.target.as_str()).collect();
    assert!(targets.contains(&"tcp connect 127.0.0.1:9"), "{targets:?}");
    assert!(targets.contains(&"tcp connect [::1]:9"), "{targets:?}");
    assert!(
        targets.iter().any(|t| t.starts_with("tcp bind 127.0.0.1:")),
        "{targets:?}"
    );
    well_behaved_still_runs(&host);
}

#[test]
fn outbound_http_is_denied_without_connecting() {
    let host = TestHost::new();
    let report = host.run_fixture("http_egress", "");
    let out = text(&report.stdout);
    assert!(!out.contains("REACHED"), "{out}");
    assert!(out.contains("HttpRequestDenied"), "{out}");
    assert_eq!(
        report.result.as_ref().map_err(|e| e.as_str()).err(),
        Some("denied")
    );
    assert_eq!(report.denials[0].target, "GET http://127.0.0.1:9");
    well_behaved_still_runs(&host);
}

/// Pooled slots are reset in place (`engine.keep_resident`) or released:
/// either way an instance starts from its initial memory, never from what
/// the slot's last instance wrote (a static, a small and an 8 MiB heap
/// buffer, past what is kept resident). One slot, so every call reuses the
/// slot the last one wrote.
#[test]
fn each_call_starts_from_the_initial_memory_whatever_the_last_one_left() {
    for keep_resident in ["", "keep_resident = \"0\"", "keep_resident = \"64MiB\""] {
        let config = format!("[engine]\nmax_instances = 1\n{keep_resident}\n");
        let host = TestHost::with_config(&config);
        let manifest = host.manifest(
            "leftovers",
            &fixture("leftovers"),
            "[limits]\nmemory = \"32MiB\"\nfuel = 2_000_000_000\ntimeout = \"20s\"",
        );
        let app = host.load(&manifest);
        for call in 0..4 {
            let report = block_on(
                host.runtime
                    .invoke(&app, InvocationRequest::cli(Vec::new())),
            );
            assert!(
                report.result.is_ok(),
                "{config:?} call {call}: {:?}",
                report.result
            );
            assert_eq!(
                text(&report.stdout),
                "at start: clean; after writing: found\n",
                "{config:?} call {call}"
            );
        }
    }
}
