//! `warden traces <app>`: the recent invocations of an app as span trees,
//! from the embedded span store a `warden serve` host keeps in its data
//! directory. No collector needed.

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG};
use clap::Args;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use warden_runtime::telemetry::render_stored;
use warden_runtime::telemetry::store::{SpanStore, StoredSpan, TraceQuery};

/// Show an app's recent invocations as span trees with durations.
#[derive(Args)]
#[command(after_help = "Examples:
  warden traces report-formatter
  warden traces report-formatter --errors --since 1h
  warden traces hello-http --follow
  warden traces hello-http --json --limit 100

Reads the span store of the data directory (WARDEN_DATA_DIR or data_dir in
warden.toml) that `warden serve` writes; spans are kept for `telemetry.keep`.")]
pub struct TracesArgs {
    app: String,
    /// Only invocations that did not end `ok`.
    #[arg(long)]
    errors: bool,
    /// Only invocations newer than this, e.g. 15m, 2h, 1d.
    #[arg(long, value_name = "DURATION")]
    since: Option<humantime::Duration>,
    /// How many invocations at most.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Only the invocation answered with this `x-request-id` (from an
    /// error page or a client's log).
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,
    /// Keep printing new invocations as they arrive (Ctrl-C stops).
    #[arg(long)]
    follow: bool,
    /// One JSON object per invocation: its spans, with attributes.
    #[arg(long)]
    json: bool,
    /// Read through a running host's admin API (token in WARDEN_TOKEN)
    /// instead of the data directory's span store.
    #[arg(long, env = "WARDEN_SERVER")]
    server: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

fn print(root: &StoredSpan, spans: &[StoredSpan], json: bool) {
    use warden_runtime::telemetry::keys;
    let error = root.attributes.get(keys::ERROR).and_then(|v| v.as_str());
    let request_id = root
        .attributes
        .get(keys::REQUEST_ID)
        .and_then(|v| v.as_str());
    if json {
        let line = serde_json::json!({
            "trace_id": root.trace_id,
            "app": root.app,
            "start_us": root.start_us,
            "duration_us": root.duration_us,
            "outcome": root.outcome,
            "request_id": request_id,
            "error": error,
            "spans": spans,
        });
        println!("{line}");
    } else {
        let at = UNIX_EPOCH + Duration::from_micros(root.start_us.max(0) as u64);
        println!(
            "{} trace {} {}{}",
            humantime::format_rfc3339_millis(at),
            root.trace_id,
            root.outcome.as_deref().unwrap_or("-"),
            request_id
                .map(|id| format!("  request {id}"))
                .unwrap_or_default()
        );
        if let Some(error) = error {
            println!("  error: {error}");
        }
        print!("{}", render_stored(spans));
        println!();
    }
}

/// The app's traces from a running host's admin API, printed as locally.
fn run_remote(args: &TracesArgs, server: &str) -> Outcome {
    if args.follow {
        return Err(fail(
            EXIT_CONFIG,
            "--follow reads the span store on the host; run it there (--config), or poll without --follow",
        ));
    }
    let mut path = format!(
        "/v1/apps/{}/traces?limit={}&errors={}",
        args.app,
        args.limit.clamp(1, 500),
        args.errors
    );
    if let Some(since) = args.since {
        path += &format!("&since={}s", Duration::from(since).as_secs());
    }
    if let Some(id) = &args.request_id {
        path += &format!("&request_id={id}");
    }
    let traces = super::lists::fetch(server, &path, "traces")?;
    // Oldest first, as the local listing prints them.
    for trace in traces.iter().rev() {
        let spans: Vec<StoredSpan> =
            serde_json::from_value(trace["spans"].clone()).unwrap_or_default();
        let Some(root) = spans
            .iter()
            .find(|s| s.name == "invocation")
            .or_else(|| spans.first())
        else {
            continue;
        };
        print(root, &spans, args.json);
    }
    if traces.is_empty() && !args.json {
        eprintln!(
            "warden: no {}invocations of `{}` on {server}",
            if args.errors { "failed " } else { "" },
            args.app
        );
    }
    Ok(())
}

pub fn run(args: TracesArgs) -> Outcome {
    if let Some(server) = super::remote(&args.server, &args.config, false) {
        return run_remote(&args, &server);
    }
    let platform = args.config.load()?;
    let data_dir = platform.data_dir();
    if !data_dir.join("traces.db").exists() {
        return Err(fail(
            EXIT_CONFIG,
            format!(
                "no span store in {} yet\n  fix: run `warden serve` with this data directory (WARDEN_DATA_DIR), or point --config at the host's warden.toml",
                data_dir.display()
            ),
        ));
    }
    let keep = platform.telemetry.keep.get();
    let store = match SpanStore::open(&data_dir, keep, platform.telemetry.max_spans) {
        Ok(s) => s,
        Err(e) => {
            return Err(fail(
                EXIT_CONFIG,
                format!("cannot open {}: {e}", data_dir.join("traces.db").display()),
            ));
        }
    };
    let mut query = TraceQuery {
        app: args.app.clone(),
        errors_only: args.errors,
        since_us: args
            .since
            .map(|d| {
                i64::try_from(Duration::from(d).as_micros())
                    .ok()
                    .and_then(|b| now_us().checked_sub(b))
                    .unwrap_or(0)
                    .max(0)
            })
            .unwrap_or(0),
        limit: args.limit.max(1),
        request_id: args.request_id.clone(),
    };
    let mut shown = 0usize;
    loop {
        let roots = match store.roots(&query) {
            Ok(r) => r,
            Err(e) => {
                return Err(fail(EXIT_CONFIG, format!("cannot read spans: {e}")));
            }
        };
        for root in roots.iter().rev() {
            let spans = store
                .trace_of(&root.trace_id, &args.app)
                .unwrap_or_default();
            print(root, &spans, args.json);
            shown += 1;
        }
        if let Some(newest) = roots.first() {
            query.since_us = newest.start_us;
        }
        if !args.follow {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if shown == 0 && !args.json {
        eprintln!(
            "warden: no {}invocations of `{}` in the span store",
            if args.errors { "failed " } else { "" },
            args.app
        );
    }
    Ok(())
}
