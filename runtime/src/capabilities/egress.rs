//! Outbound calls as a capability: `warden:host/connectors` and
//! `wasi:http/outgoing-handler`, both through one governed pipeline
//! (`warden_host_apis::egress::governed`).
//!
//! Request: `[[connectors]]` and `[egress]` in `app.toml`. Rules: the
//! connector catalog, `[egress]`, the storage classes' connector lists and
//! `[dlp] outbound` in `warden.toml`.

use crate::capability::{Account, Capability, GrantInput, HostResources, InvocationContext, Part};
use crate::config::ConfigError;
use crate::host_state::HostState;
use crate::telemetry::keys;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Status, TraceContextExt, Tracer};
use std::sync::Arc;
use warden_host_apis::classes::DataClass;
use warden_host_apis::connectors::Connector;
use warden_host_apis::connectors::credentials::Credentials;
use warden_host_apis::dlp::Scanner;
use warden_host_apis::egress::governed::{CallOutcome, CallRecord};
pub use warden_host_apis::egress::governed::{EgressGrant, EgressState};
use warden_host_apis::egress::hosts::AllowedHosts;
use warden_host_apis::egress::policy::EgressPolicy;
use wasmtime::component::Linker;

/// The egress capability: the catalog and the credentials it injects.
pub struct Egress {
    catalog: Vec<Arc<Connector>>,
    credentials: Arc<Credentials>,
    dlp: Arc<Scanner>,
}

impl Capability for Egress {
    type Grant = EgressGrant;
    type State = EgressState;

    fn new(host: &HostResources<'_>) -> anyhow::Result<Self> {
        Ok(Egress {
            catalog: host.catalog.to_vec(),
            credentials: host.credentials.clone(),
            dlp: host.dlp.clone(),
        })
    }

    /// `wasi:http` (its hooks are this state: see `HostState`) and
    /// `warden:host/connectors`.
    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
        warden_host_apis::connectors::add_to_linker(linker, |s: &mut HostState| s.part())
    }

    /// The app's connector grants (each against the catalog and its
    /// scopes) and allowed hosts.
    fn grant(&self, app: &GrantInput<'_>) -> Result<EgressGrant, ConfigError> {
        let manifest = app.manifest;
        let platform = app.platform;
        let grants = warden_host_apis::connectors::grant(&manifest.connectors, &self.catalog)
            .map_err(|p| app.invalid(p.field, p.problem, p.fix))?;
        let hosts = AllowedHosts::parse(&manifest.egress.allowed_hosts).map_err(|problem| {
            app.invalid(
                "egress.allowed_hosts",
                problem,
                "list approved destinations as scheme://host[:port]; see the allowed_hosts table in README.md",
            )
        })?;
        Ok(EgressGrant {
            app: manifest.app.name.clone(),
            policy: EgressPolicy {
                grants,
                hosts,
                rules: Arc::new(platform.egress.clone()),
                class_connectors: [
                    DataClass::Public,
                    DataClass::Internal,
                    DataClass::Confidential,
                    DataClass::Regulated,
                ]
                .map(|c| platform.storage.rule(c).connectors),
            },
            credentials: self.credentials.clone(),
            dlp: self.dlp.clone(),
            dlp_rules: platform.dlp.outbound.clone(),
        })
    }

    fn state(grant: &Arc<EgressGrant>, invocation: &InvocationContext) -> EgressState {
        EgressState::new(grant.clone(), invocation)
    }

    /// One child span per outbound call, and the calls' metric samples.
    fn account(state: &mut EgressState, account: &mut Account<'_>) {
        let calls = state.take_calls();
        record_calls(account, &calls);
        let seen = &mut account.metrics.egress;
        for call in &calls {
            // Sent: answered, or cut off after it left.
            if matches!(
                call.outcome,
                CallOutcome::Ok | CallOutcome::Timeout | CallOutcome::UpstreamError
            ) {
                seen.calls += 1;
                seen.bytes += call.bytes_out + call.bytes_in;
                seen.destinations.insert(call.target.clone());
            }
            if !call.dlp.is_empty() {
                seen.dlp_hits += 1;
            }
        }
        account.metrics.calls.extend(
            calls
                .iter()
                .map(|c| (c.kind, c.outcome.as_str(), c.bytes_out, c.bytes_in)),
        );
    }
}

/// One child span per outbound call, with the call's own start and end.
fn record_calls(account: &Account<'_>, calls: &[CallRecord]) {
    if !account.span.span().is_recording() {
        return;
    }
    let tracer = account.tracer;
    for call in calls {
        let mut attributes = vec![
            KeyValue::new(keys::EGRESS_KIND, call.kind),
            KeyValue::new(keys::EGRESS_TARGET, call.target.clone()),
            KeyValue::new(keys::HTTP_METHOD, call.method.clone()),
            KeyValue::new(keys::EGRESS_BYTES_OUT, call.bytes_out as i64),
            KeyValue::new(keys::EGRESS_BYTES_IN, call.bytes_in as i64),
            KeyValue::new(keys::OUTCOME, call.outcome.as_str()),
            KeyValue::new(keys::DURATION_US, call.duration.as_micros() as i64),
        ];
        if let Some(pattern) = &call.pattern {
            attributes.push(KeyValue::new(keys::EGRESS_PATTERN, pattern.clone()));
        }
        if !call.dlp.is_empty() {
            attributes.push(KeyValue::new(keys::DLP_HITS, call.dlp.clone()));
        }
        if let Some(status) = call.status {
            attributes.push(KeyValue::new(keys::HTTP_STATUS, i64::from(status)));
        }
        let mut builder = tracer.span_builder("egress");
        if let Some(id) = call
            .span_id
            .as_deref()
            .and_then(|id| opentelemetry::trace::SpanId::from_hex(id).ok())
        {
            builder = builder.with_span_id(id);
        }
        let mut span = builder
            .with_start_time(call.started)
            .with_attributes(attributes)
            .start_with_context(tracer, account.span);
        if call.outcome != CallOutcome::Ok {
            span.set_status(Status::error(call.outcome.as_str()));
        }
        span.end_with_timestamp(call.started + call.duration);
    }
}
