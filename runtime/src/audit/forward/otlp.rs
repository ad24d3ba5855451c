//! The OTLP sink: each entry as an OpenTelemetry log record, exported
//! over OTLP/HTTP to `/v1/logs` with the exporter the telemetry pipeline
//! uses (`[telemetry.otlp]`, or the `OTEL_EXPORTER_OTLP_*` variables, with
//! the sink's `endpoint` and `headers` on top).
//!
//! Unlike the host's own logs, which go through a batch processor that
//! drops what it cannot send, audit records are exported batch by batch
//! and the collector's answer is awaited, so the position moves only past
//! what the collector took. A record's body is the entry's JSON line;
//! its time is the entry's; its attributes are `warden.audit.seq`,
//! `warden.audit.kind`, `warden.audit.actor`, `warden.audit.hash`,
//! `warden.audit.prev` and `warden.app`.

use super::Sink;
use crate::audit::AuditEntry;
use crate::config::audit_sinks::SinkSettings;
use crate::config::telemetry::OtlpSettings;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _};
use std::sync::mpsc;
use tokio::sync::oneshot;

type Job = (Vec<AuditEntry>, oneshot::Sender<Result<(), String>>);

/// The sink: batches go to a thread of its own that owns the exporter
/// (whose HTTP client blocks, so it stays off the async runtime).
pub(crate) struct Otlp {
    jobs: mpsc::Sender<Job>,
}

impl Otlp {
    /// Starts the exporter thread for `sink`, on top of `telemetry`.
    ///
    /// # Errors
    /// No collector is configured anywhere, or the thread cannot start.
    pub(crate) fn start(
        sink: &SinkSettings,
        telemetry: Option<&OtlpSettings>,
    ) -> Result<Otlp, String> {
        let settings = collector(sink, telemetry)?;
        let (jobs, waiting) = mpsc::channel::<Job>();
        let (ready, built) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("warden-audit-{}", sink.name))
            .spawn(
                move || match crate::telemetry::otlp::log_exporter(Some(&settings)) {
                    Ok(exporter) => {
                        let _ = ready.send(Ok(()));
                        export_loop(&exporter, &waiting);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                },
            )
            .map_err(|e| format!("cannot start the exporter thread: {e}"))?;
        built
            .recv()
            .map_err(|_| "the exporter thread stopped".to_string())??;
        Ok(Otlp { jobs })
    }
}

/// The exporter settings of `sink`: the telemetry pipeline's, with the
/// sink's endpoint, headers and timeout on top.
///
/// # Errors
/// No collector is named anywhere.
pub(crate) fn collector(
    sink: &SinkSettings,
    telemetry: Option<&OtlpSettings>,
) -> Result<OtlpSettings, String> {
    let mut settings = telemetry.cloned().unwrap_or_default();
    if let Some(endpoint) = &sink.endpoint {
        settings.endpoint = Some(endpoint.clone());
    }
    settings.headers.extend(sink.headers.clone());
    settings.timeout = sink.timeout;
    let from_environment = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()));
    if settings.endpoint.is_none() && !from_environment {
        return Err(
            "no collector: the sink has no `endpoint`, [telemetry.otlp] none, and OTEL_EXPORTER_OTLP_ENDPOINT is not set".into(),
        );
    }
    Ok(settings)
}

fn export_loop(exporter: &opentelemetry_otlp::LogExporter, waiting: &mpsc::Receiver<Job>) {
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder().build();
    let logger = provider.logger("warden.audit");
    let scope = opentelemetry::InstrumentationScope::builder("warden.audit").build();
    while let Ok((entries, reply)) = waiting.recv() {
        let records: Vec<_> = entries.iter().map(|e| record(&logger, e)).collect();
        let pairs: Vec<_> = records.iter().map(|r| (r, &scope)).collect();
        let result = futures_executor::block_on(exporter.export(LogBatch::new(&pairs)))
            .map_err(|e| e.to_string());
        let _ = reply.send(result);
    }
}

fn record(
    logger: &opentelemetry_sdk::logs::SdkLogger,
    entry: &AuditEntry,
) -> opentelemetry_sdk::logs::SdkLogRecord {
    let mut record = logger.create_log_record();
    if let Ok(time) = humantime::parse_rfc3339(&entry.time) {
        record.set_timestamp(time);
    }
    record.set_observed_timestamp(std::time::SystemTime::now());
    let (severity, text) = if super::is_alarm(&entry.kind) {
        (Severity::Warn, "WARN")
    } else {
        (Severity::Info, "INFO")
    };
    record.set_severity_number(severity);
    record.set_severity_text(text);
    record.set_body(AnyValue::String(
        serde_json::to_string(entry).unwrap_or_default().into(),
    ));
    record.add_attribute("warden.audit.seq", entry.seq.min(i64::MAX as u64) as i64);
    record.add_attribute("warden.audit.kind", entry.kind.clone());
    record.add_attribute("warden.audit.actor", entry.actor.clone());
    record.add_attribute("warden.audit.hash", entry.hash.clone());
    record.add_attribute("warden.audit.prev", entry.prev.clone());
    if let Some(app) = &entry.app {
        record.add_attribute(crate::telemetry::keys::APP, app.clone());
    }
    record
}

#[async_trait::async_trait]
impl Sink for Otlp {
    async fn deliver(&mut self, entries: &[AuditEntry]) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((entries.to_vec(), reply))
            .map_err(|_| "the exporter thread stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the exporter thread stopped".to_string())?
    }

    fn reset(&mut self) {}
}
