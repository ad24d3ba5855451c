//! One governed outbound call, shared by `wasi:http` and
//! `warden:host/connectors`.
//!
//! Stages, in order: kill switch → route (grant, scope) and clear (data
//! label) → scan (DLP) → admit (request size, quota) → authorize (headers,
//! the connector's credential) → send (the single DNS lookup and the address
//! rules are checked inside the client) → account. Refusals by policy —
//! route, label, DLP, blocked address — are denials: recorded in the
//! denial log and as a call record, and counted. A too-large request or a
//! spent quota is a call record and an error, not a denial. A kill refuses
//! before anything else and records nothing more. The credential is
//! fetched only for a call that passed every check before sending.

use super::client::{self, Inbound, Outbound, SendError};
use super::policy::{EgressPolicy, Refusal, Route};
use crate::classes::DataClass;
use crate::connectors::credentials::{Credentials, authority};
use crate::denial::{Denial, DenialLog};
use crate::dlp::{ActionByClass, Scanner, Verdict, describe};
use crate::invocation::InvocationContext;
use crate::metering::{CallTicket, Counters, QuotaExceeded};
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Everything an app's outbound calls need, built once at load.
pub struct EgressGrant {
    pub app: String,
    pub policy: EgressPolicy,
    pub credentials: Arc<Credentials>,
    pub dlp: Arc<Scanner>,
    pub dlp_rules: ActionByClass,
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
    /// A call that costs money while the budget of the app's team or cost
    /// center is spent and set to `block-paid-calls`; says which budget.
    #[error("{0}")]
    OverBudget(String),
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
    OverBudget,
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
            CallOutcome::OverBudget => "over-budget",
            CallOutcome::CredentialUnavailable => "credential-unavailable",
            CallOutcome::Timeout => "timeout",
            CallOutcome::UpstreamError => "upstream-error",
        }
    }
}

/// Where a routed call goes, and what it may carry there.
struct Destination {
    scheme: String,
    host: String,
    port: u16,
    /// Path and query as sent (a connector's base path included).
    path: String,
    /// The quota scope: the connector's name, or `hosts`.
    scope: String,
    /// The highest data class the destination is cleared for.
    clearance: DataClass,
    /// The connector whose credential the host adds.
    credential: Option<Arc<crate::connectors::config::Connector>>,
}

impl Destination {
    /// What one call here costs, in millionths of the platform's currency:
    /// the connector's `cost_per_call` (nothing for a plain host).
    fn price_micros(&self) -> u64 {
        self.credential
            .as_ref()
            .map_or(0, |c| crate::units::micros(c.spec.cost_per_call))
    }
}

/// The guest's headers as they may go out: framing headers dropped (Warden
/// frames what it sends), and for a connector the guest's own
/// `authorization` and `cookie` dropped (the host adds the credential);
/// the host's trace context replaces any the guest wrote.
fn outbound_headers(guest: &http::HeaderMap, connector: bool) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in guest {
        let lower = name.as_str();
        let credential_header = connector && (lower == "authorization" || lower == "cookie");
        let trace_header = lower == "traceparent" || lower == "tracestate";
        if !is_framing(lower) && !credential_header && !trace_header {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// The answer's framing as the guest gets it: the body Warden read, with
/// a matching `content-length` — except where a response has no body by
/// definition (a HEAD, 204, 304: RFC 9110 §8.6), whose `content-length`
/// describes the resource and is kept when it is a number (a 204 gets none).
fn reframe(inbound: &mut Inbound, head: bool) {
    let bodiless = head || matches!(inbound.status, 204 | 304);
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

impl CallRecord {
    /// The record of `request` before any stage ran: where it was headed,
    /// as the guest named it.
    fn start(request: &CallRequest) -> CallRecord {
        let (kind, target) = match &request.target {
            Target::Url { scheme, host, port } => (
                "host",
                format!("{scheme}://{}", authority(host, *port, scheme)),
            ),
            Target::Connector(name) => ("connector", name.clone()),
        };
        CallRecord {
            kind,
            target,
            method: request.method.to_string(),
            pattern: None,
            status: None,
            bytes_out: 0,
            bytes_in: 0,
            started: SystemTime::now(),
            duration: Duration::ZERO,
            outcome: CallOutcome::Ok,
            dlp: String::new(),
            span_id: None,
        }
    }
}

pub use crate::invocation::TraceParent;

fn random_span_id() -> Option<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).ok()?;
    (bytes != [0; 8]).then(|| hex::encode(bytes))
}

const MAX_RECORDS: usize = 256;

/// The per-invocation handle: the app's context plus this invocation's
/// denial log and call records. Cheap to clone into a `'static` future.
#[derive(Clone)]
pub struct EgressState {
    ctx: Arc<EgressGrant>,
    invocation: InvocationContext,
    calls: Arc<Mutex<Vec<CallRecord>>>,
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

impl EgressState {
    /// One invocation's egress: the app's grant, and the label, denial
    /// log, meter, kill switch and trace it shares with the other
    /// capabilities.
    pub fn new(ctx: Arc<EgressGrant>, invocation: &InvocationContext) -> Self {
        EgressState {
            ctx,
            invocation: invocation.clone(),
            calls: Arc::default(),
        }
    }

    pub fn max_request_bytes(&self) -> u64 {
        self.ctx.policy.rules.max_request_bytes.bytes()
    }

    pub fn app(&self) -> &str {
        &self.ctx.app
    }

    pub fn denials(&self) -> &DenialLog {
        &self.invocation.denials
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

    /// Performs one call under the app's policy, stage by stage:
    /// route → clear (label) → scan (DLP) → admit (size, quota) →
    /// authorize (headers, credential) → send → account. Each stage that
    /// refuses records the call and says why; only after all pass is the
    /// credential fetched and the request sent.
    pub async fn perform(&self, request: CallRequest) -> Result<Inbound, CallError> {
        if self.invocation.kill.is_killed() {
            return Err(CallError::Denied {
                kind: Denial::Killed,
                reason: "the app was killed by an operator; its credentials are withheld".into(),
            });
        }
        let clock = Instant::now();
        let mut record = CallRecord::start(&request);
        let dest = self.route(&request, &mut record, clock).await?;
        let mut request = request;
        self.scan(&mut request, &dest, &mut record, clock).await?;
        let (bytes_out, ticket) = self.admit(&request, &dest, &mut record, clock).await?;
        let outgoing = match self.authorize(&request, &dest, &mut record, clock).await {
            Ok(outgoing) => outgoing,
            Err(e) => {
                // Refused before anything went out: the quota unit goes back.
                ticket.refund();
                return Err(e);
            }
        };
        let head = request.method == http::Method::HEAD;
        let price = dest.price_micros();
        let result = client::send(
            Outbound {
                scheme: dest.scheme,
                host: dest.host,
                port: dest.port,
                request: outgoing,
            },
            &self.ctx.policy.rules,
        )
        .await;
        // A blocked address is refused before any connection: no call.
        // Anything else counts, as in the usage counters (a send cut off
        // by a kill or a deadline drops the ticket: spent).
        if matches!(result, Err(SendError::Blocked { .. })) {
            ticket.refund();
        }
        record.duration = clock.elapsed();
        record.bytes_out = bytes_out;
        self.account(result, head, (&dest.scope, price), bytes_out, record, clock)
            .await
    }

    /// Route and clear: the grant or allowed host the request goes to, if
    /// any, and whether the invocation's data label may take it.
    async fn route(
        &self,
        request: &CallRequest,
        record: &mut CallRecord,
        clock: Instant,
    ) -> Result<Destination, CallError> {
        let policy = &self.ctx.policy;
        let method = request.method.as_str();
        let routed = match &request.target {
            Target::Url { scheme, host, port } => {
                policy.route_url(method, scheme, host, *port, &request.path_and_query)
            }
            Target::Connector(name) => {
                policy.route_connector(name, method, &request.path_and_query)
            }
        }
        .and_then(|route| {
            policy
                .clears(&route, self.invocation.label.get())
                .map(|()| route)
        });
        let route = match routed {
            Ok(route) => route,
            Err(Refusal { kind, reason }) => {
                let target = format!("{method} {}", record.target);
                return Err(self
                    .refuse(record.clone(), "hosts", kind, target, reason, clock)
                    .await);
            }
        };
        Ok(match route {
            Route::Connector { grant, pattern } => {
                record.kind = "connector";
                record.target = grant.connector.name().to_string();
                record.pattern = Some(pattern);
                let c = &grant.connector;
                let path = match request.target {
                    Target::Connector(_) => format!("{}{}", c.base_path, request.path_and_query),
                    Target::Url { .. } => request.path_and_query.clone(),
                };
                Destination {
                    scheme: c.scheme.clone(),
                    host: c.host.clone(),
                    port: c.port,
                    path,
                    scope: c.name().to_string(),
                    clearance: c.spec.max_class,
                    credential: Some(grant.connector.clone()),
                }
            }
            Route::Host(entry) => {
                record.pattern = Some(entry.to_string());
                let Target::Url { scheme, host, port } = &request.target else {
                    return Err(CallError::Upstream("host route without a URL".into()));
                };
                Destination {
                    scheme: scheme.clone(),
                    host: host.clone(),
                    port: *port,
                    path: request.path_and_query.clone(),
                    scope: "hosts".to_string(),
                    clearance: DataClass::Public,
                    credential: None,
                }
            }
        })
    }

    /// Scan: sensitive values in the body pass, are redacted or block the
    /// call, by the destination's clearance.
    async fn scan(
        &self,
        request: &mut CallRequest,
        dest: &Destination,
        record: &mut CallRecord,
        clock: Instant,
    ) -> Result<(), CallError> {
        let clearance = dest.clearance;
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
                let target = format!("{} {} ({})", request.method, record.target, record.dlp);
                let reason = format!(
                    "the request body holds sensitive values ({}) that {} (cleared for {clearance}) may not receive",
                    record.dlp, record.target
                );
                return Err(self
                    .refuse(
                        record.clone(),
                        &dest.scope,
                        Denial::DlpBlocked,
                        target,
                        reason,
                        clock,
                    )
                    .await);
            }
        }
        Ok(())
    }

    /// Admit: the request is within `max_request_bytes` and the app's call
    /// and egress quotas; returns the bytes it sends and the call's quota
    /// ticket.
    async fn admit(
        &self,
        request: &CallRequest,
        dest: &Destination,
        record: &mut CallRecord,
        clock: Instant,
    ) -> Result<(u64, CallTicket<'_>), CallError> {
        let rules = &self.ctx.policy.rules;
        if request.body.len() as u64 > rules.max_request_bytes.bytes() {
            record.outcome = CallOutcome::RequestTooLarge;
            record.duration = clock.elapsed();
            self.keep(record.clone());
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
            + dest.path.len()
            + 32;
        let bytes_out = (head_out + request.body.len()) as u64;
        if let Some(why) = &self.invocation.paid_calls_blocked
            && dest
                .credential
                .as_ref()
                .is_some_and(|c| c.spec.cost_per_call > 0.0)
        {
            // Spent money is not a denial of access either: traced, not
            // a policy denial.
            record.outcome = CallOutcome::OverBudget;
            record.duration = clock.elapsed();
            self.keep(record.clone());
            return Err(CallError::OverBudget(format!(
                "connector `{}` costs {} a call, and {why}",
                dest.scope,
                dest.credential
                    .as_ref()
                    .map_or(0.0, |c| c.spec.cost_per_call)
            )));
        }
        match self.invocation.meter.check_call(bytes_out).await {
            Ok(ticket) => Ok((bytes_out, ticket)),
            Err(quota) => {
                // Running out of quota is not a denial of access: traced,
                // not recorded as a policy denial.
                record.outcome = CallOutcome::QuotaExceeded;
                record.duration = clock.elapsed();
                self.keep(record.clone());
                Err(CallError::Quota(quota))
            }
        }
    }

    /// Authorize: the headers that go out — the guest's without framing
    /// and (for a connector) credential headers, the connector's
    /// credential, this trace's `traceparent` — on the request to send.
    async fn authorize(
        &self,
        request: &CallRequest,
        dest: &Destination,
        record: &mut CallRecord,
        clock: Instant,
    ) -> Result<http::Request<Bytes>, CallError> {
        let mut headers = outbound_headers(&request.headers, dest.credential.is_some());
        if let Some(connector) = &dest.credential {
            match self
                .ctx
                .credentials
                .headers(&self.invocation.app, connector, &self.ctx.policy.rules)
                .await
            {
                Ok(extra) => {
                    for (name, value) in extra {
                        headers.insert(name, value);
                    }
                }
                Err(message) => {
                    record.outcome = CallOutcome::CredentialUnavailable;
                    record.duration = clock.elapsed();
                    self.keep(record.clone());
                    return Err(CallError::Upstream(format!(
                        "connector `{}` is not usable: {message}",
                        dest.scope
                    )));
                }
            }
        }
        if let Some(trace) = &self.invocation.trace
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
            .uri(dest.path.as_str());
        if let Some(h) = builder.headers_mut() {
            *h = headers;
            if let Ok(v) =
                http::HeaderValue::from_str(&authority(&dest.host, dest.port, &dest.scheme))
            {
                h.insert(http::header::HOST, v);
            }
        }
        builder
            .body(request.body.clone())
            .map_err(|e| CallError::Upstream(e.to_string()))
    }

    /// Account: what came back, metered and recorded; the answer reframed
    /// for the guest, or the failure as the guest should see it.
    async fn account(
        &self,
        result: Result<Inbound, SendError>,
        head: bool,
        (scope, cost_micros): (&str, u64),
        bytes_out: u64,
        mut record: CallRecord,
        clock: Instant,
    ) -> Result<Inbound, CallError> {
        // A call that was sent is charged (`cost_micros`), answered or
        // not: like its quota unit, it may have reached the vendor.
        match result {
            Ok(mut inbound) => {
                reframe(&mut inbound, head);
                record.status = Some(inbound.status);
                record.bytes_in = inbound.bytes_in;
                self.invocation
                    .meter
                    .record(
                        scope,
                        Counters {
                            calls: 1,
                            bytes_out,
                            bytes_in: inbound.bytes_in,
                            cost_micros,
                            ..Counters::default()
                        },
                    )
                    .await;
                self.keep(record);
                Ok(inbound)
            }
            Err(SendError::Blocked { host, class }) => {
                let target = format!("{host} ({class} address)");
                let reason = format!(
                    "{host} resolves to a {class} address, which egress blocks unless warden.toml allows its CIDR (egress.allow_cidrs)"
                );
                Err(self
                    .refuse(record, scope, Denial::AddressBlocked, target, reason, clock)
                    .await)
            }
            Err(e) => {
                record.outcome = if e.is_timeout() {
                    CallOutcome::Timeout
                } else {
                    CallOutcome::UpstreamError
                };
                self.invocation
                    .meter
                    .record(
                        scope,
                        Counters {
                            calls: 1,
                            bytes_out,
                            cost_micros,
                            ..Counters::default()
                        },
                    )
                    .await;
                self.keep(record);
                if e.is_timeout() {
                    Err(CallError::Timeout(e.to_string()))
                } else {
                    Err(CallError::Upstream(e.to_string()))
                }
            }
        }
    }

    async fn refuse(
        &self,
        mut record: CallRecord,
        scope: &str,
        kind: Denial,
        target: String,
        reason: String,
        clock: Instant,
    ) -> CallError {
        self.invocation.denials.record(kind, target);
        self.invocation
            .meter
            .record(
                scope,
                Counters {
                    denials: 1,
                    ..Counters::default()
                },
            )
            .await;
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

#[cfg(test)]
mod stage_tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| unreachable!("{e}")),
                http::HeaderValue::from_str(v).unwrap_or_else(|e| unreachable!("{e}")),
            );
        }
        map
    }

    #[test]
    fn outbound_headers_drop_framing_trace_and_for_connectors_credentials() {
        let guest = headers(&[
            ("content-type", "application/json"),
            ("content-length", "21"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "x"),
            ("authorization", "Bearer guest"),
            ("cookie", "a=b"),
            ("traceparent", "00-forged"),
            ("x-custom", "kept"),
        ]);
        // (to a connector?) -> the header names that go out
        for (connector, want) in [
            (true, vec!["content-type", "x-custom"]),
            (
                false,
                vec!["authorization", "content-type", "cookie", "x-custom"],
            ),
        ] {
            let out = outbound_headers(&guest, connector);
            let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
            names.sort();
            assert_eq!(names, want, "connector: {connector}");
        }
    }

    #[test]
    fn answers_are_reframed_by_the_body_read_except_bodiless_ones() {
        // (head request, status, declared length, body) -> content-length
        type Case<'a> = (bool, u16, Option<&'a str>, &'a str, Option<&'a str>);
        let cases: [Case<'_>; 6] = [
            (false, 200, Some("999"), "hello", Some("5")),
            (false, 200, None, "hello", Some("5")),
            (true, 200, Some("16"), "", Some("16")),
            (true, 200, Some("not a number"), "", None),
            (false, 304, Some("16"), "", Some("16")),
            (false, 204, Some("16"), "", None),
        ];
        for (head, status, declared, body, want) in cases {
            let mut pairs = vec![("transfer-encoding", "chunked"), ("x-upstream", "yes")];
            if let Some(d) = declared {
                pairs.push(("content-length", d));
            }
            let mut inbound = Inbound {
                status,
                headers: headers(&pairs),
                body: Bytes::from(body.to_string()),
                bytes_in: 0,
            };
            reframe(&mut inbound, head);
            let got = inbound
                .headers
                .get("content-length")
                .map(|v| v.to_str().unwrap_or_default().to_string());
            assert_eq!(got.as_deref(), want, "head {head}, {status}, {declared:?}");
            assert!(!inbound.headers.contains_key("transfer-encoding"));
            assert!(inbound.headers.contains_key("x-upstream"));
        }
    }
}
