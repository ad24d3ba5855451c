//! `warden run`: load one app and invoke it once, under governance.

use super::exit::{Outcome, fail, quiet};
use super::{ConfigArgs, EXIT_CONFIG, actor};
use clap::Args;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use warden_host_apis::log::level_name;
use warden_runtime::Runtime;
use warden_runtime::audit::AuditEvent;
use warden_runtime::invoke::{InvocationReport, InvocationRequest, human_bytes};
use warden_runtime::telemetry;

/// Run an app once from its manifest, in a deny-by-default sandbox.
///
/// A `warden:host/app` component gets INPUT and prints its output; a
/// `wasi:cli/command` gets ARGS and its stdout/stderr are shown; a
/// `wasi:http/proxy` component gets one request (GET, or POST with INPUT as
/// the body) on its `[http] route` and its response body is printed.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  warden run examples/report-formatter/app.toml --input '{\"title\":\"Q3\",\"rows\":[{\"name\":\"travel\",\"amount\":120.5}]}'
  warden run examples/oncall-picker/app.toml -- --week 48 alice bob carol
  warden run examples/hello-http/app.toml --trace
  warden run app.toml --config warden.toml --input-file request.json --json

Exit status: 0 ok, 1 the app failed, 2 usage error, 3 manifest or config error,
10 fuel exhausted, 11 timeout, 12 memory limit, 13 output limit,
14 stack overflow, 15 trap, 16 denied, 17 host error, 18 hostcall limit, 19 quota, 20 killed.")]
pub struct RunArgs {
    /// The app's manifest.
    #[arg(value_name = "APP.toml")]
    manifest: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
    /// Input for the handler (or the HTTP request body).
    #[arg(long, conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the input from a file.
    #[arg(long, value_name = "PATH")]
    input_file: Option<PathBuf>,
    /// Print the outcome, output and usage report as JSON.
    #[arg(long)]
    json: bool,
    /// Print the invocation's span tree to stderr.
    #[arg(long)]
    trace: bool,
    /// Arguments for a `wasi:cli/command` app.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

pub fn run(args: RunArgs) -> Outcome {
    let platform = args.config.load()?;
    let input = match (&args.input, &args.input_file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(path)) => match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Err(fail(
                    super::EXIT_USAGE,
                    format!(
                        "--input-file {}: {e}\n  fix: pass a readable file",
                        path.display()
                    ),
                ));
            }
        },
        (None, None) => Vec::new(),
    };
    let (provider, exporter) = if args.trace {
        let (p, e) = telemetry::in_memory();
        (p, Some(e))
    } else {
        (telemetry::disabled(), None)
    };
    let tokio = super::tokio_runtime()?;
    let runtime = match Runtime::for_run(platform, provider) {
        Ok(r) => r,
        Err(e) => {
            return Err(fail(EXIT_CONFIG, format!("{e:#}")));
        }
    };
    super::compile_in_child(&runtime);
    let app = match runtime.load_app(&args.manifest) {
        Ok(app) => app,
        Err(e) => {
            return Err(fail(EXIT_CONFIG, e));
        }
    };
    let request = InvocationRequest::cli(input).with_args(args.args.clone());
    let report = tokio.block_on(async {
        let report = runtime.invoke(&app, request).await;
        // The counters' write spawned off the invocation ends before the
        // async runtime does (else it is cancelled, and its counts lost).
        runtime.settle().await;
        report
    });
    audit_denials(&runtime, &report);

    if args.json {
        print_json(&report, app.artifact);
    } else {
        print_human(&report);
    }
    if let Some(exporter) = exporter {
        let spans = exporter.get_finished_spans().unwrap_or_default();
        eprint!("{}", telemetry::render_tree(&spans));
    }
    match &report.result {
        Ok(_) => Ok(()),
        // The report said what happened; the code says which limit.
        Err(e) => Err(quiet(e.exit_code())),
    }
}

/// Policy denials are governance events: each invocation that was refused
/// something leaves one audit entry listing what.
fn audit_denials(runtime: &Runtime, report: &InvocationReport) {
    if report.denials.is_empty() {
        return;
    }
    let denials: Vec<_> = report
        .denials
        .iter()
        .map(|d| json!({ "denial": d.kind.as_str(), "target": d.target }))
        .collect();
    let event = AuditEvent {
        kind: warden_runtime::audit::AuditKind::PolicyDenied,
        app: Some(report.app.clone()),
        actor: actor(),
        details: json!({
            "version": report.version,
            "trigger": report.trigger.as_str(),
            "outcome": report.outcome(),
            "denials": denials,
        }),
    };
    if let Err(e) = runtime.audit().append_blocking(event) {
        eprintln!("warden: could not write the audit log: {e}");
    }
}

fn print_human(report: &InvocationReport) {
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(&report.stdout);
    let _ = std::io::stderr().write_all(&report.stderr);
    for record in &report.logs {
        eprintln!(
            "[{}] {}: {}",
            report.app,
            level_name(record.level),
            record.message
        );
    }
    if report.usage.logs_dropped > 0 {
        eprintln!(
            "[{}] {} log records dropped (per-invocation cap)",
            report.app, report.usage.logs_dropped
        );
    }
    // Each refusal says its own kind and what to do, whether or not the app
    // got over it.
    for denial in &report.denials {
        eprintln!(
            "warden: denied {} [{}]: {}",
            denial.target,
            denial.kind.as_str(),
            denial.kind.explain()
        );
    }
    match &report.result {
        Ok(output) => {
            if let Some(status) = report.http_status {
                eprintln!("HTTP {status}");
            }
            let _ = stdout.write_all(output);
            if !output.is_empty() && !output.ends_with(b"\n") {
                let _ = stdout.write_all(b"\n");
            }
        }
        Err(e) => {
            eprintln!(
                "warden: app `{}` {e} [fuel {}/{}, peak memory {}, {} µs]",
                report.app,
                report.usage.fuel_used,
                report.usage.fuel_limit,
                human_bytes(report.usage.peak_memory_bytes),
                report.usage.wall_time_us
            );
        }
    }
    let _ = stdout.flush();
}

fn print_json(report: &InvocationReport, artifact: warden_runtime::artifact_cache::ArtifactSource) {
    let (output, error) = match &report.result {
        Ok(output) => (Some(String::from_utf8_lossy(output).into_owned()), None),
        Err(e) => (
            None,
            Some(json!({ "kind": e.as_str(), "message": e.to_string(), "detail": e })),
        ),
    };
    let logs: Vec<_> = report
        .logs
        .iter()
        .map(|r| json!({ "level": level_name(r.level), "message": r.message }))
        .collect();
    let denials: Vec<_> = report
        .denials
        .iter()
        .map(|d| json!({ "denial": d.kind.as_str(), "target": d.target }))
        .collect();
    let value = json!({
        "app": report.app,
        "version": report.version,
        "trigger": report.trigger,
        "outcome": report.outcome(),
        "error": error,
        "output": output,
        "http_status": report.http_status,
        "stdout": String::from_utf8_lossy(&report.stdout),
        "stderr": String::from_utf8_lossy(&report.stderr),
        "logs": logs,
        "denials": denials,
        "usage": report.usage,
        "artifact": artifact,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}
