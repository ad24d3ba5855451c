//! `[serve.tls]`: both listeners speak TLS with the configured certificate;
//! the CLI reaches the admin API over https with `WARDEN_CA_CERT`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use support::example;
use support::library::LibHost;
use support::process::token;
use tokio_rustls::rustls;

struct Tls {
    dir: tempfile::TempDir,
}

impl Tls {
    fn new() -> Tls {
        let dir = tempfile::tempdir().unwrap();
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            certified.key_pair.serialize_pem(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("warden.toml"),
            format!(
                "[serve.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
                dir.path().join("cert.pem").display(),
                dir.path().join("key.pem").display()
            ),
        )
        .unwrap();
        Tls { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// GET over TLS, trusting only `ca`.
fn https_get(addr: std::net::SocketAddr, path: &str, ca: &str) -> (u16, String) {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    support::block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = http::Request::get(path)
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

fn warden(data: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args(args).env("WARDEN_DATA_DIR", data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn both_listeners_speak_tls_and_the_cli_trusts_a_private_ca() {
    let tls = Tls::new();
    let data = tempfile::tempdir().unwrap();
    let manifest = example("hello-http");
    let token = token(data.path(), "ops", "auditor");
    let host = LibHost::start(
        data.path(),
        Some(std::path::Path::new(&tls.path("warden.toml"))),
        &[std::path::Path::new(&manifest)],
    );
    assert!(host.admin.starts_with("https://"), "{}", host.admin);
    let (status, body) = https_get(host.app_addr, "/hello/tls", &tls.path("cert.pem"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tls"), "{body}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = std::net::TcpStream::connect(host.app_addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /hello/x HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));

    let apps = warden(
        data.path(),
        &[
            ("WARDEN_TOKEN", &token),
            ("WARDEN_CA_CERT", &tls.path("cert.pem")),
        ],
        &["apps", "--server", &host.admin],
    );
    assert!(
        apps.status.success(),
        "{}",
        String::from_utf8_lossy(&apps.stderr)
    );
    assert!(String::from_utf8_lossy(&apps.stdout).contains("hello-http"));
    let untrusted = warden(
        data.path(),
        &[("WARDEN_TOKEN", &token)],
        &["apps", "--server", &host.admin],
    );
    assert!(!untrusted.status.success());
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("WARDEN_CA_CERT"),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );
    host.stop();
}

#[test]
fn a_missing_or_mismatched_key_stops_start_up_naming_the_field() {
    let tls = Tls::new();
    let other = Tls::new();
    let data = tempfile::tempdir().unwrap();
    let config = tls.dir.path().join("bad.toml");
    for (cert, key, field) in [
        (tls.path("cert.pem"), tls.path("nope.pem"), "serve.tls.key"),
        (tls.path("cert.pem"), other.path("key.pem"), "serve.tls"),
    ] {
        std::fs::write(
            &config,
            format!("[serve.tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n"),
        )
        .unwrap();
        let out = warden(
            data.path(),
            &[],
            &["serve", "--config", config.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(3));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(field), "{stderr}");
    }
}
