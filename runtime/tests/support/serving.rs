//! A `warden serve` host in its own thread, and an HTTP client for tests.
#![allow(dead_code)]

use super::TestHost;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use warden_runtime::serve::{Server, bind};

pub struct Running {
    pub addr: SocketAddr,
    pub server: Arc<Server>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<std::thread::JoinHandle<()>>,
    _host: TestHost,
}

impl Running {
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a server in its own thread and runtime with the given apps.
pub fn start(config: &str, apps: &[(&str, std::path::PathBuf, &str)]) -> Running {
    let host = TestHost::with_config(config);
    let platform = host.runtime.platform().clone();
    let runtime = Arc::new(
        warden_runtime::Runtime::new(platform, warden_runtime::telemetry::disabled())
            .expect("runtime"),
    );
    let loaded: Vec<_> = apps
        .iter()
        .map(|(name, component, extra)| {
            runtime
                .load_app(&host.manifest(name, component, extra))
                .expect("load")
        })
        .collect();
    let server = Arc::new(Server::new(runtime, loaded).expect("server"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let serving = server.clone();
    let done = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let (listener, addr) = bind("127.0.0.1:0").await.expect("bind");
            addr_tx.send(addr).expect("addr");
            serving
                .run(listener, async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
        });
    });
    let addr = addr_rx.recv().expect("server address");
    Running {
        addr,
        server,
        stop: Some(stop_tx),
        done: Some(done),
        _host: host,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

pub async fn send(addr: SocketAddr, method: &str, path: &str, body: &str) -> Reply {
    send_with(addr, method, path, body, &[]).await
}

/// `send` with extra request headers.
pub async fn send_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Reply {
    super::block_on(send(addr, method, path, body))
}

/// Waits (up to 10 s) until `app` has a request running.
pub async fn wait_in_flight(server: &Server, app: &str) {
    let served = server.app(app).expect("served app");
    for _ in 0..1000 {
        if served.in_flight() > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no request of `{app}` got in flight");
}
