//! OTLP export against a real receiver built on the OTLP protobuf
//! definitions: spans, metrics and logs of a `warden serve` host arrive
//! with the app's attributes; a collector that is down stalls nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::process::Host;
use support::serving::request;
use support::{example, fixture};

#[derive(Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Received>>,
}

fn receiver() -> Receiver {
    let got: Arc<Mutex<Received>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let state = got.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (t, m, l) = (state.clone(), state.clone(), state);
            let app = axum::Router::new()
                .route(
                    "/v1/traces",
                    axum::routing::post(move |body: axum::body::Bytes| async move {
                        let req = ExportTraceServiceRequest::decode(body).expect("OTLP traces");
                        t.lock().unwrap().traces.push(req);
                        ""
                    }),
                )
                .route(
                    "/v1/metrics",
                    axum::routing::post(move |body: axum::body::Bytes| async move {
                        let req = ExportMetricsServiceRequest::decode(body).expect("OTLP metrics");
                        m.lock().unwrap().metrics.push(req);
                        ""
                    }),
                )
                .route(
                    "/v1/logs",
                    axum::routing::post(move |body: axum::body::Bytes| async move {
                        let req = ExportLogsServiceRequest::decode(body).expect("OTLP logs");
                        l.lock().unwrap().logs.push(req);
                        ""
                    }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    Receiver {
        url: format!("http://{}", rx.recv().unwrap()),
        got,
    }
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| text(&kv.value))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn apps(dir: &std::path::Path) -> Vec<String> {
    let noop = dir.join("noop.toml");
    std::fs::write(
        &noop,
        format!(
            "[app]\nname = \"noop\"\nversion = \"2.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/noop\"\n",
            fixture("noop_handler").display()
        ),
    )
    .unwrap();
    vec![
        "--app".into(),
        example("hello-http").display().to_string(),
        "--app".into(),
        noop.display().to_string(),
    ]
}

#[test]
fn spans_metrics_and_logs_arrive_at_the_collector_with_app_attributes() {
    let collector = receiver();
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[telemetry.otlp]\nendpoint = \"{}\"\nmetrics_interval = \"500ms\"\n",
            collector.url
        ),
    )
    .unwrap();
    let mut args = vec!["--config".to_string(), config.display().to_string()];
    args.extend(apps(data.path()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = Host::start(data.path(), &args);
    for _ in 0..3 {
        assert_eq!(request(host.app_addr, "GET", "/hello/otel", "").status, 200);
    }
    assert_eq!(request(host.app_addr, "POST", "/noop", "log").status, 200);

    let got = collector.got.clone();
    wait_for("spans", || {
        let g = got.lock().unwrap();
        g.traces
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .filter(|s| {
                s.name == "invocation"
                    && attr(&s.attributes, "warden.app").as_deref() == Some("hello-http")
            })
            .count()
            >= 3
    });
    wait_for("invocation metrics", || {
        let g = got.lock().unwrap();
        g.metrics
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .any(|m| m.name == "warden.invocations")
    });
    host.stop();

    let g = got.lock().unwrap();
    let resource = g.traces[0].resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(
        attr(&resource.attributes, "service.name").as_deref(),
        Some("warden")
    );
    let spans: Vec<_> = g
        .traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let root = spans
        .iter()
        .find(|s| {
            s.name == "invocation" && attr(&s.attributes, "warden.app").as_deref() == Some("noop")
        })
        .expect("noop invocation span");
    assert_eq!(
        attr(&root.attributes, "warden.app.version").as_deref(),
        Some("2.0.0")
    );
    assert!(
        spans
            .iter()
            .any(|s| s.name == "call" && s.trace_id == root.trace_id),
        "children arrive with their trace"
    );

    let metrics: Vec<_> = g
        .metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect();
    let names: std::collections::BTreeSet<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    for name in [
        "warden.invocations",
        "warden.invocation.duration",
        "warden.fuel.used",
        "warden.memory.peak",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    // Cumulative sums: the last export has every app.
    let invocations = metrics
        .iter()
        .rev()
        .find(|m| m.name == "warden.invocations")
        .unwrap();
    let rendered = format!("{invocations:?}");
    assert!(
        rendered.contains("hello-http") && rendered.contains("noop"),
        "{rendered}"
    );

    let logs: Vec<_> = g
        .logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    let guest = logs
        .iter()
        .find(|l| attr(&l.attributes, "warden.app").as_deref() == Some("noop"))
        .expect("the guest's log record arrived");
    assert_eq!(
        guest.trace_id, root.trace_id,
        "logs carry the invocation's trace"
    );
    assert!(!text(&guest.body).is_empty());
    // The host's own operational messages travel the same pipeline: the
    // first start records its governance settings.
    assert!(
        logs.iter()
            .any(|l| text(&l.body).contains("governance settings changed since the last start")),
        "the host's own log lines arrive: {:?}",
        logs.iter().map(|l| text(&l.body)).collect::<Vec<_>>()
    );
}

#[test]
fn a_collector_that_is_down_stalls_nothing_and_failures_are_counted() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let data = tempfile::tempdir().unwrap();
    let token = support::process::token(data.path(), "ops", "auditor");
    let mut args: Vec<String> = apps(data.path());
    args.truncate(2);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Configured through the standard variable this time.
    let host = Host::start_with_env(data.path(), &args, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &url)]);
    let started = Instant::now();
    for _ in 0..50 {
        assert_eq!(request(host.app_addr, "GET", "/hello/down", "").status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "50 requests took {:?} with the collector down",
        started.elapsed()
    );
    let admin = host.admin_addr();
    let auth = format!("Bearer {token}");
    wait_for("failed exports to be counted", || {
        let reply = support::block_on(support::serving::send_with(
            admin,
            "GET",
            "/v1/telemetry",
            "",
            &[("authorization", auth.as_str())],
        ));
        let stats: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        stats["metrics"]["samples_dropped"] == 0
            && stats["spans"]["export_failed"].as_u64().unwrap_or(0) > 0
            && stats["spans"]["stored"].as_u64().unwrap_or(0) >= 50
    });
    host.stop();
}
