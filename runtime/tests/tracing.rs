//! Every invocation is a span with its usage and outcome, phases as child
//! spans, and guest logs and denials as events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use opentelemetry::Value;
use support::{TestHost, block_on, fixture};
use warden_runtime::invoke::InvocationRequest;
use warden_runtime::telemetry::{keys, render_tree};

fn attr(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

#[test]
fn an_invocation_span_carries_app_usage_and_outcome() {
    let host = TestHost::new();
    let manifest = host.manifest("noop", &fixture("noop_handler"), "");
    let app = host.load(&manifest);
    let report = block_on(host.runtime.invoke(&app, InvocationRequest::cli("log")));
    assert!(report.result.is_ok());

    let spans = host.spans.get_finished_spans().expect("spans");
    let root = spans
        .iter()
        .find(|s| s.name == "invocation")
        .expect("invocation span");
    assert_eq!(attr(root, keys::APP), Some(Value::from("noop")));
    assert_eq!(attr(root, keys::VERSION), Some(Value::from("1.0.0")));
    assert_eq!(attr(root, keys::TRIGGER), Some(Value::from("cli")));
    assert_eq!(attr(root, keys::OUTCOME), Some(Value::from("ok")));
    assert_eq!(
        attr(root, keys::FUEL_USED),
        Some(Value::I64(report.usage.fuel_used as i64))
    );
    assert!(matches!(attr(root, keys::PEAK_MEMORY), Some(Value::I64(n)) if n > 0));
    assert!(attr(root, keys::DURATION_US).is_some());

    let root_id = root.span_context.span_id();
    let children: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id == root_id)
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(children, ["instantiate", "call"]);
    let log = root
        .events
        .iter()
        .find(|e| e.name == "log")
        .expect("log event");
    assert!(
        log.attributes
            .iter()
            .any(|kv| kv.value.as_str() == "noop was asked to log")
    );

    let tree = render_tree(&spans);
    assert!(tree.starts_with("invocation "), "{tree}");
    assert!(
        tree.contains("\n  instantiate ") && tree.contains("\n  call "),
        "{tree}"
    );
}

#[test]
fn a_failed_invocation_span_names_the_limit_and_the_denials() {
    let host = TestHost::new();
    let report = host.run_fixture("open_socket", "");
    assert!(report.result.is_err());
    let spans = host.spans.get_finished_spans().expect("spans");
    let root = spans
        .iter()
        .find(|s| s.name == "invocation")
        .expect("invocation span");
    assert_eq!(attr(root, keys::OUTCOME), Some(Value::from("denied")));
    assert!(root.events.iter().any(|e| e.name == "denied"));
    assert!(matches!(
        root.status,
        opentelemetry::trace::Status::Error { .. }
    ));
}
