//! Governed egress against real HTTP servers on 127.0.0.1: connectors with
//! host-injected credentials, scopes, quotas, the allowlist, address
//! blocking, redirects, caps and timeouts, and OAuth2 token reuse.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::upstream::Upstream;
use support::{TestHost, block_on, fixture, text};
use warden_runtime::invoke::{InvocationReport, InvocationRequest};

const TOKEN: &str = "s3cr3t-crm-token-8f2a";

pub(crate) fn platform(upstream: &Upstream, extra: &str) -> String {
    format!(
        r#"
[[connectors]]
name = "crm"
base_url = "{base}"
auth = {{ kind = "bearer", secret = "crm-token" }}
max_class = "internal"
vendor = {{ dpa = true, residency = "eu", incident_notification = "72h" }}
scopes = {{ read = ["GET /contacts/**"], write = ["POST /contacts"] }}

[[connectors]]
name = "billing"
base_url = "{root}/billing"
scopes = {{ read = ["GET /**"] }}

{extra}
"#,
        base = upstream.url("/api"),
        root = upstream.url(""),
    )
}

pub(crate) const LOOPBACK_ALLOWED: &str = "[egress]\nallow_cidrs = [\"127.0.0.1/32\"]\n";

fn host_with(upstream: &Upstream, extra: &str) -> TestHost {
    let host = TestHost::with_config(&platform(upstream, extra));
    host.set_secret("crm-token", TOKEN);
    host
}

fn call(host: &TestHost, manifest_extra: &str, input: &str) -> InvocationReport {
    let manifest = host.manifest("crm-app", &fixture("connector_call"), manifest_extra);
    let app = host.load(&manifest);
    block_on(host.runtime.invoke(&app, InvocationRequest::cli(input)))
}

fn fetch(host: &TestHost, allowed: &str, args: &[&str]) -> InvocationReport {
    let manifest = host.manifest(
        "fetcher",
        &fixture("http_fetch"),
        &format!("[egress]\nallowed_hosts = [{allowed}]\n[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n"),
    );
    let app = host.load(&manifest);
    let args = args.iter().map(|s| s.to_string()).collect();
    block_on(
        host.runtime
            .invoke(&app, InvocationRequest::cli(Vec::new()).with_args(args)),
    )
}

/// Sends `GET path` to the upstream as an `allowed_hosts` entry on a host
/// that allows loopback plus `egress_extra`; returns what the guest printed.
fn fetch_allowed(upstream: &Upstream, egress_extra: &str, path: &str) -> String {
    let host = host_with(upstream, &format!("{LOOPBACK_ALLOWED}{egress_extra}"));
    let allowed = format!("\"http://127.0.0.1:{}\"", upstream.addr.port());
    text(&fetch(&host, &allowed, &["GET", &upstream.url(path)]).stdout)
}

pub(crate) const READ_GRANT: &str = "[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n";

#[test]
fn a_granted_call_carries_the_credential_the_guest_never_sees() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let report = call(
        &host,
        READ_GRANT,
        r#"{"connector":"crm","method":"GET","path":"/contacts/42?fields=name","headers":[["authorization","Bearer guest-forged"],["x-trace","t1"]]}"#,
    );
    let output = text(report.result.as_ref().expect("granted call works"));
    assert!(output.contains("ok from upstream"), "{output}");
    assert!(
        !output.contains(TOKEN),
        "the guest saw the credential: {output}"
    );

    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/contacts/42?fields=name");
    let auth: Vec<_> = seen[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "authorization")
        .collect();
    assert_eq!(auth.len(), 1, "{:?}", seen[0].headers);
    assert_eq!(auth[0].1, format!("Bearer {TOKEN}"));
    assert!(
        seen[0]
            .headers
            .iter()
            .any(|(k, v)| k == "x-trace" && v == "t1")
    );
    // Nothing the guest printed or logged holds the credential either.
    assert!(!text(&report.stdout).contains(TOKEN) && !text(&report.stderr).contains(TOKEN));
}

#[test]
fn a_write_with_a_read_scope_is_denied_before_anything_is_sent() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let report = call(
        &host,
        READ_GRANT,
        r#"{"connector":"crm","method":"POST","path":"/contacts","body":"{}"}"#,
    );
    let err = report
        .result
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("ScopeDenied") && err.contains("outside the granted scopes (read)"),
        "{err}"
    );
    assert_eq!(upstream.seen().len(), 0);
    assert_eq!(report.denials[0].kind.as_str(), "scope-denied");
}

#[test]
fn path_traversal_out_of_a_scope_is_denied() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let report = call(
        &host,
        READ_GRANT,
        r#"{"connector":"crm","method":"GET","path":"/contacts/../admin"}"#,
    );
    assert!(report.result.is_err());
    assert_eq!(upstream.seen().len(), 0);
}

#[test]
fn an_ungranted_connector_is_denied() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let report = call(
        &host,
        READ_GRANT,
        r#"{"connector":"billing","method":"GET","path":"/invoices"}"#,
    );
    let err = report
        .result
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("Denied(")
            && err.contains("NotGranted")
            && err.contains("no grant for connector `billing`"),
        "{err}"
    );
    assert_eq!(upstream.seen().len(), 0);
}

#[test]
fn the_call_quota_runs_out_names_itself_and_survives_a_restart() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let grant = format!("{READ_GRANT}[quota]\nconnector_calls = 2\n");
    let input = r#"{"connector":"crm","method":"GET","path":"/contacts/1"}"#;
    for _ in 0..2 {
        assert!(call(&host, &grant, input).result.is_ok());
    }
    let report = call(&host, &grant, input);
    let err = report
        .result
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("QuotaExceeded") && err.contains("quota `connector_calls` exhausted"),
        "{err}"
    );
    assert_eq!(
        report.result.as_ref().err().map(|e| e.as_str()),
        Some("app-error")
    );
    assert!(
        report.denials.is_empty(),
        "quota is not a denial: {:?}",
        report.denials
    );
    assert!(
        err.contains("used 2 of 2") && err.contains("resets at"),
        "{err}"
    );
    assert_eq!(upstream.hits("/api/contacts"), 2);

    // A new runtime on the same data directory still counts today's calls.
    let config = std::fs::read_to_string(host.dir.path().join("warden.toml")).expect("config");
    let dir = host.dir;
    let restarted = TestHost::in_dir(dir, &config);
    let report = call(&restarted, &grant, input);
    assert!(report.result.is_err(), "quota forgotten after restart");
    assert_eq!(upstream.hits("/api/contacts"), 2);
}

#[test]
fn loopback_is_blocked_by_default_and_allowed_by_an_explicit_cidr() {
    let upstream = Upstream::start();
    let allowed = format!("\"http://127.0.0.1:{}\"", upstream.addr.port());
    let blocked_host = host_with(&upstream, "");
    let report = fetch(&blocked_host, &allowed, &["GET", &upstream.url("/plain")]);
    let out = text(&report.stdout);
    assert!(out.contains("DestinationIpProhibited"), "{out}");
    assert_eq!(report.denials[0].kind.as_str(), "address-blocked");
    assert_eq!(upstream.seen().len(), 0);

    let open_host = host_with(&upstream, LOOPBACK_ALLOWED);
    let report = fetch(&open_host, &allowed, &["GET", &upstream.url("/plain")]);
    let out = text(&report.stdout);
    assert!(
        out.contains("status 200") && out.contains("ok from upstream"),
        "{out}"
    );
}

#[test]
fn a_hostname_resolving_to_loopback_is_blocked() {
    let upstream = Upstream::start();
    let port = upstream.addr.port();
    let host = host_with(&upstream, "");
    let report = fetch(
        &host,
        &format!("\"http://localhost:{port}\""),
        &["GET", &format!("http://localhost:{port}/x")],
    );
    assert!(
        text(&report.stdout).contains("DestinationIpProhibited"),
        "{}",
        text(&report.stdout)
    );
    assert_eq!(upstream.seen().len(), 0);
}

#[test]
fn hosts_outside_the_allowlist_are_denied_without_a_lookup() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let report = fetch(
        &host,
        "\"https://api.example.com\"",
        &["GET", &upstream.url("/x")],
    );
    assert!(
        text(&report.stdout).contains("HttpRequestDenied"),
        "{}",
        text(&report.stdout)
    );
    assert_eq!(report.denials[0].kind.as_str(), "egress-denied");
    assert_eq!(upstream.seen().len(), 0);
}

#[test]
fn wasi_http_to_a_connector_url_gets_the_credential_and_the_scope_check() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let report = fetch(&host, "", &["GET", &upstream.url("/api/contacts/7")]);
    let out = text(&report.stdout);
    assert!(out.contains("status 200") && !out.contains(TOKEN), "{out}");
    assert!(
        upstream.seen()[0]
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v.contains(TOKEN))
    );

    let report = fetch(&host, "", &["POST", &upstream.url("/api/contacts"), "{}"]);
    assert!(text(&report.stdout).contains("HttpRequestDenied"));
    assert_eq!(upstream.seen().len(), 1);
}

#[test]
fn redirects_are_returned_not_followed() {
    let upstream = Upstream::start();
    let out = fetch_allowed(&upstream, "", "/redirect");
    assert!(
        out.contains("status 302") && out.contains("127.0.0.2:1/evil"),
        "{out}"
    );
    assert_eq!(upstream.seen().len(), 1);
}

#[test]
fn a_huge_response_is_cut_at_the_cap() {
    let upstream = Upstream::start();
    let out = fetch_allowed(&upstream, "max_response_bytes = \"1MiB\"\n", "/huge");
    assert!(
        out.starts_with("error:") && out.contains("larger than 1048576"),
        "{out}"
    );
}

#[test]
fn a_slow_upstream_is_timed_out() {
    let upstream = Upstream::start();
    let started = std::time::Instant::now();
    let out = fetch_allowed(&upstream, "first_byte_timeout = \"300ms\"\n", "/slow");
    assert!(out.contains("HttpResponseTimeout"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn an_oauth2_token_is_fetched_once_and_reused() {
    let upstream = Upstream::start();
    let config = format!(
        "{LOOPBACK_ALLOWED}\n[[connectors]]\nname = \"erp\"\nbase_url = \"{}\"\nauth = {{ kind = \"oauth2\", token_url = \"{}\", client_id = \"warden\", secret = \"erp-client\", scopes = [\"read\"] }}\nscopes = {{ read = [\"GET /**\"] }}\n",
        upstream.url("/erp"),
        upstream.url("/token")
    );
    let host = TestHost::with_config(&config);
    host.set_secret("erp-client", "client-secret-value");
    let manifest = host.manifest(
        "erp-app",
        &fixture("connector_call"),
        "[[connectors]]\nname = \"erp\"\nscopes = [\"read\"]\n",
    );
    let app = host.load(&manifest);
    for _ in 0..3 {
        let report = block_on(host.runtime.invoke(
            &app,
            InvocationRequest::cli(r#"{"connector":"erp","method":"GET","path":"/orders"}"#),
        ));
        let out = text(report.result.as_ref().expect("erp call"));
        assert!(!out.contains("tok-from-idp"), "{out}");
    }
    assert_eq!(upstream.hits("/token"), 1);
    assert_eq!(host.runtime.credentials().token_fetches(), 1);
    let token_request = upstream
        .seen()
        .into_iter()
        .find(|s| s.path == "/token")
        .expect("token request");
    assert!(token_request.body.contains("grant_type=client_credentials"));
    let api_calls: Vec<_> = upstream
        .seen()
        .into_iter()
        .filter(|s| s.path == "/erp/orders")
        .collect();
    assert_eq!(api_calls.len(), 3);
    assert!(api_calls.iter().all(|s| {
        s.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer tok-from-idp")
    }));
}

#[test]
fn each_outbound_call_is_a_span_without_query_or_credential() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let report = call(
        &host,
        READ_GRANT,
        r#"{"connector":"crm","method":"GET","path":"/contacts/42?email=a@b.c"}"#,
    );
    assert!(report.result.is_ok());
    let spans = host.spans.get_finished_spans().expect("spans");
    let egress = spans
        .iter()
        .find(|s| s.name == "egress")
        .expect("egress span");
    let rendered = format!("{:?}", egress.attributes);
    assert!(
        rendered.contains("GET /contacts/**") && rendered.contains("crm"),
        "{rendered}"
    );
    assert!(rendered.contains("200"), "{rendered}");
    assert!(
        !rendered.contains("a@b.c") && !rendered.contains(TOKEN),
        "{rendered}"
    );
    let root = spans.iter().find(|s| s.name == "invocation").expect("root");
    assert_eq!(egress.parent_span_id, root.span_context.span_id());
}

#[test]
fn a_manifest_naming_an_unknown_connector_or_scope_fails_at_load() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, "");
    let manifest = host.manifest(
        "x",
        &fixture("connector_call"),
        "[[connectors]]\nname = \"crm\"\nscopes = [\"admin\"]\n",
    );
    let err = host
        .runtime
        .load_app(&manifest)
        .err()
        .expect("unknown scope")
        .to_string();
    assert!(
        err.contains("no scope `admin`") && err.contains("read, write"),
        "{err}"
    );
    let manifest = host.manifest(
        "x",
        &fixture("connector_call"),
        "[[connectors]]\nname = \"slack\"\nscopes = [\"read\"]\n",
    );
    let err = host
        .runtime
        .load_app(&manifest)
        .err()
        .expect("unknown connector")
        .to_string();
    assert!(
        err.contains("no connector `slack`") && err.contains("crm, billing"),
        "{err}"
    );
    let manifest = host.manifest(
        "x",
        &fixture("connector_call"),
        "[egress]\nallowed_hosts = [\"*\"]\n",
    );
    let err = host
        .runtime
        .load_app(&manifest)
        .err()
        .expect("bad host")
        .to_string();
    assert!(err.contains("egress.allowed_hosts"), "{err}");
}

#[test]
fn a_response_head_over_the_header_cap_is_refused() {
    let upstream = Upstream::start();
    let out = fetch_allowed(&upstream, "max_header_bytes = \"8KiB\"\n", "/bigheaders");
    assert!(
        out.starts_with("error:") && out.contains("head larger than"),
        "{out}"
    );
}

#[test]
fn requests_per_minute_refuses_the_invocation_with_a_quota_error() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, "");
    let manifest = host.manifest(
        "limited",
        &fixture("noop_handler"),
        "[quota]\nrequests_per_minute = 2\n",
    );
    let app = host.load(&manifest);
    for _ in 0..2 {
        assert!(
            block_on(host.runtime.invoke(&app, InvocationRequest::cli("x")))
                .result
                .is_ok()
        );
    }
    let report = block_on(host.runtime.invoke(&app, InvocationRequest::cli("x")));
    let err = report.result.as_ref().expect_err("third call refused");
    assert_eq!(err.as_str(), "quota-exceeded");
    assert_eq!(err.exit_code(), 19);
    let message = err.to_string();
    assert!(
        message.contains("requests_per_minute")
            && message.contains("used 2 of 2")
            && message.contains("resets at"),
        "{message}"
    );
}

#[test]
fn a_head_answer_keeps_the_length_it_declares_and_a_get_is_framed_by_its_body() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let allowed = format!("\"http://127.0.0.1:{}\"", upstream.addr.port());
    let length_of = |method: &str, path: &str| {
        let report = fetch(&host, &allowed, &[method, &upstream.url(path)]);
        let out = text(&report.stdout);
        let lengths: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("header content-length: "))
            .map(str::to_string)
            .collect();
        (lengths, out)
    };
    let body = "ok from upstream";
    let (lengths, out) = length_of("GET", "/plain");
    assert_eq!(lengths, [body.len().to_string()], "{out}");
    assert!(out.contains(&format!("body {body}")), "{out}");
    // A HEAD or 304 answer has no body; its length describes the resource.
    let (lengths, out) = length_of("HEAD", "/plain");
    assert_eq!(lengths, [body.len().to_string()], "{out}");
    assert_eq!(out.lines().last(), Some("body "), "no body: {out}");
    // A 204 has no length at all (RFC 9110 §8.6).
    let (lengths, out) = length_of("GET", "/nocontent");
    assert!(lengths.is_empty(), "{out}");

    // A 304 may declare the length of what did not change (hyper never
    // sends one, so this upstream writes its answer by hand).
    let raw = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = raw.local_addr().unwrap().port();
    let answering = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = raw.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(
                b"HTTP/1.1 304 Not Modified\r\ncontent-length: 16\r\nconnection: close\r\n\r\n",
            )
            .unwrap();
    });
    let allowed = format!("{allowed}, \"http://127.0.0.1:{port}\"");
    let report = fetch(
        &host,
        &allowed,
        &["GET", &format!("http://127.0.0.1:{port}/cached")],
    );
    answering.join().unwrap();
    let out = text(&report.stdout);
    assert!(out.contains("status 304"), "{out}");
    assert!(out.contains("header content-length: 16"), "{out}");
}

#[test]
fn dlp_redacts_bodies_to_public_hosts_and_blocks_where_configured() {
    let upstream = Upstream::start();
    let host = host_with(
        &upstream,
        &format!("{LOOPBACK_ALLOWED}\n[dlp.outbound]\ninternal = \"block\"\n"),
    );
    let allowed = format!("\"http://127.0.0.1:{}\"", upstream.addr.port());
    let report = fetch(
        &host,
        &allowed,
        &[
            "POST",
            &upstream.url("/plain"),
            "customer bob@example.com paid",
        ],
    );
    assert!(
        text(&report.stdout).contains("status 200"),
        "{}",
        text(&report.stdout)
    );
    let body = &upstream.seen()[0].body;
    assert!(
        body.starts_with("customer [REDACTED:email:") && !body.contains("bob@"),
        "{body}"
    );
    // The whole redacted body arrives, framed by Warden, not by the length
    // the guest declared for its original body.
    assert!(body.ends_with("] paid"), "{body}");
    let length = upstream.seen()[0]
        .headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.clone());
    assert_eq!(length, Some(body.len().to_string()));

    // crm is cleared for internal, where this platform blocks findings.
    let report = call(
        &host,
        "[[connectors]]\nname = \"crm\"\nscopes = [\"read\", \"write\"]\n",
        r#"{"connector":"crm","method":"POST","path":"/contacts","body":"card 4111 1111 1111 1111"}"#,
    );
    let err = report
        .result
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("card=1"), "{err}");
    // The guest is told the platform refused, not that the SaaS failed.
    assert!(
        err.contains("DlpBlocked") && !err.contains("Upstream"),
        "{err}"
    );
    assert_eq!(upstream.hits("/api/contacts"), 0);
    let denial = &report.denials[0];
    assert_eq!(denial.kind.as_str(), "dlp-blocked");
    assert!(!denial.target.contains("4111"), "{}", denial.target);
    let spans = host.spans.get_finished_spans().expect("spans");
    let blocked = spans
        .iter()
        .filter(|s| s.name == "egress")
        .find(|s| format!("{:?}", s.attributes).contains("dlp-blocked"));
    assert!(blocked.is_some_and(|s| format!("{:?}", s.attributes).contains("card=1")));
}

#[test]
fn an_invocation_continues_the_callers_trace_and_passes_it_on() {
    let upstream = Upstream::start();
    let host = host_with(&upstream, LOOPBACK_ALLOWED);
    let manifest = host.manifest("crm-app", &fixture("connector_call"), READ_GRANT);
    let app = host.load(&manifest);
    let mut request = InvocationRequest::cli(
        r#"{"connector":"crm","method":"GET","path":"/contacts/7","headers":[["traceparent","00-11111111111111111111111111111111-2222222222222222-01"]]}"#,
    );
    let caller = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        format!("00-{caller}-00f067aa0ba902b7-01").parse().unwrap(),
    );
    request.parent = warden_runtime::telemetry::propagation::extract(&headers);
    let report = block_on(host.runtime.invoke(&app, request));
    assert!(report.result.is_ok());
    let spans = host.spans.get_finished_spans().unwrap();
    let root = spans.iter().find(|s| s.name == "invocation").unwrap();
    assert_eq!(root.span_context.trace_id().to_string(), caller);
    assert_eq!(root.parent_span_id.to_string(), "00f067aa0ba902b7");
    let egress = spans.iter().find(|s| s.name == "egress").unwrap();
    let seen = upstream.seen();
    let sent = seen
        .iter()
        .find(|s| s.path.ends_with("/contacts/7"))
        .and_then(|s| s.headers.iter().find(|(k, _)| k == "traceparent"))
        .map(|(_, v)| v.clone())
        .expect("traceparent sent upstream");
    assert_eq!(
        sent,
        format!("00-{caller}-{}-01", egress.span_context.span_id()),
        "the guest's own traceparent is replaced by the host's"
    );
}

#[test]
fn a_blocked_address_or_a_kill_reaches_the_guest_as_a_denial_not_an_upstream_failure() {
    let upstream = Upstream::start();
    // No allow_cidrs: the connector's loopback address is blocked.
    let host = host_with(&upstream, "");
    let report = call(
        &host,
        READ_GRANT,
        r#"{"connector":"crm","method":"GET","path":"/contacts/1"}"#,
    );
    let err = report
        .result
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("Denied(") && err.contains("AddressBlocked") && !err.contains("Upstream("),
        "{err}"
    );
    assert_eq!(upstream.seen().len(), 0);
}
