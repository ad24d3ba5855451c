//! Where the admin API runs: threads and an async runtime of its own, so
//! that guests burning CPU on every app worker cannot delay a kill or any
//! other admin call, behind the same connection bounds as the app
//! listener ([`crate::serve::connections`]).

use super::AdminState;
use crate::serve::connections::{self, ClientLimits, Gate, accept_loop};
use axum::body::Body;
use axum::response::IntoResponse;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::ServiceExt;

/// Serves the admin API on `listener` in a thread of its own until `stop`
/// turns true; the handle ends when the listener has drained.
pub fn spawn(
    state: AdminState,
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let limits = ClientLimits::of(&state.server.runtime().platform().serve);
    // Two workers: one slow handler (an audit verify, a large upload)
    // does not hold up a kill.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("warden-admin")
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("warden-admin".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!("the admin API cannot listen: {e}");
                        return;
                    }
                };
                let router = super::router(state);
                let gate = Gate::new(limits);
                let graceful = hyper_util::server::graceful::GracefulShutdown::new();
                let stopped = async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                };
                accept_loop(
                    &listener,
                    &gate,
                    "admin listener",
                    stopped,
                    |stream, admission| {
                        let router = router.clone();
                        let body_timeout = admission.limits().body_timeout;
                        let peer = stream.peer_addr().ok().map(|a| Peer(a.ip()));
                        let service = hyper::service::service_fn(
                            move |mut request: hyper::Request<hyper::body::Incoming>| {
                                if let Some(peer) = peer {
                                    request.extensions_mut().insert(peer);
                                }
                                answer(router.clone(), request, body_timeout)
                            },
                        );
                        connections::serve_http1(
                            stream,
                            admission,
                            tls.clone(),
                            graceful.watcher(),
                            service,
                        )
                    },
                )
                .await;
                let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
            });
        })
}

/// The address a request came from (for per-client limits of endpoints
/// anyone may call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer(pub std::net::IpAddr);

/// Routes one request, its body bounded by `body_timeout` without
/// progress (uploads of large components take longer than that in total):
/// a client that stops sending mid-body gets 408, whatever the handler
/// made of the cut.
async fn answer(
    router: axum::Router,
    request: hyper::Request<Incoming>,
    body_timeout: Duration,
) -> Result<axum::response::Response, std::convert::Infallible> {
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(Deadline {
        inner: body,
        limit: body_timeout,
        sleep: Box::pin(tokio::time::sleep(body_timeout)),
        expired: expired.clone(),
    });
    let response = router
        .oneshot(hyper::Request::from_parts(parts, body))
        .await?;
    if expired.load(Ordering::SeqCst) {
        let mut timeout = super::ApiError(
            http::StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time".into(),
        )
        .into_response();
        timeout.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return Ok(timeout);
    }
    Ok(response)
}

/// A request body that fails once `limit` has passed without a frame.
struct Deadline {
    inner: Incoming,
    limit: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            let next = tokio::time::Instant::now() + self.limit;
            self.sleep.as_mut().reset(next);
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::SeqCst);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
