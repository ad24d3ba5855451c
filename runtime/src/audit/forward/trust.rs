//! The TLS client settings of a sink: the web PKI roots, plus a company
//! CA from `ca` (a SIEM inside the company usually has one).

use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// A client config trusting the web PKI roots and every certificate in
/// the PEM file `ca`, if given.
///
/// # Errors
/// The file cannot be read, holds no certificate, or one is unusable.
pub(crate) fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = warden_host_apis::egress::client::web_pki_roots();
    if let Some(ca) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .and_then(|all| all.collect())
            .map_err(|e| format!("cannot read the CA certificates {}: {e}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!("{} holds no PEM certificate", ca.display()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("a certificate in {} is unusable: {e}", ca.display()))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
