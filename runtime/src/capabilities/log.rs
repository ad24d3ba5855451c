//! `warden:host/log` as a capability: every app may log, within the
//! platform's per-invocation caps (`[logs]` in `warden.toml`).

use crate::capability::{Account, Capability, GrantInput, HostResources, InvocationContext, Part};
use crate::config::ConfigError;
use crate::host_state::HostState;
use std::sync::Arc;
use warden_host_apis::log::{LogLimits, LogState};
use wasmtime::component::Linker;

/// The log capability: the platform's caps, the same for every app.
pub struct Log {
    limits: LogLimits,
}

/// An app's log grant: the caps its invocations write under.
pub type LogGrant = LogLimits;

impl Capability for Log {
    type Grant = LogGrant;
    type State = LogState;

    fn new(host: &HostResources<'_>) -> anyhow::Result<Self> {
        Ok(Log {
            limits: LogLimits {
                max_records: host.platform.logs.max_records,
                max_bytes: host.platform.logs.max_bytes.as_usize(),
            },
        })
    }

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        warden_host_apis::log::add_to_linker(linker, |s: &mut HostState| s.part())
    }

    fn grant(&self, _app: &GrantInput<'_>) -> Result<LogGrant, ConfigError> {
        Ok(self.limits)
    }

    fn state(grant: &Arc<LogGrant>, _invocation: &InvocationContext) -> LogState {
        LogState::new(**grant)
    }

    /// The records go to the report (and from there to the span and the
    /// logs pipeline); the usage counts kept and dropped ones.
    fn account(state: &mut LogState, account: &mut Account<'_>) {
        let records = state.take_records();
        account.usage.log_records = records.len() as u64;
        account.logs.extend(records);
        account.usage.logs_dropped = state.dropped();
    }
}
