//! Tracing built in: every invocation is an OpenTelemetry span with a child
//! span per phase, and guest logs and denials as span events.
//!
//! The runtime takes a tracer provider from its embedder, so the CLI can
//! record spans in memory for `--trace`, tests can assert them through the
//! SDK's in-memory exporter, and `warden serve` can export them over OTLP —
//! all through the same code path. Span attributes never hold payloads or
//! secrets: names, sizes, counts, durations and outcome kinds only.

pub mod otlp;
pub mod pipeline;
pub mod propagation;
pub mod signals;
pub mod store;
pub(crate) mod tally;
mod tree;

pub use tree::{render_stored, render_tree};

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use std::path::Path;
use std::sync::Arc;

/// Attribute keys, stable for dashboards and tests.
pub mod keys {
    pub const APP: &str = "warden.app";
    pub const VERSION: &str = "warden.app.version";
    pub const TRIGGER: &str = "warden.trigger";
    pub(crate) const WORLD: &str = "warden.world";
    pub const OUTCOME: &str = "warden.outcome";
    /// The `x-request-id` the caller got (HTTP triggers).
    pub const REQUEST_ID: &str = "warden.request_id";
    /// Why the invocation failed: bounded, DLP-redacted.
    pub const ERROR: &str = "warden.error";
    pub const FUEL_USED: &str = "warden.fuel.used";
    pub(crate) const FUEL_LIMIT: &str = "warden.fuel.limit";
    pub const PEAK_MEMORY: &str = "warden.memory.peak_bytes";
    pub const DURATION_US: &str = "warden.duration_us";
    pub(crate) const OUTPUT_BYTES: &str = "warden.output.bytes";
    pub(crate) const DENIAL: &str = "warden.denial";
    pub(crate) const TARGET: &str = "warden.target";
    pub(crate) const EGRESS_KIND: &str = "warden.egress.kind";
    pub(crate) const EGRESS_TARGET: &str = "warden.egress.target";
    pub(crate) const EGRESS_PATTERN: &str = "warden.egress.pattern";
    pub(crate) const EGRESS_BYTES_OUT: &str = "warden.egress.bytes_out";
    pub(crate) const EGRESS_BYTES_IN: &str = "warden.egress.bytes_in";
    pub(crate) const HTTP_METHOD: &str = "http.request.method";
    pub(crate) const HTTP_STATUS: &str = "http.response.status_code";
    pub(crate) const DLP_HITS: &str = "warden.dlp.hits";
    pub const SCHEDULE: &str = "warden.schedule";
    pub(crate) const PURGED: &str = "warden.storage.purged";
    pub(crate) const STORAGE_READS: &str = "warden.storage.reads";
    pub(crate) const STORAGE_WRITES: &str = "warden.storage.writes";
    pub(crate) const STORAGE_OP: &str = "warden.storage.op";
    pub(crate) const STORAGE_BUCKET: &str = "warden.storage.bucket";
    pub(crate) const STORAGE_BYTES: &str = "warden.storage.bytes";
    pub(crate) const LOG_LEVEL: &str = "log.level";
    pub(crate) const LOG_MESSAGE: &str = "log.message";
}

/// A provider that records nothing: spans are not sampled, so tracing
/// calls stay cheap no-ops (attributes are not even built).
pub fn disabled() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
        .build()
}

/// A provider that keeps finished spans in memory, for `--trace` and tests.
pub fn in_memory() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

pub use crate::config::telemetry::TelemetrySettings;

/// Tracing for a long-running host: every span recorded (or sampled as the
/// caller's `traceparent` says), kept in the embedded store and exported
/// if configured, through the non-blocking [`pipeline`].
pub struct HostTelemetry {
    pub provider: SdkTracerProvider,
    pub stats: Arc<pipeline::PipelineStats>,
    /// Set when metrics are exported (also installed as the global one).
    pub meters: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
    /// Whether OTLP export is on.
    pub exporting: bool,
    /// The span store the pipeline writes (none when telemetry is off).
    pub(crate) store: Option<Arc<store::SpanStore>>,
}

impl HostTelemetry {
    pub fn start(settings: &TelemetrySettings, data_dir: &Path) -> anyhow::Result<HostTelemetry> {
        if !settings.enabled {
            return Ok(HostTelemetry {
                provider: disabled(),
                stats: Arc::default(),
                meters: None,
                exporting: false,
                store: None,
            });
        }
        std::fs::create_dir_all(data_dir)?;
        let store = store::SpanStore::open(data_dir, settings.keep.get(), settings.max_spans)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the span store {}: {e}",
                    data_dir.join("traces.db").display()
                )
            })?
            .sampled(settings.keep_ok_per_second)
            .per_app(settings.max_spans_per_app.min(settings.max_spans));
        let exporting = otlp::enabled(settings.otlp.as_ref());
        let mut sink: Option<Box<dyn pipeline::SpanSink>> = None;
        let mut meters = None;
        if exporting {
            let config = settings.otlp.as_ref();
            sink = Some(Box::new(
                otlp::OtlpSpans::build(config).map_err(|e| anyhow::anyhow!(e))?,
            ));
            let provider = otlp::metrics_provider(config).map_err(|e| anyhow::anyhow!(e))?;
            signals::install_metrics(provider.clone());
            meters = Some(provider);
            signals::install_logs(otlp::logs_provider(config).map_err(|e| anyhow::anyhow!(e))?);
        }
        let store = Arc::new(store);
        let pipeline = pipeline::Pipeline::start(Some(store.clone()), sink, settings.queue);
        let stats = pipeline.stats();
        let provider = SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOn,
            )))
            .with_span_processor(pipeline)
            .build();
        Ok(HostTelemetry {
            provider,
            stats,
            meters,
            exporting,
            store: Some(store),
        })
    }

    /// Pushes what is buffered (spans, metrics, logs) before the host exits.
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
        if let Some(meters) = &self.meters {
            let _ = meters.force_flush();
        }
        signals::flush_logs();
    }
}
