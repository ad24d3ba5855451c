//! A small admin API client for the CLI verbs that talk to a running host
//! (`--server`, token from `WARDEN_TOKEN`). `https://` servers are checked
//! against the web PKI roots plus, if set, the PEM CA in `WARDEN_CA_CERT`
//! (for a host with a private or self-signed certificate).

use super::exit::{Outcome, fail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Sends one request; returns the status and the JSON body.
pub fn call(
    server: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    send(
        server,
        method,
        path,
        "application/json",
        Bytes::from(payload),
    )
}

/// Sends `payload` as `content_type`; returns the status and the JSON body.
pub fn send(
    server: &str,
    method: &str,
    path: &str,
    content_type: &str,
    payload: Bytes,
) -> Result<(u16, Value), String> {
    let (status, bytes) = send_raw(server, method, path, content_type, payload)?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// `GET path`: the body's bytes (a file the host makes, such as an audit
/// export), or the host's error.
pub fn download(server: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    match send_raw(server, "GET", path, "application/json", Bytes::new()) {
        Ok((200, bytes)) => Ok(bytes.to_vec()),
        Ok((status, bytes)) => {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Err(fail(
                1,
                format!(
                    "{status}: {}",
                    body["error"].as_str().unwrap_or("the host refused")
                ),
            ))
        }
        Err(e) => Err(fail(1, e)),
    }
}

/// Sends `payload` as `content_type`; returns the status and the body.
fn send_raw(
    server: &str,
    method: &str,
    path: &str,
    content_type: &str,
    payload: Bytes,
) -> Result<(u16, Bytes), String> {
    let token = std::env::var("WARDEN_TOKEN")
        .map_err(|_| "set WARDEN_TOKEN to a token from `warden tokens create`".to_string())?;
    let url = url::Url::parse(server).map_err(|e| format!("--server `{server}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "--server `{server}`: use an http:// or https:// URL"
        ));
    }
    let tls = if url.scheme() == "https" {
        Some(tls_connector()?)
    } else {
        None
    };
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port_or_known_default().unwrap_or(8081);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot reach {server}: {e} (is `warden serve` running?)"))?;
        let mut sender = match tls {
            None => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                sender
            }
            Some(connector) => {
                let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| format!("--server `{server}`: {e}"))?;
                let stream = connector
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS with {server} failed: {e} (for a private CA, set WARDEN_CA_CERT to its PEM file)"))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                sender
            }
        };
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, format!("{host}:{port}"))
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Full::new(payload))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, bytes))
    })
}

/// A TLS client trusting the web PKI roots and `WARDEN_CA_CERT`, if set.
fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    use warden_host_apis::egress::client::{add_pem_roots, client_config, web_pki_roots};
    let mut roots = web_pki_roots();
    if let Ok(path) = std::env::var("WARDEN_CA_CERT") {
        add_pem_roots(&mut roots, std::path::Path::new(&path))
            .map_err(|e| format!("WARDEN_CA_CERT: {e}"))?;
    }
    Ok(tokio_rustls::TlsConnector::from(client_config(roots)?))
}

/// Prints the result of an admin call; exit code 0 on 2xx, 1 otherwise.
pub fn report(result: Result<(u16, Value), String>) -> Outcome {
    match result {
        Ok((status, value)) if (200..300).contains(&status) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            Ok(())
        }
        Ok((status, value)) => Err(fail(
            1,
            format!(
                "the server answered {status}: {}",
                value["error"].as_str().unwrap_or("no detail")
            ),
        )),
        Err(e) => Err(fail(super::EXIT_CONFIG, e)),
    }
}
