//! The three worlds run the examples as a creator would: handler input and
//! output, command arguments and stdout, one HTTP request and its response.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::{TestHost, block_on, example, fixture, text};
use warden_runtime::invoke::InvocationRequest;
use warden_runtime::world::World;

#[test]
fn the_report_formatter_turns_json_rows_into_a_report() {
    let host = TestHost::new();
    let app = host.load(&example("report-formatter"));
    assert_eq!(app.world, World::App);
    let input = r#"{"title":"Q3 travel","rows":[{"name":"flights","amount":1200.5},{"name":"hotels","amount":830}]}"#;
    let report = block_on(host.runtime.invoke(&app, InvocationRequest::cli(input)));
    let output = text(report.result.as_ref().expect("report runs"));
    assert!(output.starts_with("Q3 travel\n========="), "{output}");
    assert!(
        output.contains("TOTAL") && output.contains("2030.50 USD"),
        "{output}"
    );
    assert_eq!(report.logs.len(), 1);
    assert_eq!(report.logs[0].message, "formatting 2 rows");
    assert!(report.usage.fuel_used > 0 && report.usage.peak_memory_bytes > 0);
}

#[test]
fn the_platform_sets_the_report_formatters_currency_through_config() {
    let host =
        TestHost::with_config("[config.apps.report-formatter]\ndefault_currency = \"EUR\"\n");
    let app = host.load(&example("report-formatter"));
    let input = r#"{"title":"Q3","rows":[{"name":"trains","amount":10}]}"#;
    let report = block_on(host.runtime.invoke(&app, InvocationRequest::cli(input)));
    let output = text(report.result.as_ref().expect("report runs"));
    assert!(output.contains("10.00 EUR"), "{output}");
    // The caller's own currency still wins over the default.
    let input = r#"{"title":"Q3","currency":"CHF","rows":[{"name":"trains","amount":10}]}"#;
    let report = block_on(host.runtime.invoke(&app, InvocationRequest::cli(input)));
    let output = text(report.result.as_ref().expect("report runs"));
    assert!(output.contains("10.00 CHF"), "{output}");
}

#[test]
fn a_handler_error_is_the_apps_own_failure_with_its_message() {
    let host = TestHost::new();
    let app = host.load(&example("report-formatter"));
    let report = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli("not json")),
    );
    let err = report
        .result
        .as_ref()
        .err()
        .map(|e| (e.as_str(), e.to_string()));
    let (kind, message) = err.expect("bad input fails");
    assert_eq!(kind, "app-error");
    assert!(
        message.contains("input is not the expected JSON"),
        "{message}"
    );
}

#[test]
fn the_oncall_picker_gets_its_arguments_and_its_stdout_is_captured() {
    let host = TestHost::new();
    let app = host.load(&example("oncall-picker"));
    assert_eq!(app.world, World::Command);
    let args = ["--week", "48", "alice", "bob", "carol"]
        .map(String::from)
        .to_vec();
    let report = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli(Vec::new()).with_args(args)),
    );
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(text(&report.stdout), "week 48: primary alice, backup bob\n");
}

#[test]
fn a_command_that_exits_non_zero_is_an_app_error_with_its_stderr() {
    let host = TestHost::new();
    let app = host.load(&example("oncall-picker"));
    let report = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli(Vec::new())),
    );
    assert_eq!(
        report.result.as_ref().map_err(|e| e.as_str()).err(),
        Some("app-error")
    );
    assert!(text(&report.stderr).contains("--week is required"));
}

#[test]
fn the_http_hello_answers_one_request_on_its_route() {
    let host = TestHost::new();
    let app = host.load(&example("hello-http"));
    assert_eq!(app.world, World::HttpProxy);
    let report = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli(Vec::new())),
    );
    assert_eq!(report.http_status, Some(200));
    assert_eq!(
        text(report.result.as_ref().expect("responds")),
        "hello, world\n"
    );
}

#[test]
fn the_noop_handler_echoes_and_fails_on_request() {
    let host = TestHost::new();
    let manifest = host.manifest("noop", &fixture("noop_handler"), "");
    let app = host.load(&manifest);
    let report = block_on(host.runtime.invoke(&app, InvocationRequest::cli("ping")));
    assert_eq!(report.result.as_deref().ok(), Some(&b"ping"[..]));
    let report = block_on(host.runtime.invoke(&app, InvocationRequest::cli("fail")));
    assert_eq!(
        report
            .result
            .as_ref()
            .map_err(|e| e.to_string())
            .err()
            .as_deref(),
        Some("failed: asked to fail")
    );
}

#[test]
fn an_oversized_handler_result_is_an_output_limit() {
    let host = TestHost::new();
    let manifest = host.manifest(
        "noop",
        &fixture("noop_handler"),
        "[limits]\nmax_output = \"1KiB\"",
    );
    let app = host.load(&manifest);
    let report = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli(vec![b'a'; 4096])),
    );
    assert_eq!(
        report.result.as_ref().map_err(|e| e.as_str()).err(),
        Some("output-limit")
    );
}

#[test]
fn a_result_larger_than_the_hostcall_limit_is_a_hostcall_limit() {
    let host = TestHost::new();
    let manifest = host.manifest("noop", &fixture("noop_handler"), "");
    let app = host.load(&manifest);
    // Host-to-guest copies are not limited, but the guest returning a large
    // result to the host is: echo 8 MiB back with a 4 MiB hostcall limit.
    let report = block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli(vec![b'a'; 8 << 20])),
    );
    let err = report.result.as_ref().err();
    assert_eq!(err.map(|e| e.as_str()), Some("hostcall-limit"), "{err:?}");
    assert!(
        err.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("limits.hostcall_bytes")
    );
}
