//! `warden:host/reply` as a capability: a handler behind an HTTP route
//! sets its answer's status and content type. Nothing to grant; the
//! invocation reads the state back when it builds the HTTP answer.

use crate::capability::{Capability, GrantInput, HostResources, InvocationContext, Part};
use crate::config::ConfigError;
use crate::host_state::HostState;
use std::sync::Arc;
use warden_host_apis::reply::ReplyState;
use wasmtime::component::Linker;

/// The reply capability.
pub struct Reply;

impl Capability for Reply {
    type Grant = ();
    type State = ReplyState;

    fn new(_host: &HostResources<'_>) -> anyhow::Result<Self> {
        Ok(Reply)
    }

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        warden_host_apis::reply::add_to_linker(linker, |s: &mut HostState| s.part())
    }

    fn grant(&self, _app: &GrantInput<'_>) -> Result<(), ConfigError> {
        Ok(())
    }

    fn state(_grant: &Arc<()>, _invocation: &InvocationContext) -> ReplyState {
        ReplyState::default()
    }
}
