//! Connection hygiene for both listeners (apps and admin API): what a
//! client may hold of the host, and for how long.
//!
//! Threat model: a client that opens connections and sends nothing, sends
//! a request head or body a byte at a time, or never finishes a header
//! line, and a host that has run out of file descriptors. None of them may
//! hold an app's concurrency slot, grow memory without bound, or spin the
//! accept loop. Fail-closed rules:
//!
//! | what                          | bound (`[serve]` key, default)                         | then                              |
//! |-------------------------------|--------------------------------------------------------|-----------------------------------|
//! | request head, incl. keep-alive idle | `head_timeout`, 10 s, from when the server starts waiting for a request | connection closed |
//! | request head size             | `max_header_size`, 32 KiB                              | 431, closed                       |
//! | request body                  | `body_timeout`, 30 s, after the head (admin API: without progress) | 408, closed           |
//! | response, client not reading  | `send_timeout`, 30 s without progress                  | connection closed                 |
//! | open connections              | `max_connections`, 1024 per listener                   | 503 `Retry-After: 1`, closed      |
//! | open connections of one peer  | `max_connections_per_peer`, 256 per IPv4 address or IPv6 /64 | 503 `Retry-After: 1`, closed |
//! | `accept` failing (EMFILE, …)  | backoff 5 ms doubling to 1 s                           | one log line per 10 s, with a count |
//!
//! hyper counts the head deadline from the moment it waits for a request,
//! so the same deadline is the keep-alive idle timeout. An app's
//! concurrency slot is taken only once its whole body has arrived (see
//! [`crate::serve::Server::handle`]).

use crate::caps::{Caps, Full, Held};
use hyper_util::rt::TokioIo;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// The client bounds of one listener, from `[serve]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientLimits {
    pub head_timeout: Duration,
    pub body_timeout: Duration,
    /// How long one write of a response may wait for the client to read.
    pub send_timeout: Duration,
    pub max_header_size: usize,
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
}

impl ClientLimits {
    pub fn of(serve: &crate::config::platform::ServeSettings) -> ClientLimits {
        ClientLimits {
            head_timeout: serve.head_timeout.get(),
            body_timeout: serve.body_timeout.get(),
            send_timeout: serve.send_timeout.get(),
            max_header_size: serve.max_header_size.as_usize(),
            max_connections: serve.max_connections,
            max_connections_per_peer: serve.max_connections_per_peer,
        }
    }

    /// An HTTP/1.1 connection builder with the head deadline and size cap.
    pub fn http1(&self) -> hyper::server::conn::http1::Builder {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.head_timeout)
            .max_header_size(self.max_header_size);
        builder
    }
}

/// Counts open connections of one listener, in total and per peer address.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: ClientLimits,
    open: Arc<Caps<IpAddr>>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: ClientLimits,
    _place: Held<IpAddr>,
}

impl Admission {
    /// The bounds of the listener that admitted this connection.
    pub fn limits(&self) -> &ClientLimits {
        &self.limits
    }
}

impl Gate {
    pub fn new(limits: ClientLimits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            open: Caps::new(limits.max_connections, limits.max_connections_per_peer),
        })
    }

    /// Admits a connection from `peer`, or says which cap is full.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<Admission, Full> {
        self.open.take(peer_key(peer)).map(|place| Admission {
            limits: self.limits,
            _place: place,
        })
    }
}

/// What counts as one peer: an IPv4 address, or an IPv6 /64 (the
/// smallest prefix a site is usually given, so one host cannot pose as
/// many by cycling through its addresses).
fn peer_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            }
        },
    }
}

fn refusal(full: Full) -> &'static str {
    match full {
        Full::Total => "too many open connections",
        Full::Key => "too many open connections from this address",
    }
}

/// Tells a turned-away client why, without waiting on it, and closes.
async fn turn_away(mut stream: TcpStream, full: Full) {
    let body = format!("{{\"error\":\"{}\"}}", refusal(full));
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_millis(100), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Backoff and rate-limited logging for a failing `accept`.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    label: &'static str,
    delay: Duration,
    last_log: Option<Instant>,
    suppressed: u64,
}

/// Refused connections answered at once; more are just closed.
const MAX_TURNING_AWAY: usize = 64;

const FIRST_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(10);

impl AcceptBackoff {
    pub fn new(label: &'static str) -> AcceptBackoff {
        AcceptBackoff {
            label,
            delay: FIRST_DELAY,
            last_log: None,
            suppressed: 0,
        }
    }

    /// After a failed accept: the line to log, if one is due, and how long
    /// to wait before accepting again.
    pub fn failed(&mut self, error: &std::io::Error, now: Instant) -> (Option<String>, Duration) {
        let wait = self.delay;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        let due = self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY);
        if !due {
            self.suppressed += 1;
            return (None, wait);
        }
        let line = if self.suppressed > 0 {
            format!(
                "{} accept failed: {error} ({} more failures since the last report; retrying with backoff)",
                self.label, self.suppressed
            )
        } else {
            format!(
                "{} accept failed: {error} (retrying with backoff)",
                self.label
            )
        };
        self.last_log = Some(now);
        self.suppressed = 0;
        (Some(line), wait)
    }

    /// After a successful accept.
    pub(crate) fn succeeded(&mut self) {
        self.delay = FIRST_DELAY;
    }
}

/// Serves HTTP/1.1 on one admitted connection (after the TLS handshake
/// when `tls` is given), under its listener's bounds, until it closes or a
/// graceful shutdown ends it.
pub(crate) async fn serve_http1<S, B>(
    stream: TcpStream,
    admission: Admission,
    tls: Option<tokio_rustls::TlsAcceptor>,
    watcher: hyper_util::server::graceful::Watcher,
    service: S,
) where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let http1 = admission.limits().http1();
    let stream = super::send_deadline::SendDeadline::new(stream, admission.limits().send_timeout);
    match tls {
        None => {
            let conn = http1.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
        }
        Some(acceptor) => {
            let Some(stream) = super::tls::handshake(&acceptor, stream).await else {
                return;
            };
            let conn = http1.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
        }
    }
    drop(admission);
}

/// Accepts connections until `stop` resolves, admitting each through
/// `gate` and handing it to `serve` in its own task; a refused connection
/// is answered 503 and closed.
pub(crate) async fn accept_loop<S, F>(
    listener: &TcpListener,
    gate: &Arc<Gate>,
    label: &'static str,
    stop: impl std::future::Future<Output = ()>,
    serve: S,
) where
    S: Fn(TcpStream, Admission) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut backoff = AcceptBackoff::new(label);
    // Connections being answered 503; past this many, a refused one is
    // closed at once (each holds a descriptor while it is answered).
    let turning_away = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(e) => {
                let (line, wait) = backoff.failed(&e, Instant::now());
                if let Some(line) = line {
                    tracing::warn!("{line}");
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = &mut stop => return,
                }
            }
        };
        match gate.admit(peer.ip()) {
            Ok(admission) => {
                tokio::spawn(serve(stream, admission));
            }
            Err(full) => {
                use std::sync::atomic::Ordering::SeqCst;
                if turning_away.fetch_add(1, SeqCst) < MAX_TURNING_AWAY {
                    let counter = turning_away.clone();
                    tokio::spawn(async move {
                        turn_away(stream, full).await;
                        counter.fetch_sub(1, SeqCst);
                    });
                } else {
                    turning_away.fetch_sub(1, SeqCst);
                    drop(stream);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_peers_count_by_their_64_bit_prefix_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(IpAddr::from([0u8; 4]));
        let b: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::from([0u8; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0u8; 4]));
        assert_eq!(peer_key(a), peer_key(b));
        assert_ne!(peer_key(a), peer_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0u8; 4]));
        assert_eq!(peer_key(mapped), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn a_failing_accept_backs_off_and_logs_once_per_interval_with_a_count() {
        let mut backoff = AcceptBackoff::new("app");
        let error = std::io::Error::from_raw_os_error(24);
        let start = Instant::now();
        let mut lines = Vec::new();
        let mut waits = Vec::new();
        for i in 0..1_000u64 {
            let (line, wait) = backoff.failed(&error, start + Duration::from_millis(i * 20));
            lines.extend(line);
            waits.push(wait);
        }
        assert_eq!(waits[0], FIRST_DELAY);
        assert_eq!(waits[1], FIRST_DELAY * 2);
        assert_eq!(*waits.last().unwrap_or(&Duration::ZERO), MAX_DELAY);
        // 1,000 failures over 20 s: one line per 10 s, not one per failure.
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[1].contains("499 more failures"), "{}", lines[1]);
        backoff.succeeded();
        assert_eq!(backoff.failed(&error, start).1, FIRST_DELAY);
    }
}
