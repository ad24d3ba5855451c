//! The one way bytes leave the host: resolve once, check the address,
//! connect to exactly that address, send one request, read a bounded reply.
//!
//! Guarantees (each is a fail-closed rule):
//! - DNS is resolved once per request and the connection goes to an
//!   address from that answer that passed [`super::address::permits`]; the
//!   name is never resolved again (no rebinding between check and connect).
//! - Redirects are returned to the caller as they are, never followed.
//! - Connect, first-byte and total timeouts; response head and body caps.
//! - TLS verifies the server against the web PKI roots with the request's
//!   host name (SNI); plain `http` is only used when the URL says so.

use super::address::{Blocked, permits};
use super::config::EgressRules;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// A request ready to send: everything already checked and credentials
/// already added.
pub struct Outbound {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub request: http::Request<Bytes>,
}

/// The response, fully read.
#[derive(Debug)]
pub struct Inbound {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// Bytes received: head (approximate) and body.
    pub bytes_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{host} resolves only to blocked addresses ({class})")]
    Blocked { host: String, class: &'static str },
    #[error("cannot resolve {0}")]
    Dns(String),
    #[error("connect to {0} timed out")]
    ConnectTimeout(String),
    #[error("no response head within the first-byte timeout")]
    FirstByteTimeout,
    #[error("the exchange exceeded the total timeout")]
    TotalTimeout,
    #[error("response body larger than {0} bytes")]
    ResponseTooLarge(u64),
    #[error("response head larger than {0} bytes")]
    HeadTooLarge(u64),
    #[error("upstream error: {0}")]
    Upstream(String),
}

impl SendError {
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            SendError::ConnectTimeout(_) | SendError::FirstByteTimeout | SendError::TotalTimeout
        )
    }
}

/// Resolves `host` once and returns the first address the rules permit.
pub async fn resolve_permitted(
    host: &str,
    port: u16,
    rules: &EgressRules,
) -> Result<SocketAddr, SendError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let candidates: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| SendError::Dns(host.to_string()))?
            .collect(),
    };
    let mut blocked: Option<Blocked> = None;
    for addr in &candidates {
        match permits(addr.ip(), &rules.allow_cidrs) {
            Ok(()) => return Ok(*addr),
            Err(b) => blocked = blocked.or(Some(b)),
        }
    }
    match blocked {
        Some(b) => Err(SendError::Blocked {
            host: host.to_string(),
            class: b.class.as_str(),
        }),
        None => Err(SendError::Dns(host.to_string())),
    }
}

fn tls_config() -> Arc<tokio_rustls::rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<tokio_rustls::rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            client_config(web_pki_roots()).unwrap_or_else(|_| {
                Arc::new(
                    tokio_rustls::rustls::ClientConfig::builder()
                        .with_root_certificates(tokio_rustls::rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
            })
        })
        .clone()
}

/// A TLS client config trusting `roots`, with the host's crypto provider
/// (ring) and protocol versions: what every client the host makes uses.
///
/// # Errors
/// The provider refuses the protocol versions.
pub fn client_config(
    roots: tokio_rustls::rustls::RootCertStore,
) -> Result<Arc<tokio_rustls::rustls::ClientConfig>, String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Adds every certificate in the PEM file `path` to `roots` (a company
/// CA); returns how many.
///
/// # Errors
/// The file cannot be read, or a certificate in it is unusable.
pub fn add_pem_roots(
    roots: &mut tokio_rustls::rustls::RootCertStore,
    path: &std::path::Path,
) -> Result<usize, String> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|all| all.collect())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for cert in &certs {
        roots
            .add(cert.clone())
            .map_err(|e| format!("a certificate in {} is unusable: {e}", path.display()))?;
    }
    Ok(certs.len())
}

/// Sends `outbound` under `rules`. The whole exchange is bounded by the
/// total timeout.
pub async fn send(outbound: Outbound, rules: &EgressRules) -> Result<Inbound, SendError> {
    send_trusting(outbound, rules, None).await
}

/// [`send`], verifying an `https` server with `tls` instead of the web
/// PKI roots alone (the host's own requests to a platform's receiver
/// under a company CA; never app traffic).
pub async fn send_trusting(
    outbound: Outbound,
    rules: &EgressRules,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
) -> Result<Inbound, SendError> {
    match timeout(rules.total_timeout.get(), send_inner(outbound, rules, tls)).await {
        Ok(result) => result,
        Err(_) => Err(SendError::TotalTimeout),
    }
}

/// The web PKI roots the host trusts, for callers that add their own.
pub fn web_pki_roots() -> tokio_rustls::rustls::RootCertStore {
    tokio_rustls::rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
}

async fn send_inner(
    outbound: Outbound,
    rules: &EgressRules,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
) -> Result<Inbound, SendError> {
    let addr = resolve_permitted(&outbound.host, outbound.port, rules).await?;
    let connect = timeout(rules.connect_timeout.get(), TcpStream::connect(addr))
        .await
        .map_err(|_| SendError::ConnectTimeout(addr.to_string()))?
        .map_err(|e| SendError::Upstream(format!("connect to {addr}: {e}")))?;
    let max_head = rules.max_header_bytes.as_usize();
    if outbound.scheme == "https" {
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(outbound.host.clone())
            .map_err(|e| SendError::Upstream(format!("bad TLS name {}: {e}", outbound.host)))?;
        let connector = tokio_rustls::TlsConnector::from(tls.unwrap_or_else(tls_config));
        let tls = timeout(
            rules.connect_timeout.get(),
            connector.connect(name, connect),
        )
        .await
        .map_err(|_| SendError::ConnectTimeout(addr.to_string()))?
        .map_err(|e| SendError::Upstream(format!("TLS with {}: {e}", outbound.host)))?;
        exchange(TokioIo::new(tls), outbound.request, rules, max_head).await
    } else {
        exchange(TokioIo::new(connect), outbound.request, rules, max_head).await
    }
}

async fn exchange<IO>(
    io: IO,
    request: http::Request<Bytes>,
    rules: &EgressRules,
    max_head: usize,
) -> Result<Inbound, SendError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(max_head.max(8192))
        .handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|e| SendError::Upstream(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = request.map(Full::new);
    let response = timeout(rules.first_byte_timeout.get(), sender.send_request(request))
        .await
        .map_err(|_| SendError::FirstByteTimeout)?
        .map_err(|e| {
            if e.is_parse_too_large() {
                SendError::HeadTooLarge(max_head as u64)
            } else {
                SendError::Upstream(e.to_string())
            }
        })?;
    let head_bytes: usize = response
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + 16;
    if head_bytes > max_head {
        return Err(SendError::HeadTooLarge(max_head as u64));
    }
    let status = response.status().as_u16();
    let (parts, mut body) = response.into_parts();
    let max = rules.max_response_bytes.bytes();
    let mut collected = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| SendError::Upstream(e.to_string()))?;
        if let Some(data) = frame.data_ref() {
            if (collected.len() + data.len()) as u64 > max {
                return Err(SendError::ResponseTooLarge(max));
            }
            collected.extend_from_slice(data);
        }
    }
    Ok(Inbound {
        status,
        headers: parts.headers,
        bytes_in: (head_bytes + collected.len()) as u64,
        body: Bytes::from(collected),
    })
}
