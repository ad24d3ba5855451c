//! One governed invocation: new store, limits set, instantiate, call,
//! classify, record. Nothing here parses configuration or touches disk;
//! a failure of any kind is returned as a value and never affects the
//! runtime or the next invocation.

mod call;
mod classify;
pub mod outcome;

use crate::app::LoadedApp;
use crate::capability::{Account, InvocationContext};
use crate::config::Size;
use crate::host_state::HostState;
use crate::runtime::Runtime;
use crate::telemetry::keys;
use crate::telemetry::signals::CapabilitySample;
use classify::{CallEnd, Evidence, classify};
use opentelemetry::trace::{Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use outcome::InvocationError;
use serde::Serialize;
use std::time::{Duration, Instant};
use warden_host_apis::denial::DenialRecord;
use warden_host_apis::invocation::TraceParent;
use warden_host_apis::log::{LogRecord, level_name};
use warden_host_apis::metering::ALL;
use wasmtime::Store;

/// What started an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Cli,
    Http,
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Http => "http",
            Trigger::Schedule => "schedule",
        }
    }
}

/// The input of one invocation. `args` are what a command sees after
/// argv[0]; `input` is the handler's input or the HTTP request body.
#[derive(Debug, Clone)]
pub struct InvocationRequest {
    pub trigger: Trigger,
    pub input: Vec<u8>,
    pub args: Vec<String>,
    /// For HTTP triggers: the request line and headers (`input` is the body).
    pub http: Option<HttpParts>,
    /// The caller's trace (W3C `traceparent`), continued by this invocation.
    pub parent: Option<opentelemetry::trace::SpanContext>,
    /// The `x-request-id` the caller is answered with, kept on the span so
    /// a failure can be found from it.
    pub request_id: Option<String>,
}

/// The parts of an incoming HTTP request a component sees besides its body.
#[derive(Debug, Clone)]
pub struct HttpParts {
    pub method: http::Method,
    pub path_and_query: String,
    pub headers: http::HeaderMap,
}

impl InvocationRequest {
    pub fn cli(input: impl Into<Vec<u8>>) -> Self {
        InvocationRequest {
            trigger: Trigger::Cli,
            input: input.into(),
            args: Vec::new(),
            http: None,
            parent: None,
            request_id: None,
        }
    }

    /// An HTTP-triggered invocation.
    pub fn http(parts: HttpParts, body: Vec<u8>) -> Self {
        InvocationRequest {
            trigger: Trigger::Http,
            input: body,
            args: Vec::new(),
            parent: crate::telemetry::propagation::extract(&parts.headers),
            http: Some(parts),
            request_id: None,
        }
    }

    /// Keeps `id` (the answer's `x-request-id`) on the invocation's span.
    pub(crate) fn with_request_id(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_string());
        self
    }

    pub fn with_args(mut self, args: Vec<String>) -> Self {
        self.args = args;
        self
    }
}

/// What an invocation consumed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    pub fuel_used: u64,
    pub fuel_limit: u64,
    pub wall_time_us: u64,
    pub peak_memory_bytes: u64,
    pub output_bytes: u64,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub log_records: u64,
    pub logs_dropped: u64,
    pub denials: u64,
    /// The guest looked for host directories (and was given none): what a
    /// failure to open a file looks like from the host.
    pub looked_for_files: bool,
    pub storage_reads: u64,
    pub storage_writes: u64,
}

/// The full account of one invocation.
#[derive(Debug)]
pub struct InvocationReport {
    pub app: String,
    pub version: String,
    pub trigger: Trigger,
    pub result: Result<Vec<u8>, InvocationError>,
    /// Status of the response, for `wasi:http/proxy` apps.
    pub http_status: Option<u16>,
    /// Response headers, for `wasi:http/proxy` apps.
    pub http_headers: http::HeaderMap,
    pub usage: Usage,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub logs: Vec<LogRecord>,
    pub denials: Vec<DenialRecord>,
}

impl InvocationReport {
    pub fn outcome(&self) -> &'static str {
        match &self.result {
            Ok(_) => "ok",
            Err(e) => e.as_str(),
        }
    }
}

impl Runtime {
    /// Records an invocation of `app` refused before it started (the app
    /// is killed): its span and report, without checking anything again —
    /// the caller decided, and the guest must not run on a changed mind.
    pub fn refuse(
        &self,
        app: &LoadedApp,
        request: &InvocationRequest,
        error: InvocationError,
    ) -> InvocationReport {
        let started = Instant::now();
        let cx = self.invocation_span(app, request);
        self.refused(app, request.trigger, &cx, error, started)
    }

    /// The invocation's span, continuing the caller's trace.
    fn invocation_span(&self, app: &LoadedApp, request: &InvocationRequest) -> Context {
        let tracer = self.tracer();
        let span = tracer
            .span_builder("invocation")
            .with_attributes([
                app.span_attributes[0].clone(),
                app.span_attributes[1].clone(),
                KeyValue::new(keys::TRIGGER, request.trigger.as_str()),
                KeyValue::new(keys::WORLD, app.world.as_str()),
            ])
            .start_with_context(
                tracer,
                &match &request.parent {
                    Some(parent) => Context::new().with_remote_span_context(parent.clone()),
                    None => Context::new(),
                },
            );
        let cx = Context::new().with_span(span);
        if let Some(id) = &request.request_id {
            cx.span()
                .set_attribute(KeyValue::new(keys::REQUEST_ID, id.clone()));
        }
        cx
    }

    /// A fresh store for one invocation of `app`: its host state (WASI,
    /// capabilities, capped pipes), memory limiter, hostcall budget, and an
    /// epoch callback that ends the guest on a kill or past its deadline
    /// and otherwise yields at every tick.
    fn new_store(
        &self,
        app: &LoadedApp,
        args: &[String],
        cx: &Context,
    ) -> (Store<HostState>, crate::host_state::Captured) {
        let limits = app.limits;
        let mut invocation =
            InvocationContext::new(app.id.clone(), app.meter.clone(), app.kill.clone());
        invocation.paid_calls_blocked = self.paid_calls().blocked(app.name());
        let span_context = cx.span().span_context().clone();
        if span_context.is_valid() {
            invocation.trace = Some(TraceParent {
                trace_id: span_context.trace_id().to_string(),
                sampled: span_context.is_sampled(),
            });
        }
        let (state, captured) = HostState::new(
            args,
            limits.max_output.as_usize(),
            limits.memory.as_usize(),
            &app.grants,
            &invocation,
        );
        let mut store = Store::new(self.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(limits.hostcall_bytes.as_usize());
        // Check every tick: the kill switch ends a running guest within one
        // tick. The deadline is wall-clock time, compared at each check, so
        // extra epoch bumps (a kill elsewhere advances the epoch) can only
        // make the check earlier, never end a call before its time.
        let kill = app.kill_switch().clone();
        let deadline = Instant::now() + limits.timeout.get();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if kill.is_killed() {
                return Err(wasmtime::Error::new(warden_host_apis::kill::Killed));
            }
            if Instant::now() >= deadline {
                return Err(wasmtime::Error::new(wasmtime::Trap::Interrupt));
            }
            // Yield to the executor at every tick: a CPU-bound guest then
            // shares its worker thread with other requests, timers and
            // kills instead of holding it until its deadline.
            Ok(wasmtime::UpdateDeadline::Yield(1))
        });

        (store, captured)
    }

    /// Calls the entry point under the fuel budget, with a backstop for a
    /// guest parked in a host call past its deadline and the kill switch
    /// watched from outside. Returns the call's result, whether the
    /// backstop fired and whether a kill ended it.
    async fn call_bounded(
        &self,
        app: &LoadedApp,
        store: &mut Store<HostState>,
        request: &InvocationRequest,
        route: &str,
        tracer: &opentelemetry_sdk::trace::SdkTracer,
        cx: &Context,
    ) -> (call::CallResult, bool, bool) {
        let limits = app.limits;
        let tick = self.platform().engine.epoch_tick.get();
        let output_cap = limits.max_output.as_usize();
        // The epoch deadline traps running Wasm; this backstop also ends an
        // invocation that is parked in a host call past its deadline.
        let backstop = limits.timeout.get() + tick * 4 + Duration::from_millis(50);
        let kill = app.kill_switch().clone();
        match store.set_fuel(limits.fuel) {
            Err(e) => (call_failed(e), false, false),
            Ok(()) => {
                let call = call::run(
                    &app.entry,
                    store,
                    call::CallInput {
                        input: &request.input,
                        route,
                        max_output: output_cap,
                        tracer,
                        parent: cx,
                        http: request.http.as_ref(),
                    },
                );
                // A guest parked in a host call sees no epoch ticks: the
                // backstop and the kill switch end it from outside.
                // The kill is looked at first: a guest that yielded at a
                // tick and is resumed after a kill ends without running on.
                tokio::select! {
                    biased;
                    _ = kill.killed() => (call_failed(wasmtime::Error::new(warden_host_apis::kill::Killed)), false, true),
                    result = tokio::time::timeout(backstop, call) => match result {
                        Ok(result) => (result, false, false),
                        Err(_) => (call_failed(wasmtime::Error::msg("deadline passed")), true, false),
                    },
                }
            }
        }
    }

    /// Runs one invocation of `app` under its limits: check kill and
    /// quota, build the store, call, classify, account, report.
    pub async fn invoke(&self, app: &LoadedApp, request: InvocationRequest) -> InvocationReport {
        let started = Instant::now();
        let cx = self.invocation_span(app, &request);
        if let Err(refusal) = self.admit(app).await {
            return self.refused(app, request.trigger, &cx, refusal, started);
        }
        let mut args = Vec::with_capacity(request.args.len() + 1);
        args.push(app.name().to_string());
        args.extend(request.args.iter().cloned());
        let (mut store, captured) = self.new_store(app, &args, &cx);
        let route = app
            .manifest
            .http
            .as_ref()
            .map(|h| h.route.trim_end_matches("/...").to_string())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "/".to_string());
        let (call, timed_out, killed) = self
            .call_bounded(app, &mut store, &request, &route, self.tracer(), &cx)
            .await;
        let fuel_left = store.get_fuel().unwrap_or(0);
        let fuel_used = app.limits.fuel.saturating_sub(fuel_left);
        app.meter
            .record(
                ALL,
                crate::costs::platform_charge(self.platform(), fuel_used),
            )
            .await;
        let mut state = store.into_data();
        let output = Output {
            stdout: captured.stdout.contents().to_vec(),
            stderr: captured.stderr.contents().to_vec(),
            denials: captured.denials.records(),
        };
        let error = self.classify_end(app, &call, &state, &output, timed_out, killed);
        let mut usage = Usage {
            fuel_used,
            fuel_limit: app.limits.fuel,
            wall_time_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            peak_memory_bytes: state.limiter.peak_memory() as u64,
            output_bytes: call.output.len() as u64,
            stdout_bytes: output.stdout.len() as u64,
            stderr_bytes: output.stderr.len() as u64,
            denials: output.denials.len() as u64,
            looked_for_files: captured.denials.looked_for_files(),
            ..Usage::default()
        };
        let (logs, sample) =
            self.account(app, &mut state, &cx, &mut usage, error.as_ref(), &output);
        let ended = Ended {
            call,
            error,
            usage,
            output,
            logs,
        };
        self.report(app, request.trigger, ended, sample, &cx)
    }

    /// Check kill and quota: an invocation of a killed app, or one past
    /// `requests_per_minute`, does not start. An admitted one is counted.
    async fn admit(&self, app: &LoadedApp) -> Result<(), InvocationError> {
        if app.kill_switch().is_killed() {
            return Err(InvocationError::Killed);
        }
        app.meter
            .admit_invocation()
            .await
            .map_err(InvocationError::QuotaExceeded)
    }

    /// How the call ended, from what it left: its end, a full output
    /// stream, refused memory growth, denials, the backstop, a kill.
    fn classify_end(
        &self,
        app: &LoadedApp,
        call: &call::CallResult,
        state: &HostState,
        output: &Output,
        timed_out: bool,
        killed: bool,
    ) -> Option<InvocationError> {
        let cap = app.limits.max_output.as_usize();
        let full_stream = if call.output_over_cap {
            Some("output")
        } else if output.stdout.len() >= cap {
            Some("stdout")
        } else if output.stderr.len() >= cap {
            Some("stderr")
        } else {
            None
        };
        let ended = classify(
            &call.end,
            &Evidence {
                limits: &app.limits,
                max_stack: self.platform().engine.max_wasm_stack,
                refused_memory: state.limiter.refused_growth(),
                full_stream,
                denials: &output.denials,
                timed_out,
                killed,
            },
        );
        // A failure after the shared state could not be reached is the
        // state's, not the app's: the caller is told to come back.
        let unavailable = state
            .caps
            .storage
            .unavailable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match (unavailable, ended) {
            (
                Some(message),
                Some(InvocationError::AppError { .. } | InvocationError::Trap { .. }),
            ) => Some(InvocationError::StateUnavailable { message }),
            (Some(message), None) if call.http_status.is_some_and(|s| s >= 500) => {
                Some(InvocationError::StateUnavailable { message })
            }
            (_, ended) => ended,
        }
    }

    /// Each capability's spans, metric samples and usage fields, the
    /// invocation span's attributes and end, and the meter's flush (in a
    /// task of its own, at most once a second).
    fn account(
        &self,
        app: &LoadedApp,
        state: &mut HostState,
        cx: &Context,
        usage: &mut Usage,
        error: Option<&InvocationError>,
        output: &Output,
    ) -> (Vec<LogRecord>, CapabilitySample) {
        let mut logs = Vec::new();
        let mut sample = CapabilitySample::default();
        state.caps.account(&mut Account {
            tracer: self.tracer(),
            span: cx,
            usage,
            logs: &mut logs,
            metrics: &mut sample,
        });
        record_on_span(cx, usage, error, &logs, &output.denials, self.dlp());
        if app.meter.take_flush_turn() {
            let meter = app.meter.clone();
            let name = app.name().to_string();
            let flush = async move {
                if let Err(e) = meter.flush().await {
                    tracing::warn!("usage counters for `{name}` not saved: {e}");
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => self.flushing(handle.spawn(flush)),
                Err(_) => futures_executor::block_on(flush),
            }
        }
        (logs, sample)
    }

    /// The report, its metric sample and logs sent, and the containment
    /// rules applied to it.
    fn report(
        &self,
        app: &LoadedApp,
        trigger: Trigger,
        ended: Ended,
        sample: CapabilitySample,
        cx: &Context,
    ) -> InvocationReport {
        let Ended {
            call,
            error,
            usage,
            output,
            logs,
        } = ended;
        let report = InvocationReport {
            app: app.name().to_string(),
            version: app.version().to_string(),
            trigger,
            result: match error {
                None => Ok(call.output),
                Some(e) => Err(e),
            },
            http_status: call.http_status,
            http_headers: call.http_headers,
            usage,
            stdout: output.stdout,
            stderr: output.stderr,
            logs,
            denials: output.denials,
        };
        self.watch_anomalies(app, &sample.egress);
        self.instruments()
            .record(&app.span_attributes[0], &report, sample);
        crate::telemetry::signals::emit_logs(
            &report,
            &crate::telemetry::signals::span_context(cx),
            self.platform().logs.max_records,
        );
        self.contain(app, &report);
        report
    }
}

/// An invocation that ran, classified and accounted.
struct Ended {
    call: call::CallResult,
    error: Option<InvocationError>,
    usage: Usage,
    output: Output,
    logs: Vec<LogRecord>,
}

/// What the guest wrote and was refused, read back after the call.
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    denials: Vec<DenialRecord>,
}

impl Runtime {
    /// The report of an invocation refused before it started (traced and
    /// counted like any other).
    fn refused(
        &self,
        app: &LoadedApp,
        trigger: Trigger,
        cx: &Context,
        error: InvocationError,
        started: Instant,
    ) -> InvocationReport {
        let usage = Usage {
            fuel_limit: app.limits.fuel,
            wall_time_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            ..Usage::default()
        };
        record_on_span(cx, &usage, Some(&error), &[], &[], self.dlp());
        let report = InvocationReport {
            app: app.name().to_string(),
            version: app.version().to_string(),
            trigger,
            result: Err(error),
            http_status: None,
            http_headers: http::HeaderMap::new(),
            usage,
            stdout: Vec::new(),
            stderr: Vec::new(),
            logs: Vec::new(),
            denials: Vec::new(),
        };
        self.instruments().record(
            &app.span_attributes[0],
            &report,
            CapabilitySample::default(),
        );
        report
    }
}

fn call_failed(error: wasmtime::Error) -> call::CallResult {
    call::CallResult {
        end: CallEnd::Failed(error),
        output: Vec::new(),
        http_status: None,
        http_headers: http::HeaderMap::new(),
        output_over_cap: false,
    }
}

/// Longest error message kept on a span, in bytes.
pub(crate) const MAX_SPAN_ERROR: usize = 1024;

/// `message` as a span may keep it: sensitive values redacted (it may
/// quote the app's data), at most [`MAX_SPAN_ERROR`] bytes.
pub(crate) fn span_error(message: &str, dlp: &warden_host_apis::dlp::Scanner) -> String {
    let findings = dlp.scan(message.as_bytes());
    let redacted = String::from_utf8_lossy(&dlp.redact(message.as_bytes(), &findings)).into_owned();
    if redacted.len() <= MAX_SPAN_ERROR {
        return redacted;
    }
    let mut cut = MAX_SPAN_ERROR - 3;
    while !redacted.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &redacted[..cut])
}

fn record_on_span(
    cx: &Context,
    usage: &Usage,
    error: Option<&InvocationError>,
    logs: &[LogRecord],
    denials: &[DenialRecord],
    dlp: &warden_host_apis::dlp::Scanner,
) {
    let span = cx.span();
    if !span.is_recording() {
        return;
    }
    for record in logs {
        span.add_event(
            "log",
            vec![
                KeyValue::new(keys::LOG_LEVEL, level_name(record.level)),
                KeyValue::new(keys::LOG_MESSAGE, record.message.clone()),
            ],
        );
    }
    for denial in denials {
        span.add_event(
            "denied",
            vec![
                KeyValue::new(keys::DENIAL, denial.kind.as_str()),
                KeyValue::new(keys::TARGET, denial.target.clone()),
            ],
        );
    }
    span.set_attributes([
        KeyValue::new(keys::OUTCOME, error.map(|e| e.as_str()).unwrap_or("ok")),
        KeyValue::new(keys::FUEL_USED, usage.fuel_used as i64),
        KeyValue::new(keys::FUEL_LIMIT, usage.fuel_limit as i64),
        KeyValue::new(keys::PEAK_MEMORY, usage.peak_memory_bytes as i64),
        KeyValue::new(keys::DURATION_US, usage.wall_time_us as i64),
        KeyValue::new(keys::OUTPUT_BYTES, usage.output_bytes as i64),
        KeyValue::new(keys::STORAGE_READS, usage.storage_reads as i64),
        KeyValue::new(keys::STORAGE_WRITES, usage.storage_writes as i64),
    ]);
    if let Some(e) = error {
        let message = span_error(&e.to_string(), dlp);
        span.set_attribute(KeyValue::new(keys::ERROR, message.clone()));
        span.set_status(Status::error(message));
    }
    span.end();
}

/// Renders a byte count for people.
pub fn human_bytes(n: u64) -> String {
    Size(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_on_a_span_is_redacted_and_bounded() {
        let dlp = warden_host_apis::dlp::Scanner::new([7; 32]);
        let short = span_error("cannot mail ada@example.com: refused", &dlp);
        assert!(!short.contains("ada@example.com"), "{short}");
        assert!(short.starts_with("cannot mail [REDACTED:email:"), "{short}");
        let long = span_error(&"é".repeat(4000), &dlp);
        assert!(
            long.len() <= MAX_SPAN_ERROR && long.ends_with("..."),
            "{}",
            long.len()
        );
    }
}
