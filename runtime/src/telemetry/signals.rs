//! Metrics and logs per app, as OpenTelemetry instruments and log records.
//!
//! Metrics (all with `warden.app`): `warden.invocations` (with
//! `warden.outcome`, `warden.trigger`), `warden.invocation.duration` (s),
//! `warden.fuel.used`, `warden.memory.peak` (bytes), `warden.egress.calls`
//! (with `warden.egress.kind`, `warden.outcome`), `warden.egress.bytes`
//! (with `direction`), `warden.storage.operations` and `warden.storage.bytes`
//! (with `operation`: get, set, delete, list),
//! `warden.output.bytes`, and the gauge `warden.quota.utilization` (with
//! `warden.quota`, 0..1) registered by the server.
//!
//! Logs: each guest `log` record and each stdout/stderr line becomes an
//! OTel log record with the app's attributes and the invocation's trace,
//! at most `logs.max_records` per invocation.
//!
//! Both go through the installed meter and logger providers (see
//! [`install_metrics`], [`install_logs`]); when export is off they cost an
//! atomic load per invocation.

use super::keys;
use crate::invoke::InvocationReport;
use opentelemetry::KeyValue;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use std::sync::OnceLock;
use warden_host_apis::log::{Level, level_name};

/// What one invocation contributes to the metrics, queued on the
/// invocation's thread (a push under a short lock) and recorded into the
/// instruments by the `warden-metrics` thread.
struct Sample {
    app: KeyValue,
    outcome: &'static str,
    trigger: &'static str,
    duration_s: f64,
    fuel: u64,
    memory: u64,
    output: u64,
    caps: CapabilitySample,
}

/// What capabilities add to an invocation's metric sample (see
/// `Capability::account`).
#[derive(Debug, Default)]
pub struct CapabilitySample {
    /// (operation, value bytes) per storage call.
    pub storage: Vec<(&'static str, u64)>,
    /// (kind, outcome, bytes out, bytes in) per outbound call.
    pub calls: Vec<(&'static str, &'static str, u64, u64)>,
    /// What left, for the app's learned baseline (`crate::anomaly`).
    pub egress: crate::anomaly::baseline::Totals,
}

/// The instruments, built once from the global meter provider.
pub(crate) struct Instruments {
    invocations: Counter<u64>,
    duration: Histogram<f64>,
    fuel: Histogram<u64>,
    memory: Histogram<u64>,
    output: Counter<u64>,
    egress_calls: Counter<u64>,
    egress_bytes: Counter<u64>,
    storage_ops: Counter<u64>,
    storage_bytes: Counter<u64>,
    pending: std::sync::Mutex<Vec<Sample>>,
    /// Held for a whole drain, so a shutdown's drain waits for one in
    /// progress and the final export has every sample.
    draining: std::sync::Mutex<()>,
    dropped: std::sync::atomic::AtomicU64,
    drainer: OnceLock<()>,
}

/// Samples waiting beyond this are dropped (and counted).
const MAX_PENDING: usize = 65_536;

impl Instruments {
    pub fn new(meter: &Meter) -> Instruments {
        Instruments {
            invocations: meter
                .u64_counter("warden.invocations")
                .with_description("Invocations by app, outcome and trigger")
                .build(),
            duration: meter
                .f64_histogram("warden.invocation.duration")
                .with_unit("s")
                .with_boundaries(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ])
                .build(),
            fuel: meter.u64_histogram("warden.fuel.used").build(),
            memory: meter
                .u64_histogram("warden.memory.peak")
                .with_unit("By")
                .build(),
            output: meter
                .u64_counter("warden.output.bytes")
                .with_unit("By")
                .build(),
            egress_calls: meter.u64_counter("warden.egress.calls").build(),
            egress_bytes: meter
                .u64_counter("warden.egress.bytes")
                .with_unit("By")
                .build(),
            storage_ops: meter.u64_counter("warden.storage.operations").build(),
            storage_bytes: meter
                .u64_counter("warden.storage.bytes")
                .with_unit("By")
                .build(),
            pending: std::sync::Mutex::default(),
            draining: std::sync::Mutex::default(),
            dropped: std::sync::atomic::AtomicU64::new(0),
            drainer: OnceLock::new(),
        }
    }

    /// Queues a finished invocation and what its capabilities did for
    /// recording.
    pub fn record(
        self: &std::sync::Arc<Self>,
        app: &KeyValue,
        report: &InvocationReport,
        caps: CapabilitySample,
    ) {
        if !METRICS.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let usage = &report.usage;
        let sample = Sample {
            app: app.clone(),
            outcome: report.outcome(),
            trigger: report.trigger.as_str(),
            duration_s: usage.wall_time_us as f64 / 1e6,
            fuel: usage.fuel_used,
            memory: usage.peak_memory_bytes,
            output: usage.output_bytes,
            caps,
        };
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.len() >= MAX_PENDING {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            pending.push(sample);
        }
        self.drainer.get_or_init(|| {
            let weak = std::sync::Arc::downgrade(self);
            let _ = std::thread::Builder::new()
                .name("warden-metrics".into())
                .spawn(move || {
                    while let Some(instruments) = weak.upgrade() {
                        instruments.drain();
                        drop(instruments);
                        std::thread::sleep(std::time::Duration::from_millis(250));
                    }
                });
        });
    }

    /// Metric samples dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records every queued sample into the instruments (the drain thread
    /// does this four times a second; a shutdown does it once more).
    pub fn drain(&self) {
        let _draining = self.draining.lock().unwrap_or_else(|p| p.into_inner());
        let samples = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for s in samples {
            let app = s.app;
            self.invocations.add(
                1,
                &[
                    app.clone(),
                    KeyValue::new(keys::OUTCOME, s.outcome),
                    KeyValue::new(keys::TRIGGER, s.trigger),
                ],
            );
            let just_app = std::slice::from_ref(&app);
            self.duration.record(s.duration_s, just_app);
            self.fuel.record(s.fuel, just_app);
            self.memory.record(s.memory, just_app);
            self.output.add(s.output, just_app);
            for (op, bytes) in s.caps.storage {
                let attributes = [app.clone(), KeyValue::new("operation", op)];
                self.storage_ops.add(1, &attributes);
                if bytes > 0 {
                    self.storage_bytes.add(bytes, &attributes);
                }
            }
            for (kind, outcome, bytes_out, bytes_in) in s.caps.calls {
                self.egress_calls.add(
                    1,
                    &[
                        app.clone(),
                        KeyValue::new(keys::EGRESS_KIND, kind),
                        KeyValue::new(keys::OUTCOME, outcome),
                    ],
                );
                for (direction, bytes) in [("out", bytes_out), ("in", bytes_in)] {
                    if bytes > 0 {
                        self.egress_bytes
                            .add(bytes, &[app.clone(), KeyValue::new("direction", direction)]);
                    }
                }
            }
        }
    }
}

static LOGGER: OnceLock<opentelemetry_sdk::logs::SdkLoggerProvider> = OnceLock::new();

/// Set once a real meter provider is installed; until then an invocation
/// queues no metric sample (the instruments would discard it).
static METRICS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes `provider` the global meter provider and turns sample recording
/// on. Install it before building the `Runtime`, whose instruments come
/// from the global provider.
pub fn install_metrics(provider: opentelemetry_sdk::metrics::SdkMeterProvider) {
    opentelemetry::global::set_meter_provider(provider);
    METRICS.store(true, std::sync::atomic::Ordering::Release);
}

/// Sends guest logs to `provider` from now on (once per process).
pub(crate) fn install_logs(provider: opentelemetry_sdk::logs::SdkLoggerProvider) {
    let _ = LOGGER.set(provider);
}

/// The installed logs provider, if logs are exported.
pub(crate) fn logger_provider() -> Option<&'static opentelemetry_sdk::logs::SdkLoggerProvider> {
    LOGGER.get()
}

/// Flushes buffered log records (at shutdown).
pub(crate) fn flush_logs() {
    if let Some(provider) = LOGGER.get() {
        let _ = provider.force_flush();
    }
}

fn severity(level: Level) -> Severity {
    match level {
        Level::Trace => Severity::Trace,
        Level::Debug => Severity::Debug,
        Level::Info => Severity::Info,
        Level::Warn => Severity::Warn,
        Level::Error => Severity::Error,
    }
}

/// Emits the invocation's logs and output lines as OTel log records.
pub(crate) fn emit_logs(report: &InvocationReport, trace: &SpanContext, max_records: usize) {
    let Some(provider) = LOGGER.get() else {
        return;
    };
    let logger = provider.logger("warden.guest");
    let lines = |bytes: &[u8], level: Level, stream: &'static str| {
        String::from_utf8_lossy(bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| (level, l.to_string(), stream))
            .collect::<Vec<_>>()
    };
    let records = report
        .logs
        .iter()
        .map(|r| (r.level, r.message.clone(), "log"))
        .chain(lines(&report.stdout, Level::Info, "stdout"))
        .chain(lines(&report.stderr, Level::Warn, "stderr"))
        .take(max_records);
    for (level, message, stream) in records {
        let mut record = logger.create_log_record();
        record.set_severity_number(severity(level));
        record.set_severity_text(level_name(level));
        record.set_body(AnyValue::from(message));
        record.add_attributes([
            (keys::APP, AnyValue::from(report.app.clone())),
            (keys::VERSION, AnyValue::from(report.version.clone())),
            ("warden.log.stream", AnyValue::from(stream)),
        ]);
        if trace.is_valid() {
            record.set_trace_context(trace.trace_id(), trace.span_id(), Some(trace.trace_flags()));
        }
        logger.emit(record);
    }
}

/// The span context of `cx`'s span, for log correlation.
pub fn span_context(cx: &opentelemetry::Context) -> SpanContext {
    cx.span().span_context().clone()
}
