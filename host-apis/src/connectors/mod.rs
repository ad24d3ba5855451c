//! `warden:host/connectors`: calling approved SaaS endpoints by name.
//!
//! Guarantees: an app reaches a connector only with a grant from its
//! manifest, only with requests one of its granted scopes allows, and never
//! sees the credential — the host adds it to the outgoing request after all
//! checks pass. The catalog and the grants are checked at load time.

pub mod config;
pub mod grant;
pub mod scope;

pub use config::{
    AuthSpec, Connector, ConnectorRequest, ConnectorRules, ConnectorSpec, VendorTerms,
    compile_catalog,
};
pub use grant::{ConnectorGrant, grant};
