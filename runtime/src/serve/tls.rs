//! Optional TLS for both listeners (rustls), from PEM files named in
//! `[serve.tls]`:
//!
//! ```toml
//! [serve.tls]
//! cert = "/etc/warden/tls/cert.pem"   # the chain, leaf first
//! key = "/etc/warden/tls/key.pem"     # PKCS#8, PKCS#1 or SEC1
//! ```
//!
//! TLS 1.2 and 1.3 only, with rustls' safe defaults; HTTP/1.1 is announced
//! over ALPN. A handshake that fails or takes longer than 10 s drops that
//! connection only.

use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long a client has to finish the handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::config::tls::TlsSettings;

/// Builds the acceptor; errors name the file and the problem.
pub(crate) fn acceptor(settings: &TlsSettings) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&settings.cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "serve.tls.cert: cannot read certificates from {}: {e}",
                settings.cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "serve.tls.cert: {} holds no PEM certificate",
            settings.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|e| {
        format!(
            "serve.tls.key: cannot read a private key from {}: {e}",
            settings.key.display()
        )
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("serve.tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("serve.tls: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Completes the handshake on an accepted connection.
pub async fn handshake<IO>(
    acceptor: &TlsAcceptor,
    stream: IO,
) -> Option<tokio_rustls::server::TlsStream<IO>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        _ => None,
    }
}
