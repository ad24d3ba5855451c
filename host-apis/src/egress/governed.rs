//! One governed outbound call, shared by `wasi:http` and
//! `warden:host/connectors`: route, quota, credential, send, meter, record.
//!
//! Order of checks (each refusal is recorded as a denial and a call record,
//! and counted): route (grant, scope) -> request size -> quota -> address
//! (inside the client, after the single DNS lookup). Only after all pass is
//! the credential fetched and added.

use super::client::{self, Inbound, Outbound, SendError};
use super::policy::{EgressPolicy, Refusal, Route};
use crate::classes::{DataClass, Label};
use crate::connectors::credentials::{Credentials, authority};
use crate::denial::{Denial, DenialLog};
use crate::dlp::{ActionByClass, Scanner, Verdict, describe};
use crate::kill::KillSwitch;
use crate::metering::{Counters, Meter, QuotaExceeded};
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Everything an app's outbound calls need, built once at load.
pub struct EgressContext {
    pub app: String,
    pub policy: EgressPolicy,
    pub meter: Arc<Meter>,
    pub credentials: Arc<Credentials>,
    pub dlp: Arc<Scanner>,
    pub dlp_rules: ActionByClass,
    /// A killed app's calls are refused and its credentials withheld.
    pub kill: Arc<KillSwitch>,
}

/// What the guest asked to send.
pub struct CallRequest {
    pub method: http::Method,
    pub target: Target,
    /// Path and query, e.g. `/v0/bases?x=1`. For a connector, relative to
    /// its base URL.
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

pub enum Target {
    Url {
        scheme: String,
        host: String,
        port: u16,
    },
    Connector(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{reason}")]
    Denied { kind: Denial, reason: String },
    #[error("{0}")]
    Quota(QuotaExceeded),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Upstream(String),
}

/// How an outbound call ended, as traces and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    /// Refused by the platform (the denial's own name).
    Denied(Denial),
    RequestTooLarge,
    QuotaExceeded,
    CredentialUnavailable,
    Timeout,
    UpstreamError,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Denied(kind) => kind.as_str(),
            CallOutcome::RequestTooLarge => "request-too-large",
            CallOutcome::QuotaExceeded => "quota-exceeded",
            CallOutcome::CredentialUnavailable => "credential-unavailable",
            CallOutcome::Timeout => "timeout",
            CallOutcome::UpstreamError => "upstream-error",
        }
    }
}

/// One outbound call as the trace shows it: where, which rule, how it went.
/// Never a credential, a query string or a body.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// `connector` or `host`.
    pub kind: &'static str,
    /// Connector name or the destination `scheme://host:port`.
    pub target: String,
    pub method: String,
    /// Scope rule or allowed-host entry that let it through, if any.
    pub pattern: Option<String>,
    pub status: Option<u16>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub started: SystemTime,
    pub duration: Duration,
    /// `ok`, or the denial / error kind.
    pub outcome: CallOutcome,
    /// DLP findings by pattern (`email=2`), empty if none.
    pub dlp: String,
    /// The span id sent in `traceparent` (16 hex digits), so the trace
    /// shows the call under the id the destination saw.
    pub span_id: Option<String>,
}

/// The W3C trace context an invocation propagates on its outbound calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    pub sampled: bool,
}

fn random_span_id() -> Option<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).ok()?;
    (bytes != [0; 8]).then(|| hex::encode(bytes))
}

const MAX_RECORDS: usize = 256;

/// The per-invocation handle: the app's context plus this invocation's
/// denial log and call records. Cheap to clone into a `'static` future.
#[derive(Clone)]
pub struct GovernedEgress {
    ctx: Arc<EgressContext>,
    denials: DenialLog,
    label: Label,
    calls: Arc<Mutex<Vec<CallRecord>>>,
    trace: Option<TraceParent>,
}

/// Headers that frame a message or steer a connection: Warden writes them
/// itself, from the body it actually sends or hands on, never as a guest
/// or an upstream gave them (a guest's `content-length` for a body DLP
/// then rewrote would cut the body short or stall the upstream).
pub fn is_framing(name: &str) -> bool {
    const FRAMING: [&str; 8] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "host",
    ];
    FRAMING.iter().any(|f| f.eq_ignore_ascii_case(name))
        || name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
}

impl GovernedEgress {
    /// `label` is the invocation's data label, shared with storage.
    pub fn new(ctx: Arc<EgressContext>, denials: DenialLog, label: Label) -> Self {
        GovernedEgress {
            ctx,
            denials,
            label,
            calls: Arc::default(),
            trace: None,
        }
    }

    /// Outbound calls carry `traceparent` for this trace from now on.
    pub fn set_trace(&mut self, trace: TraceParent) {
        self.trace = Some(trace);
    }

    pub fn max_request_bytes(&self) -> u64 {
        self.ctx.policy.rules.max_request_bytes.bytes()
    }

    pub fn app(&self) -> &str {
        &self.ctx.app
    }

    pub fn denials(&self) -> &DenialLog {
        &self.denials
    }

    pub fn take_calls(&self) -> Vec<CallRecord> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn keep(&self, record: CallRecord) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if calls.len() < MAX_RECORDS {
            calls.push(record);
        }
    }

    /// Performs one call under the app's policy.
    pub async fn perform(&self, request: CallRequest) -> Result<Inbound, CallError> {
        if self.ctx.kill.is_killed() {
            return Err(CallError::Denied {
                kind: Denial::Killed,
                reason: "the app was killed by an operator; its credentials are withheld".into(),
            });
        }
        let started = SystemTime::now();
        let clock = Instant::now();
        let method = request.method.to_string();
        let policy = &self.ctx.policy;
        let routed = match &request.target {
            Target::Url { scheme, host, port } => {
                policy.route_url(&method, scheme, host, *port, &request.path_and_query)
            }
            Target::Connector(name) => {
                policy.route_connector(name, &method, &request.path_and_query)
            }
        };
        let display_target = match &request.target {
            Target::Url { scheme, host, port } => {
                format!("{scheme}://{}", authority(host, *port, scheme))
            }
            Target::Connector(name) => name.clone(),
        };
        let mut record = CallRecord {
            kind: if matches!(request.target, Target::Connector(_)) {
                "connector"
            } else {
                "host"
            },
            target: display_target.clone(),
            method: method.clone(),
            pattern: None,
            status: None,
            bytes_out: 0,
            bytes_in: 0,
            started,
            duration: Duration::ZERO,
            outcome: CallOutcome::Ok,
            dlp: String::new(),
            span_id: None,
        };
        let routed =
            routed.and_then(|route| policy.clears(&route, self.label.get()).map(|()| route));
        let route = match routed {
            Ok(route) => route,
            Err(Refusal { kind, reason }) => {
                let target = format!("{method} {display_target}");
                return Err(self.refuse(record, "hosts", kind, target, reason, clock));
            }
        };
        let (scheme, host, port, path, scope, credential) = match route {
            Route::Connector { grant, pattern } => {
                record.kind = "connector";
                record.target = grant.connector.name().to_string();
                record.pattern = Some(pattern);
                let c = &grant.connector;
                let path = match request.target {
                    Target::Connector(_) => format!("{}{}", c.base_path, request.path_and_query),
                    Target::Url { .. } => request.path_and_query.clone(),
                };
                (
                    c.scheme.clone(),
                    c.host.clone(),
                    c.port,
                    path,
                    c.name().to_string(),
                    Some(grant.connector.clone()),
                )
            }
            Route::Host(entry) => {
                record.pattern = Some(entry.to_string());
                let Target::Url { scheme, host, port } = &request.target else {
                    return Err(CallError::Upstream("host route without a URL".into()));
                };
                (
                    scheme.clone(),
                    host.clone(),
                    *port,
                    request.path_and_query.clone(),
                    "hosts".to_string(),
                    None,
                )
            }
        };
        let clearance = credential
            .as_ref()
            .map(|c| c.spec.max_class)
            .unwrap_or(DataClass::Public);
        let mut request = request;
        match self
            .ctx
            .dlp
            .apply(&request.body, self.ctx.dlp_rules.for_class(clearance))
        {
            Verdict::Pass(hits) => record.dlp = describe(&hits),
            Verdict::Redacted(body, hits) => {
                record.dlp = describe(&hits);
                request.body = Bytes::from(body);
            }
            Verdict::Blocked(hits) => {
                record.dlp = describe(&hits);
                let target = format!("{method} {} ({})", record.target, record.dlp);
                let reason = format!(
                    "the request body holds sensitive values ({}) that {} (cleared for {clearance}) may not receive",
                    record.dlp, record.target
                );
                return Err(self.refuse(record, &scope, Denial::DlpBlocked, target, reason, clock));
            }
        }
        let rules = policy.rules.clone();
        if request.body.len() as u64 > rules.max_request_bytes.bytes() {
            record.outcome = CallOutcome::RequestTooLarge;
            record.duration = clock.elapsed();
            self.keep(record);
            return Err(CallError::Upstream(format!(
                "request body larger than {} (egress.max_request_bytes)",
                rules.max_request_bytes
            )));
        }
        let head_out: usize = request
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
            + path.len()
            + 32;
        let bytes_out = (head_out + request.body.len()) as u64;
        if let Err(quota) = self.ctx.meter.check_call(bytes_out) {
            // Running out of quota is not a denial of access: traced, not
            // recorded as a policy denial.
            record.outcome = CallOutcome::QuotaExceeded;
            record.duration = clock.elapsed();
            self.keep(record);
            return Err(CallError::Quota(quota));
        }

        let mut headers = http::HeaderMap::new();
        for (name, value) in &request.headers {
            let lower = name.as_str();
            let credential_header =
                credential.is_some() && (lower == "authorization" || lower == "cookie");
            if !is_framing(lower) && !credential_header {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(connector) = &credential {
            match self.ctx.credentials.headers(connector, &rules).await {
                Ok(extra) => {
                    for (name, value) in extra {
                        headers.insert(name, value);
                    }
                }
                Err(message) => {
                    record.outcome = CallOutcome::CredentialUnavailable;
                    record.duration = clock.elapsed();
                    self.keep(record);
                    return Err(CallError::Upstream(format!(
                        "connector `{scope}` is not usable: {message}"
                    )));
                }
            }
        }
        // The host's trace context replaces any the guest wrote.
        headers.remove("traceparent");
        headers.remove("tracestate");
        if let Some(trace) = &self.trace
            && let Some(span_id) = random_span_id()
        {
            let value = format!(
                "00-{}-{span_id}-{}",
                trace.trace_id,
                if trace.sampled { "01" } else { "00" }
            );
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                headers.insert("traceparent", v);
                record.span_id = Some(span_id);
            }
        }
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(path.as_str());
        if let Some(h) = builder.headers_mut() {
            *h = headers;
            if let Ok(v) = http::HeaderValue::from_str(&authority(&host, port, &scheme)) {
                h.insert(http::header::HOST, v);
            }
        }
        let outgoing = builder
            .body(request.body.clone())
            .map_err(|e| CallError::Upstream(e.to_string()))?;
        let result = client::send(
            Outbound {
                scheme,
                host,
                port,
                request: outgoing,
            },
            &rules,
        )
        .await;
        record.duration = clock.elapsed();
        record.bytes_out = bytes_out;
        match result {
            Ok(mut inbound) => {
                // The guest gets the body Warden read, framed to match —
                // except where a response has no body by definition (a
                // HEAD, 204, 304: RFC 9110 §8.6), whose `content-length`
                // describes the resource and is kept when it is a number.
                let bodiless =
                    request.method == http::Method::HEAD || matches!(inbound.status, 204 | 304);
                let declared = inbound
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let framing: Vec<http::HeaderName> = inbound
                    .headers
                    .keys()
                    .filter(|k| is_framing(k.as_str()))
                    .cloned()
                    .collect();
                for name in framing {
                    inbound.headers.remove(name);
                }
                let length = match (bodiless, declared) {
                    (true, Some(n)) if inbound.status != 204 => Some(n),
                    (true, _) => None,
                    (false, _) => Some(inbound.body.len() as u64),
                };
                if let Some(n) = length {
                    inbound
                        .headers
                        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(n));
                }
                record.status = Some(inbound.status);
                record.bytes_in = inbound.bytes_in;
                self.ctx.meter.record(
                    &scope,
                    Counters {
                        calls: 1,
                        bytes_out,
                        bytes_in: inbound.bytes_in,
                        ..Counters::default()
                    },
                );
                self.keep(record);
                Ok(inbound)
            }
            Err(SendError::Blocked { host, class }) => {
                let target = format!("{host} ({class} address)");
                let reason = format!(
                    "{host} resolves to a {class} address, which egress blocks unless warden.toml allows its CIDR (egress.allow_cidrs)"
                );
                Err(self.refuse(
                    record,
                    &scope,
                    Denial::AddressBlocked,
                    target,
                    reason,
                    clock,
                ))
            }
            Err(e) => {
                record.outcome = if e.is_timeout() {
                    CallOutcome::Timeout
                } else {
                    CallOutcome::UpstreamError
                };
                self.ctx.meter.record(
                    &scope,
                    Counters {
                        calls: 1,
                        bytes_out,
                        ..Counters::default()
                    },
                );
                self.keep(record);
                if e.is_timeout() {
                    Err(CallError::Timeout(e.to_string()))
                } else {
                    Err(CallError::Upstream(e.to_string()))
                }
            }
        }
    }

    fn refuse(
        &self,
        mut record: CallRecord,
        scope: &str,
        kind: Denial,
        target: String,
        reason: String,
        clock: Instant,
    ) -> CallError {
        self.denials.record(kind, target);
        self.ctx.meter.record(
            scope,
            Counters {
                denials: 1,
                ..Counters::default()
            },
        );
        record.outcome = CallOutcome::Denied(kind);
        record.duration = clock.elapsed();
        self.keep(record);
        CallError::Denied { kind, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::is_framing;

    #[test]
    fn framing_and_connection_headers_are_warden_s_to_write() {
        for name in [
            "content-length",
            "Transfer-Encoding",
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "upgrade",
            "host",
            "proxy-authorization",
            "Proxy-Connection",
        ] {
            assert!(is_framing(name), "{name}");
        }
        for name in ["content-type", "authorization", "x-request-id", "accept"] {
            assert!(!is_framing(name), "{name}");
        }
    }
}
