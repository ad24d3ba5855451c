//! The host's own log of governance events, through `tracing`: deploys,
//! approvals, rejections, deletes, kills and unkills, and route changes,
//! one line each as they happen, with their facts as fields — so an
//! operator tailing `warden serve` sees what changed, by whom, without
//! reading the audit log. (The audit log stays the record; this is the
//! running commentary.)
//!
//! The library's operational messages (a failed purge, a webhook that gave
//! up, a lease another host holds) are `tracing` events too, never direct
//! writes to stderr: an embedder decides where they go.
//!
//! `warden serve` writes them to stderr with a timestamp and level, and,
//! once OTLP export is on, to the OpenTelemetry logs pipeline too (scope
//! `warden`, beside the guests' logs); the other commands write them as
//! `warden: MESSAGE` lines. `WARDEN_LOG` filters both with
//! `tracing-subscriber`'s `EnvFilter` syntax (default `info` for `warden
//! serve`, `warn` for the other commands).

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

fn filter(default: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
}

/// Installs the stderr writer for `tracing` events, once per process.
pub fn init() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(filter("info"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_target(false),
        )
        .with(ToOpenTelemetry::default())
        .try_init();
}

type Bridge = opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge<
    opentelemetry_sdk::logs::SdkLoggerProvider,
    opentelemetry_sdk::logs::SdkLogger,
>;

/// Forwards events to the OpenTelemetry logs pipeline once one is
/// installed (the host installs it after the subscriber, when telemetry
/// starts). The export path's own events are not forwarded: they would loop.
#[derive(Default)]
struct ToOpenTelemetry {
    bridge: std::sync::OnceLock<Bridge>,
}

impl<S> tracing_subscriber::Layer<S> for ToOpenTelemetry
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        // The export's own machinery (the SDK, its HTTP client) logs too;
        // forwarding that would feed each export into the next.
        const EXPORT_PATH: [&str; 7] = [
            "opentelemetry",
            "hyper",
            "h2",
            "reqwest",
            "rustls",
            "tower",
            "tonic",
        ];
        let target = event.metadata().target();
        if EXPORT_PATH.iter().any(|t| target.starts_with(t)) {
            return;
        }
        let Some(provider) = crate::telemetry::signals::logger_provider() else {
            return;
        };
        self.bridge
            .get_or_init(|| Bridge::new(provider))
            .on_event(event, ctx);
    }
}

/// Installs the stderr writer for a short-lived command: `warden: MESSAGE`
/// lines (with the event's fields after the message), once per process.
/// Warnings and errors only by default: a command says what it did itself.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("warn"))
        .with_writer(std::io::stderr)
        .event_format(CommandLine)
        .try_init();
}

/// `warden: ` and the event's message and fields, nothing else.
struct CommandLine;

impl<S, N> FormatEvent<S, N> for CommandLine
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "warden: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
