//! A small admin API client for the CLI verbs that talk to a running host
//! (`--server`, token from `WARDEN_TOKEN`).

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
    let token = std::env::var("WARDEN_TOKEN")
        .map_err(|_| "set WARDEN_TOKEN to a token from `warden tokens create`".to_string())?;
    let url = url::Url::parse(server).map_err(|e| format!("--server `{server}`: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "--server `{server}`: only http:// is supported by this client"
        ));
    }
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
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, format!("{host}:{port}"))
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(payload)))
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
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    })
}

/// Prints the result of an admin call; exit code 0 on 2xx, 1 otherwise.
pub fn report(result: Result<(u16, Value), String>) -> std::process::ExitCode {
    match result {
        Ok((status, value)) if (200..300).contains(&status) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            std::process::ExitCode::SUCCESS
        }
        Ok((status, value)) => {
            eprintln!(
                "warden: the server answered {status}: {}",
                value["error"].as_str().unwrap_or("no detail")
            );
            std::process::ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("warden: {e}");
            std::process::ExitCode::from(super::EXIT_CONFIG)
        }
    }
}
