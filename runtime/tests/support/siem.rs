//! Real receivers on 127.0.0.1 for the audit sinks, each of which can be
//! stopped (connections cut, port closed) and started again on the same
//! port: a syslog server reading RFC 6587 octet-counted frames (plain or
//! TLS), an HTTP(S) webhook receiver, and an OTLP/HTTP logs receiver.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, BufReader};
use tokio_rustls::rustls;

/// What a receiver got: one delivery (a syslog message, a webhook
/// request, an OTLP export), with the audit entries in it in order.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub entries: Vec<serde_json::Value>,
    /// The syslog message, the webhook's body, or the OTLP records'
    /// attributes as JSON.
    pub raw: String,
    /// Request headers (webhook), lower-case names.
    pub headers: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Protocol {
    Syslog,
    Webhook,
    Otlp,
}

/// A self-signed certificate for 127.0.0.1 and its PEM file (to give a
/// sink as `ca`).
pub struct Cert {
    pub dir: tempfile::TempDir,
    pub server: Arc<rustls::ServerConfig>,
}

impl Cert {
    pub fn new() -> Cert {
        let dir = tempfile::tempdir().expect("tempdir");
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("certificate");
        std::fs::write(dir.path().join("ca.pem"), certified.cert.pem()).expect("write ca.pem");
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("server config");
        Cert {
            dir,
            server: Arc::new(server),
        }
    }

    pub fn ca(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }
}

/// A receiver on a fixed loopback port.
pub struct Siem {
    pub port: u16,
    protocol: Protocol,
    tls: Option<Arc<rustls::ServerConfig>>,
    got: Arc<Mutex<Vec<Delivery>>>,
    /// Webhook: how many next requests to answer 503.
    pub refuse: Arc<AtomicUsize>,
    /// The requests answered 503.
    refused: Arc<Mutex<Vec<Delivery>>>,
    running: Option<tokio::runtime::Runtime>,
}

/// A free loopback port (bound and let go at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Siem {
    /// A receiver that is not listening yet (its sink sees it down).
    pub fn down(protocol: Protocol, tls: Option<Arc<rustls::ServerConfig>>) -> Siem {
        Siem {
            port: free_port(),
            protocol,
            tls,
            got: Arc::default(),
            refuse: Arc::default(),
            refused: Arc::default(),
            running: None,
        }
    }

    /// A receiver listening now.
    pub fn up(protocol: Protocol, tls: Option<Arc<rustls::ServerConfig>>) -> Siem {
        let mut siem = Siem::down(protocol, tls);
        siem.start();
        siem
    }

    /// Starts listening on its port.
    pub fn start(&mut self) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", self.port)))
            .expect("bind the receiver's port again");
        let (protocol, tls, got, refuse) = (
            self.protocol,
            self.tls.clone(),
            self.got.clone(),
            (self.refuse.clone(), self.refused.clone()),
        );
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (tls, got, refuse) = (tls.clone(), got.clone(), refuse.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(protocol, stream, got, refuse).await,
                        Some(config) => {
                            if let Ok(stream) =
                                tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                            {
                                serve(protocol, stream, got, refuse).await;
                            }
                        }
                    }
                });
            }
        });
        self.running = Some(rt);
    }

    /// Stops: the port closes and every connection is cut.
    pub fn stop(&mut self) {
        if let Some(rt) = self.running.take() {
            rt.shutdown_background();
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().expect("lock").clone()
    }

    /// The requests it answered 503 (webhook).
    pub fn refused(&self) -> Vec<Delivery> {
        self.refused.lock().expect("lock").clone()
    }

    pub fn forget(&self) {
        self.got.lock().expect("lock").clear();
    }

    /// Every entry received, in the order received (repeats included).
    pub fn entries(&self) -> Vec<serde_json::Value> {
        self.deliveries()
            .into_iter()
            .flat_map(|d| d.entries)
            .collect()
    }

    /// The seqs received, in order, repeats included.
    pub fn seqs(&self) -> Vec<u64> {
        self.entries()
            .iter()
            .map(|e| e["seq"].as_u64().expect("an entry has a seq"))
            .collect()
    }
}

impl Drop for Siem {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The seqs of `seqs` without repeats, keeping each one's first place:
/// at-least-once delivery in order means this is 1, 2, 3, …
pub fn first_seen(seqs: &[u64]) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    seqs.iter().copied().filter(|s| seen.insert(*s)).collect()
}

/// How many requests to refuse, and the refused ones.
type Refusing = (Arc<AtomicUsize>, Arc<Mutex<Vec<Delivery>>>);

async fn serve<S>(protocol: Protocol, stream: S, got: Arc<Mutex<Vec<Delivery>>>, refuse: Refusing)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match protocol {
        Protocol::Syslog => read_frames(stream, got).await,
        Protocol::Webhook | Protocol::Otlp => {
            let service = service_fn(move |req| answer(protocol, req, got.clone(), refuse.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    }
}

/// Reads `LEN SP MSG` frames until the connection ends.
async fn read_frames<S: AsyncRead + Unpin>(stream: S, got: Arc<Mutex<Vec<Delivery>>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut len = Vec::new();
        match reader.read_until(b' ', &mut len).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(n) = std::str::from_utf8(&len[..len.len() - 1])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            panic!("a syslog frame must start with its length: {len:?}");
        };
        let mut message = vec![0u8; n];
        if reader.read_exact(&mut message).await.is_err() {
            return;
        }
        let message = String::from_utf8(message).expect("UTF-8 message");
        let body = message
            .split_once('\u{feff}')
            .map(|(_, b)| b)
            .expect("the message carries the entry after a BOM");
        let entry: serde_json::Value = serde_json::from_str(body).expect("the entry's JSON");
        got.lock().expect("lock").push(Delivery {
            entries: vec![entry],
            raw: message,
            headers: Vec::new(),
        });
    }
}

async fn answer(
    protocol: Protocol,
    req: hyper::Request<hyper::body::Incoming>,
    got: Arc<Mutex<Vec<Delivery>>>,
    (refuse, refused): Refusing,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let reply = |status: u16| {
        Ok(hyper::Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .expect("response"))
    };
    let delivery = match protocol {
        Protocol::Webhook => {
            let batch: serde_json::Value = serde_json::from_slice(&body).expect("a JSON batch");
            Delivery {
                entries: batch["entries"].as_array().expect("entries").clone(),
                raw: String::from_utf8_lossy(&body).into(),
                headers,
            }
        }
        _ => {
            assert_eq!(path, "/v1/logs", "OTLP logs go to /v1/logs");
            let request = ExportLogsServiceRequest::decode(body).expect("OTLP logs");
            let mut entries = Vec::new();
            let mut attributes = Vec::new();
            for record in request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => s.clone(),
                    other => panic!("the record's body is the entry's JSON: {other:?}"),
                };
                entries.push(serde_json::from_str(&body).expect("the entry's JSON"));
                attributes.push(
                    record
                        .attributes
                        .iter()
                        .map(|kv| format!("{}={:?}", kv.key, kv.value))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
            Delivery {
                entries,
                raw: attributes.join("\n"),
                headers,
            }
        }
    };
    if refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        refused.lock().expect("lock").push(delivery);
        return reply(503);
    }
    got.lock().expect("lock").push(delivery);
    reply(200)
}
