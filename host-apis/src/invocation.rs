//! What every capability of one invocation shares.
//!
//! Built once per invocation by the runtime and handed to each
//! capability's per-invocation state, so that no capability owns what all
//! of them need: the app's identity, the data label its reads raise and
//! its sends must clear, the denial log the trace reads back, the app's
//! quota meter, its kill switch and the trace its outbound calls continue.

use crate::classes::Label;
use crate::denial::DenialLog;
use crate::kill::KillSwitch;
use crate::metering::Meter;
use std::sync::Arc;

/// The shared context of one invocation. Cloning it shares the label and
/// the denial log (both are handles), so every capability sees one label
/// and writes into one log.
#[derive(Clone)]
pub struct InvocationContext {
    /// The app's name, as in `app.toml`'s `app.name`.
    pub app: Arc<str>,
    /// The highest data class this invocation has read (storage raises it;
    /// egress refuses to send above what a destination may receive).
    pub label: Label,
    /// Every refusal of this invocation, for its trace and report.
    pub denials: DenialLog,
    /// The app's usage counters and quota limits (shared by all of its
    /// invocations).
    pub meter: Arc<Meter>,
    /// The app's kill switch: a killed app's calls are refused and its
    /// credentials withheld.
    pub kill: Arc<KillSwitch>,
    /// The W3C trace outbound calls continue, when the invocation is traced.
    pub trace: Option<TraceParent>,
    /// Why calls to connectors that cost money are refused, when the
    /// budget of the app's team or cost center is spent and its
    /// `on_exceeded` is `block-paid-calls` (as of the invocation's start).
    pub paid_calls_blocked: Option<Arc<str>>,
}

impl InvocationContext {
    /// A context with a fresh label and denial log and no trace.
    pub fn new(app: Arc<str>, meter: Arc<Meter>, kill: Arc<KillSwitch>) -> Self {
        InvocationContext {
            app,
            label: Label::default(),
            denials: DenialLog::default(),
            meter,
            kill,
            trace: None,
            paid_calls_blocked: None,
        }
    }
}

/// The W3C trace context an invocation propagates on its outbound calls
/// (<https://www.w3.org/TR/trace-context/#traceparent-header>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    pub sampled: bool,
}
