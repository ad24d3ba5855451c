//! Slow, stalled and greedy clients cannot hold an app or the host, on the
//! app listener and on the admin listener: a stalled body holds no slot
//! and gets 408, unfinished heads are closed, connections are capped in
//! total and per peer, a head too large is 431.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;
use support::fixture;
use support::serving::{send, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `limit` passes, which
/// fails the test); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut out = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut out)).await {
        Ok(_) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => panic!("the server kept the connection open for {limit:?}"),
    }
}

async fn open(addr: SocketAddr, first_bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(first_bytes).await.unwrap();
    stream
}

const STALLED_BODY: &[u8] = b"POST /noop HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
const UNFINISHED_HEAD: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: ";

#[test]
fn a_stalled_body_holds_no_slot_of_the_app_and_gets_408() {
    let running = start(
        "[serve]\nmax_concurrency_per_app = 1\nbody_timeout = \"2s\"\n",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let addr = running.addr;
    support::block_on(async move {
        let mut stalled = open(addr, STALLED_BODY).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..5 {
            let other = send(addr, "POST", "/noop", "hi").await;
            assert_eq!((other.status, other.body.as_str()), (200, "hi"));
        }
        let answer = read_until_closed(&mut stalled, Duration::from_secs(30)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_id"), "{answer}");
    });
}

#[test]
fn three_hundred_unfinished_heads_are_closed_and_others_are_served_meanwhile() {
    let running = start(
        "[serve]\nhead_timeout = \"1s\"\nmax_connections_per_peer = 1000\n",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let addr = running.addr;
    support::block_on(async move {
        let mut slow = Vec::new();
        for _ in 0..300 {
            slow.push(open(addr, UNFINISHED_HEAD).await);
        }
        let other = send(addr, "POST", "/noop", "still here").await;
        assert_eq!(other.status, 200);
        for stream in &mut slow {
            read_until_closed(stream, Duration::from_secs(30)).await;
        }
    });
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_head_timeout() {
    let running = start(
        "[serve]\nhead_timeout = \"1s\"\n",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let addr = running.addr;
    support::block_on(async move {
        let mut stream = open(
            addr,
            b"POST /noop HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
        )
        .await;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).await.unwrap();
        assert_eq!(&status, b"HTTP/1.1 200");
        // Nothing more is sent: the connection, idle between requests, is
        // closed by the server.
        let rest = read_until_closed(&mut stream, Duration::from_secs(30)).await;
        assert!(rest.ends_with("hi"), "{rest}");
    });
}

#[test]
fn a_client_that_stops_reading_its_responses_is_disconnected() {
    let running = start(
        "[serve]\nsend_timeout = \"1s\"\nhead_timeout = \"60s\"\nbody_timeout = \"60s\"\nmax_request_body = \"4MiB\"\n",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let addr = running.addr;
    support::block_on(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        // 32 pipelined 1 MiB echoes: far more answer than socket buffers
        // hold, and this client reads none of it.
        let sending = tokio::spawn(async move {
            let body = vec![b'x'; 1024 * 1024];
            for _ in 0..32 {
                let head = format!(
                    "POST /noop HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if writer.write_all(head.as_bytes()).await.is_err()
                    || writer.write_all(&body).await.is_err()
                {
                    return;
                }
            }
            // Keep the write half open: only the server may end this.
            std::future::pending::<()>().await;
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        // Without the send deadline the server would wait on this client for
        // the keep-alive minute; with it the connection is gone already.
        let mut sink = Vec::new();
        let drained =
            tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut sink)).await;
        assert!(
            drained.is_ok(),
            "the server kept a client that does not read"
        );
        assert!(
            sink.len() < 32 * 1024 * 1024,
            "not every answer was sent: {} bytes",
            sink.len()
        );
        sending.abort();
    });
}

#[test]
fn connections_past_the_per_peer_cap_are_answered_503_and_closed() {
    let running = start(
        "[serve]\nmax_connections_per_peer = 4\n",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let addr = running.addr;
    support::block_on(async move {
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(open(addr, b"").await);
        }
        // The four are admitted before the fifth arrives: a request on the
        // first proves the server has accepted it, and accepts are in order.
        idle[0]
            .write_all(b"GET /noop HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        idle[0].read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        let mut fifth = open(addr, b"").await;
        let answer = read_until_closed(&mut fifth, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("retry-after: 1"), "{answer}");
        drop(idle);
        // Places free up when connections close (the server notices the
        // close on its own time: until then a new connection is turned
        // away, which the client sees as a 503 or an unsolicited answer).
        let mut again = None;
        for _ in 0..200 {
            if let Ok(reply) = tokio::spawn(send(addr, "POST", "/noop", "back")).await
                && reply.status == 200
            {
                again = Some(reply.body);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(again.as_deref(), Some("back"));
    });
}

#[test]
fn connections_past_the_total_cap_are_answered_503() {
    let running = start(
        "[serve]\nmax_connections = 2\n",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let addr = running.addr;
    support::block_on(async move {
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = open(addr, b"GET /noop HTTP/1.1\r\nHost: a\r\n\r\n").await;
            let mut status = [0u8; 12];
            stream.read_exact(&mut status).await.unwrap();
            assert_eq!(&status, b"HTTP/1.1 200");
            held.push(stream);
        }
        let mut third = open(addr, b"").await;
        let answer = read_until_closed(&mut third, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("too many open connections"), "{answer}");
    });
}

#[test]
fn a_request_head_over_the_size_cap_gets_431() {
    let running = start(
        "[serve]\nmax_header_size = \"4KiB\"\n",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let addr = running.addr;
    support::block_on(async move {
        let head = format!(
            "GET /noop HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "a".repeat(8 * 1024)
        );
        let mut stream = open(addr, head.as_bytes()).await;
        let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    });
}

#[test]
fn the_admin_listener_closes_unfinished_heads_caps_peers_and_times_out_bodies() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(
        &config,
        "[serve]\nhead_timeout = \"1s\"\nbody_timeout = \"1s\"\nmax_connections_per_peer = 3\n",
    )
    .unwrap();
    let host = support::process::Host::start(data.path(), &["--config", config.to_str().unwrap()]);
    let admin = host.admin_addr();
    let token = support::process::token(data.path(), "ops", "admin");
    support::block_on(async move {
        let mut slow = vec![open(admin, UNFINISHED_HEAD).await];
        let stalled = format!(
            "PUT /v1/secrets/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        );
        slow.push(open(admin, stalled.as_bytes()).await);
        slow.push(open(admin, b"").await);
        let mut fourth = open(admin, b"").await;
        let refused = read_until_closed(&mut fourth, Duration::from_secs(10)).await;
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        let unfinished = read_until_closed(&mut slow[0], Duration::from_secs(30)).await;
        assert_eq!(
            unfinished, "",
            "an unfinished head is closed without an answer"
        );
        let body = read_until_closed(&mut slow[1], Duration::from_secs(30)).await;
        assert!(body.starts_with("HTTP/1.1 408"), "{body}");
        read_until_closed(&mut slow[2], Duration::from_secs(30)).await;
    });
    let lines = host.stop();
    assert!(!lines.iter().any(|l| l.contains("secret")), "{lines:?}");
}

#[test]
fn out_of_file_descriptors_the_host_backs_off_logs_little_and_recovers() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("warden.toml");
    std::fs::write(
        &config,
        "[serve]\nhead_timeout = \"3s\"\nmax_connections_per_peer = 10000\nmax_connections = 10000\n",
    )
    .unwrap();
    let app = support::process::noop_app(data.path(), "noop", "");
    let host = support::process::Host::start_with_file_limit(
        data.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--app",
            app.to_str().unwrap(),
        ],
        128,
    );
    let addr = host.app_addr;
    support::block_on(async move {
        // More idle connections than the host has descriptors for: accept
        // fails until the head deadline closes them.
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(idle);
        let mut answered = None;
        for _ in 0..200 {
            if let Ok(Ok(reply)) = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::spawn(send(addr, "POST", "/noop", "up")),
            )
            .await
            {
                answered = Some(reply.status);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            answered,
            Some(200),
            "the host serves again once descriptors are free"
        );
    });
    let lines = host.stop();
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert!(
        !failures.is_empty(),
        "the test did exhaust descriptors: {lines:?}"
    );
    // One line per 10 s of failures, however fast accept fails.
    assert!(failures.len() <= 3, "{failures:?}");
}
