//! The machine's ceiling for `benches/serve-vs-wasmtime.sh`: a native
//! hyper HTTP/1.1 server answering what `examples/hello-http` answers
//! (`hello, NAME\n` for `/hello/NAME`, `text/plain`), on a multi-threaded
//! tokio runtime like `warden serve`'s — no Wasm, no governance. Warden's
//! figures are read as a share of this one.
//!
//! ```sh
//! cargo run --release -p warden-benches --bin native-hello -- 127.0.0.1:18095
//! ```

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::net::TcpListener;

/// The greeting `examples/hello-http` gives for this path.
fn greeting(path: &str) -> String {
    let name = path
        .trim_start_matches('/')
        .strip_prefix("hello")
        .unwrap_or("")
        .trim_start_matches('/')
        .split(['?', '/'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("world");
    format!("hello, {name}\n")
}

async fn hello(
    request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let body = greeting(request.uri().path());
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18095".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!(
        "native hello listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}
