//! The syslog sink: each audit entry as one RFC 5424 message, over TCP
//! with octet-counting framing (RFC 6587 §3.4.1), in TLS when `tls` is on
//! (RFC 5425, which requires that framing).
//!
//! A message, for entry 42 (a kill):
//!
//! ```text
//! <108>1 2026-12-01T14:06:52.123456Z node-a warden 4242 app.killed [warden@32473 seq="42" app="expense-bot" actor="alice" hash="…" prev="…"] BOM{…the entry's JSON line…}
//! ```
//!
//! Facility 13 ("log audit"); severity warning (4) for kills, refusals,
//! policy denials, containment, SLO burns, tampering and repairs
//! ([`super::is_alarm`]), notice (5) for the rest. The
//! structured data's SD-ID uses enterprise number 32473, which RFC 5612
//! reserves for documentation: Warden has none of its own, and a receiver
//! matches on the name part. The message is the entry exactly as the
//! chain holds it, so a SIEM can check the hashes itself.
//!
//! Syslog over TCP has no acknowledgement. A batch counts as delivered
//! when the receiver's TCP has acknowledged every byte (the socket's send
//! queue is empty) and the connection is still open; a receiver that
//! closes or resets the connection before that gets the batch again on a
//! new connection. What a receiver acknowledged but never read before it
//! died is lost to it: where that matters, use the webhook or OTLP sink,
//! which an HTTP status acknowledges.

use super::Sink;
use crate::audit::AuditEntry;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// RFC 5424 facility 13: log audit.
const FACILITY: u8 = 13;

/// A byte stream to the receiver, plain or in TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

struct Connection {
    stream: Box<dyn Stream>,
    /// The TCP socket under it, for its send queue.
    fd: std::os::fd::RawFd,
}

/// A syslog receiver at `address`.
pub(crate) struct Syslog {
    address: String,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    hostname: String,
    procid: String,
    connection: Option<Connection>,
}

impl Syslog {
    /// A sink for `address` (`host:port`), speaking TLS with `tls`.
    ///
    /// # Errors
    /// The host is not a usable TLS server name.
    pub(crate) fn new(address: &str, tls: Option<Arc<ClientConfig>>) -> Result<Syslog, String> {
        let host = address
            .rsplit_once(':')
            .map_or(address, |(h, _)| h)
            .trim_matches(['[', ']']);
        let tls = match tls {
            None => None,
            Some(config) => Some((
                config,
                ServerName::try_from(host.to_string())
                    .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?,
            )),
        };
        Ok(Syslog {
            address: address.to_string(),
            tls,
            hostname: super::hostname(),
            procid: std::process::id().to_string(),
            connection: None,
        })
    }

    async fn connect(&self) -> Result<Connection, String> {
        let tcp = TcpStream::connect(&self.address)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.address))?;
        let _ = tcp.set_nodelay(true);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((config, name)) => Box::new(
                tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", self.address))?,
            ),
        };
        Ok(Connection { stream, fd })
    }

    /// The message for `entry` (RFC 5424 §6).
    pub(crate) fn message(&self, entry: &AuditEntry) -> String {
        let severity = if super::is_alarm(&entry.kind) { 4 } else { 5 };
        let mut data = format!("[warden@32473 seq=\"{}\"", entry.seq);
        if let Some(app) = &entry.app {
            data.push_str(&format!(" app=\"{}\"", param(app)));
        }
        data.push_str(&format!(
            " actor=\"{}\" hash=\"{}\" prev=\"{}\"]",
            param(&entry.actor),
            param(&entry.hash),
            param(&entry.prev)
        ));
        let line = serde_json::to_string(entry).unwrap_or_default();
        format!(
            "<{}>1 {} {} warden {} {} {data} \u{feff}{line}",
            FACILITY * 8 + severity,
            entry.time,
            header_field(&self.hostname, 255),
            header_field(&self.procid, 128),
            header_field(&entry.kind, 32),
        )
    }
}

/// A header field: printable US-ASCII without spaces, at most `max`
/// characters, `-` when empty (RFC 5424 §6.2).
fn header_field(text: &str, max: usize) -> String {
    let field: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if field.is_empty() { "-".into() } else { field }
}

/// A structured-data value, with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn param(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `message` framed by its length in octets (RFC 6587 §3.4.1).
pub(crate) fn frame(message: &str) -> Vec<u8> {
    let mut framed = format!("{} ", message.len()).into_bytes();
    framed.extend_from_slice(message.as_bytes());
    framed
}

impl Connection {
    /// Whether the receiver still has the connection open: a read that
    /// finds nothing within a few milliseconds means open (a syslog
    /// receiver never sends); end of stream or an error means closed.
    async fn open(&mut self) -> Result<(), String> {
        let mut scratch = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(5), self.stream.read(&mut scratch)).await {
            Err(_) | Ok(Ok(1..)) => Ok(()),
            Ok(Ok(0)) => Err("the receiver closed the connection".into()),
            Ok(Err(e)) => Err(format!("the connection failed: {e}")),
        }
    }

    /// Waits until the receiver's TCP has acknowledged every byte sent
    /// (the caller bounds the wait: a receiver that stops reading fills
    /// its window and the batch times out).
    async fn acknowledged(&self) -> Result<(), String> {
        let mut pause = Duration::from_millis(1);
        while unacknowledged(self.fd)? > 0 {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// Bytes in the socket's send queue not yet acknowledged by the peer.
#[cfg(target_os = "linux")]
fn unacknowledged(fd: std::os::fd::RawFd) -> Result<i32, String> {
    let mut queued: libc::c_int = 0;
    // SAFETY: `fd` is the open socket the connection owns; TIOCOUTQ
    // (SIOCOUTQ) writes one c_int to the pointer given.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) };
    if rc != 0 {
        return Err(format!(
            "cannot read the socket's send queue: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(queued)
}

#[cfg(not(target_os = "linux"))]
fn unacknowledged(_fd: std::os::fd::RawFd) -> Result<i32, String> {
    Ok(0)
}

#[async_trait::async_trait]
impl Sink for Syslog {
    async fn deliver(&mut self, entries: &[AuditEntry]) -> Result<(), String> {
        // A connection the receiver closed while idle is replaced before
        // anything is written to it.
        if let Some(connection) = &mut self.connection
            && connection.open().await.is_err()
        {
            self.connection = None;
        }
        let mut connection = match self.connection.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut bytes = Vec::new();
        for entry in entries {
            bytes.extend(frame(&self.message(entry)));
        }
        let write = async {
            connection
                .stream
                .write_all(&bytes)
                .await
                .map_err(|e| format!("cannot write to {}: {e}", self.address))?;
            connection
                .stream
                .flush()
                .await
                .map_err(|e| format!("cannot write to {}: {e}", self.address))?;
            connection.acknowledged().await?;
            connection.open().await
        };
        write.await?;
        self.connection = Some(connection);
        Ok(())
    }

    fn reset(&mut self) {
        self.connection = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_rfc_5424_with_the_entry_as_its_body() {
        let sink = Syslog::new("127.0.0.1:6514", None).unwrap_or_else(|e| unreachable!("{e}"));
        let entry = AuditEntry {
            seq: 42,
            time: "2026-12-01T14:06:52.123456Z".into(),
            kind: "app.killed".into(),
            app: Some("expense-bot".into()),
            actor: "al\"ice]".into(),
            details: serde_json::json!({"why": "drill"}),
            prev: "aa".into(),
            hash: "bb".into(),
        };
        let message = sink.message(&entry);
        let expected_head = format!(
            "<108>1 2026-12-01T14:06:52.123456Z {} warden {} app.killed [warden@32473 seq=\"42\" app=\"expense-bot\" actor=\"al\\\"ice\\]\" hash=\"bb\" prev=\"aa\"] \u{feff}",
            header_field(&super::super::hostname(), 255),
            std::process::id()
        );
        assert!(message.starts_with(&expected_head), "{message}");
        let body = &message[expected_head.len()..];
        let back: AuditEntry = serde_json::from_str(body).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(back, entry);
        let framed = frame(&message);
        assert_eq!(
            framed,
            [format!("{} ", message.len()).as_bytes(), message.as_bytes()].concat()
        );
        let notice = AuditEntry {
            kind: "app.deployed".into(),
            app: None,
            ..entry
        };
        let text = sink.message(&notice);
        assert!(text.starts_with("<109>1 "), "{text}");
        assert!(!text.contains(" app=\""), "{text}");
    }
}
