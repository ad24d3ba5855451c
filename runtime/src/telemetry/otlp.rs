//! Export over OTLP (HTTP/protobuf) to a company's collector: spans through
//! the telemetry pipeline, metrics through a periodic reader, logs through
//! a batch processor — each on its own thread, none on an invocation's path.
//!
//! Configured by `[telemetry.otlp]` in `warden.toml` or by the standard
//! variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`); the file wins.
//! A collector that is down costs a timeout on the exporter threads; spans
//! that cannot be queued or sent are counted (see `PipelineStats`).

use super::pipeline::SpanSink;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use std::time::Duration;

pub use crate::config::telemetry::OtlpSettings;

/// Whether export is on: configured in the file or by the environment.
pub fn enabled(settings: Option<&OtlpSettings>) -> bool {
    settings.is_some()
        || [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        ]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
}

pub fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("warden")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

fn configure<B: WithExportConfig + WithHttpConfig>(
    builder: B,
    settings: Option<&OtlpSettings>,
    path: &str,
) -> B {
    let Some(settings) = settings else {
        return builder;
    };
    let mut builder = builder.with_timeout(settings.timeout.get());
    if let Some(base) = &settings.endpoint {
        builder = builder.with_endpoint(format!("{}{path}", base.trim_end_matches('/')));
    }
    if !settings.headers.is_empty() {
        builder = builder.with_headers(settings.headers.clone().into_iter().collect());
    }
    builder
}

/// The span exporter as a pipeline sink.
pub(crate) struct OtlpSpans {
    exporter: opentelemetry_otlp::SpanExporter,
}

impl SpanSink for OtlpSpans {
    fn send(&mut self, batch: &[SpanData]) -> Result<(), String> {
        futures_executor::block_on(self.exporter.export(batch.to_vec())).map_err(|e| e.to_string())
    }
}

impl OtlpSpans {
    pub fn build(settings: Option<&OtlpSettings>) -> Result<OtlpSpans, String> {
        let mut exporter = configure(
            opentelemetry_otlp::SpanExporter::builder().with_http(),
            settings,
            "/v1/traces",
        )
        .build()
        .map_err(|e| format!("telemetry.otlp: {e}"))?;
        exporter.set_resource(&resource());
        Ok(OtlpSpans { exporter })
    }
}

pub(crate) fn metrics_provider(
    settings: Option<&OtlpSettings>,
) -> Result<opentelemetry_sdk::metrics::SdkMeterProvider, String> {
    let exporter = configure(
        opentelemetry_otlp::MetricExporter::builder().with_http(),
        settings,
        "/v1/metrics",
    )
    .build()
    .map_err(|e| format!("telemetry.otlp: {e}"))?;
    let interval = settings
        .map(|s| s.metrics_interval.get())
        .unwrap_or(Duration::from_secs(10));
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
        .with_interval(interval)
        .build();
    Ok(opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_resource(resource())
        .with_reader(reader)
        .build())
}

/// The OTLP/HTTP log exporter for `settings` (also the audit sinks').
pub(crate) fn log_exporter(
    settings: Option<&OtlpSettings>,
) -> Result<opentelemetry_otlp::LogExporter, String> {
    let mut exporter = configure(
        opentelemetry_otlp::LogExporter::builder().with_http(),
        settings,
        "/v1/logs",
    )
    .build()
    .map_err(|e| format!("telemetry.otlp: {e}"))?;
    opentelemetry_sdk::logs::LogExporter::set_resource(&mut exporter, &resource());
    Ok(exporter)
}

pub(crate) fn logs_provider(
    settings: Option<&OtlpSettings>,
) -> Result<opentelemetry_sdk::logs::SdkLoggerProvider, String> {
    let exporter = log_exporter(settings)?;
    Ok(opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(exporter)
        .build())
}
