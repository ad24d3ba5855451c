//! `warden:host/connectors`: calling approved SaaS endpoints by name.
//!
//! Guarantees: an app reaches a connector only with a grant from its
//! manifest, only with requests one of its granted scopes allows, and never
//! sees the credential — the host adds it to the outgoing request after all
//! checks pass. The catalog and the grants are checked at load time.

pub mod config;
pub mod credentials;
pub mod grant;
mod host;
pub mod scope;

pub use config::{
    AuthSpec, Connector, ConnectorRequest, ConnectorRules, ConnectorSpec, VendorTerms,
    compile_catalog,
};
pub use grant::{ConnectorGrant, grant};

use crate::egress::governed::EgressState;
use wasmtime::component::{HasSelf, Linker};

/// Links `warden:host/connectors`; `get` finds the invocation's egress.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut EgressState,
) -> wasmtime::Result<()> {
    crate::bindings::warden::host::connectors::add_to_linker::<T, HasSelf<EgressState>>(linker, get)
}
