//! The TLS client settings of a sink: the web PKI roots, plus a company
//! CA from `ca` (a SIEM inside the company usually has one).

use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::ClientConfig;
use warden_host_apis::egress::client::{add_pem_roots, client_config as trusting, web_pki_roots};

/// A client config trusting the web PKI roots and every certificate in
/// the PEM file `ca`, if given.
///
/// # Errors
/// The file cannot be read, holds no certificate, or one is unusable.
pub(crate) fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = web_pki_roots();
    if let Some(ca) = ca {
        let added = add_pem_roots(&mut roots, ca).map_err(|e| format!("CA certificates: {e}"))?;
        if added == 0 {
            return Err(format!("{} holds no PEM certificate", ca.display()));
        }
    }
    trusting(roots)
}
