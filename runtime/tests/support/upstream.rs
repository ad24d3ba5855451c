//! A real HTTP server on 127.0.0.1 for egress tests: records every request
//! it receives and answers by path.
//!
//! | path       | answer                                         |
//! |------------|------------------------------------------------|
//! | `/redirect`| 302 to http://127.0.0.2:1/evil                 |
//! | `/nocontent` | 204                                          |
//! | `/huge`    | 200 with a 12 MiB body                         |
//! | `/bigheaders` | 200 with 32 KB of headers                   |
//! | `/slow`    | 200 after 3 s                                  |
//! | `/token`   | 200 OAuth2 token JSON (`tok-from-idp`, 1 h)    |
//! | anything   | 200 `ok from upstream`                         |
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let log = seen.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let serve = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let log = log.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| answer(req, log.clone()));
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stop_rx => {}
                }
            });
        });
        let addr = addr_rx.recv().expect("server address");
        Upstream {
            addr,
            seen,
            stop: Some(stop_tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.starts_with(path))
            .count()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    log: Arc<Mutex<Vec<Seen>>>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    log.lock().expect("lock").push(Seen {
        method,
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let response = hyper::Response::builder().header("x-upstream", "yes");
    let response = match path.split('?').next().unwrap_or_default() {
        "/nocontent" => response.status(204).body(Full::new(Bytes::new())),
        "/redirect" => response
            .status(302)
            .header("location", "http://127.0.0.2:1/evil")
            .body(Full::new(Bytes::new())),
        "/bigheaders" => {
            let mut r = response;
            for i in 0..32 {
                r = r.header(format!("x-filler-{i}"), "f".repeat(1000));
            }
            r.body(Full::new(Bytes::from_static(b"headers")))
        }
        "/huge" => response.body(Full::new(Bytes::from(vec![b'x'; 12 << 20]))),
        "/slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            response.body(Full::new(Bytes::from_static(b"finally")))
        }
        "/token" => response
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"access_token":"tok-from-idp","token_type":"Bearer","expires_in":3600}"#,
            ))),
        _ => response.body(Full::new(Bytes::from_static(b"ok from upstream"))),
    };
    Ok(response.expect("response"))
}
