//! Forwarding the audit log to a SIEM (`[[audit.sinks]]`), against real
//! receivers on 127.0.0.1: syslog over TLS, an HTTPS webhook and an OTLP
//! collector each get every entry in order; receivers that are down — at
//! start, across a host restart, and cut off mid-stream — get everything
//! once they are back; `GET /v1/telemetry` shows each sink's lag. On
//! shared state (`scripts/test.sh`'s second pass) the positions live in
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;
use std::path::Path;
use std::time::{Duration, Instant};
use support::library::LibHost;
use support::process::{set_secret, warden_with};
use support::siem::{Cert, Protocol, Siem, first_seen};

/// Polls `check` every 50 ms for up to `within`.
fn until(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// The sinks as `GET /v1/telemetry` reports them, by name.
fn sinks(host: &LibHost, token: &str) -> serde_json::Map<String, serde_json::Value> {
    let (status, body) =
        support::admin_api::call_as(host.admin_addr(), token, "GET", "/v1/telemetry", "");
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    report["audit_sinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

/// The seq of the log's last entry, read by `warden audit verify --json`.
fn head(config: &Path, data: &Path) -> u64 {
    let out = warden_with(config, data, &["audit", "verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", support::said(&out)));
    report["entries"]
        .as_u64()
        .unwrap_or_else(|| panic!("verify --json gives the count: {report}"))
}

/// Whether `siem` has every entry 1..=`last`, first seen in order, each
/// chained to the one before (so the receiver can check the chain).
fn has_all(siem: &Siem, last: u64) -> bool {
    let entries = siem.entries();
    let mut by_seq = std::collections::BTreeMap::new();
    for e in &entries {
        by_seq
            .entry(e["seq"].as_u64().unwrap())
            .or_insert(e.clone());
    }
    if first_seen(&siem.seqs()) != (1..=last).collect::<Vec<_>>() {
        return false;
    }
    by_seq
        .values()
        .zip(by_seq.values().skip(1))
        .all(|(a, b)| b["prev"] == a["hash"])
}

fn token(config: &Path, data: &Path) -> String {
    support::process::token_with(config, data, "ops", "admin")
}

#[test]
fn every_entry_reaches_syslog_over_tls_an_https_webhook_and_otlp_in_order() {
    let cert = Cert::new();
    let syslog = Siem::up(Protocol::Syslog, Some(cert.server.clone()));
    let hook = Siem::up(Protocol::Webhook, Some(cert.server.clone()));
    let otlp = Siem::up(Protocol::Otlp, None);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[audit.sinks]]
name = "siem"
kind = "syslog"
address = "127.0.0.1:{}"
tls = true
ca = "{ca}"

[[audit.sinks]]
name = "hook"
kind = "webhook"
url = "https://127.0.0.1:{}/warden/audit"
ca = "{ca}"
token_secret = "siem-token"
batch = 3
headers = {{ X-Tenant = "acme" }}

[[audit.sinks]]
name = "collector"
kind = "otlp"
endpoint = "http://127.0.0.1:{}"
{}"#,
            syslog.port,
            hook.port,
            otlp.port,
            support::shared_state(),
            ca = cert.ca(),
        ),
    )
    .unwrap();
    set_secret(&data, Some(&config), "siem-token", "s3cret-token");
    for i in 0..5 {
        set_secret(&data, Some(&config), &format!("k{i}"), "v");
    }
    let admin = token(&config, &data);
    let host = LibHost::start(&data, Some(&config), &[]);
    // The host signs a checkpoint as it starts (the last entry for an
    // hour): wait until every receiver has it, then check all before it.
    let checkpointed = |siem: &Siem| {
        siem.entries()
            .iter()
            .any(|e| e["kind"] == "audit.checkpoint")
    };
    assert!(
        until(Duration::from_secs(20), || [&syslog, &hook, &otlp]
            .iter()
            .all(|s| checkpointed(s))),
        "every sink gets the start checkpoint: {:?}",
        sinks(&host, &admin)
    );
    let last = head(&config, &data);
    assert!(last >= 8, "6 secrets, a token and a checkpoint: {last}");
    for siem in [&syslog, &hook, &otlp] {
        assert!(
            has_all(siem, last),
            "{:?} got {:?}, the head is {last}",
            siem.deliveries().first().map(|d| d.raw.clone()),
            siem.seqs()
        );
        // Nothing failed, so nothing was sent twice.
        assert_eq!(siem.seqs(), (1..=last).collect::<Vec<_>>());
    }
    assert!(
        until(Duration::from_secs(5), || {
            sinks(&host, &admin)
                .values()
                .all(|s| s["lag_entries"] == 0 && s["forwarding_here"] == true)
        }),
        "{:?}",
        sinks(&host, &admin)
    );
    let report = sinks(&host, &admin);
    assert_eq!(
        report["siem"]["target"],
        format!("syslog+tls://127.0.0.1:{}", syslog.port)
    );
    assert_eq!(report["siem"]["head_seq"], last);
    assert_eq!(report["siem"]["lag_seconds"], 0.0);
    assert!(report["siem"]["last_error"].is_null(), "{report:?}");
    assert!(
        report["hook"]["last_delivered_at"].is_string(),
        "{report:?}"
    );

    // Syslog: RFC 5424 with facility 13 (log audit), the entry's seq in
    // the structured data and the entry itself after the BOM.
    let messages = syslog.deliveries();
    let deployed = &messages[0].raw;
    assert!(deployed.starts_with("<109>1 "), "{deployed}");
    assert!(deployed.contains(" warden "), "{deployed}");
    assert!(
        deployed.contains(" secret.set [warden@32473 seq=\"1\" actor=\""),
        "{deployed}"
    );
    // Webhook: batches of at most 3, the token from the secret store,
    // the platform's header, an idempotency key naming the batch.
    for delivery in hook.deliveries() {
        assert!(delivery.entries.len() <= 3);
        let header = |name: &str| {
            delivery
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header("authorization").as_deref(),
            Some("Bearer s3cret-token")
        );
        assert_eq!(header("x-tenant").as_deref(), Some("acme"));
        let first = delivery.entries[0]["seq"].as_u64().unwrap();
        let last = delivery.entries.last().unwrap()["seq"].as_u64().unwrap();
        assert_eq!(
            header("idempotency-key"),
            Some(format!("hook-{first}-{last}"))
        );
        let body: serde_json::Value = serde_json::from_str(&delivery.raw).unwrap();
        assert_eq!(
            (body["first_seq"].as_u64(), body["last_seq"].as_u64()),
            (Some(first), Some(last))
        );
    }
    // OTLP: log records carrying the seq and kind as attributes.
    let records = otlp.deliveries();
    assert!(
        records[0].raw.contains("warden.audit.seq") && records[0].raw.contains("warden.audit.kind"),
        "{}",
        records[0].raw
    );
    host.stop();
}

#[test]
fn receivers_that_are_down_get_everything_when_back_even_across_a_restart() {
    let mut syslog = Siem::down(Protocol::Syslog, None);
    let mut hook = Siem::down(Protocol::Webhook, None);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[audit.sinks]]
name = "siem"
kind = "syslog"
address = "127.0.0.1:{}"
max_backoff = "200ms"

[[audit.sinks]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{}/audit"
batch = 2
max_backoff = "200ms"
{}"#,
            syslog.port,
            hook.port,
            support::shared_state(),
        ),
    )
    .unwrap();
    for i in 0..3 {
        set_secret(&data, Some(&config), &format!("k{i}"), "v");
    }
    let admin = token(&config, &data);

    // Both receivers down: the entries wait, and the lag says so.
    let host = LibHost::start(&data, Some(&config), &[]);
    assert!(
        until(Duration::from_secs(20), || {
            sinks(&host, &admin).values().all(|s| {
                s["last_error"].is_string()
                    && s["lag_entries"].as_u64() >= Some(4)
                    && s["delivered_seq"] == 0
                    && s["failing_since"].is_string()
            })
        }),
        "{:?}",
        sinks(&host, &admin)
    );
    let lagging = sinks(&host, &admin);
    assert!(
        lagging["siem"]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{lagging:?}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        sinks(&host, &admin)["hook"]["lag_seconds"].as_f64() >= Some(1.0),
        "the lag in seconds is the age of the oldest entry not delivered"
    );
    host.stop();

    // Written while no host runs.
    set_secret(&data, Some(&config), "offline", "v");
    syslog.start();
    hook.start();
    // The webhook's first answers are 503s: retried, not skipped.
    hook.refuse.store(2, std::sync::atomic::Ordering::SeqCst);
    let host = LibHost::start(&data, Some(&config), &[]);
    let caught_up = |host: &LibHost| {
        sinks(host, &admin)
            .values()
            .all(|s| s["lag_entries"] == 0 && s["delivered_seq"].as_u64() > Some(0))
    };
    assert!(
        until(Duration::from_secs(20), || caught_up(&host)),
        "{:?}",
        sinks(&host, &admin)
    );
    let last = head(&config, &data);
    assert!(has_all(&syslog, last), "{:?} / {last}", syslog.seqs());
    assert!(has_all(&hook, last), "{:?} / {last}", hook.seqs());
    // The refused batch was sent again unchanged, with its key, though
    // entries came meanwhile (the start checkpoint).
    assert_eq!(hook.refuse.load(std::sync::atomic::Ordering::SeqCst), 0);
    let key = |d: &support::siem::Delivery| {
        let seqs: Vec<_> = d.entries.iter().map(|e| e["seq"].clone()).collect();
        let key = d.headers.iter().find(|(k, _)| k == "idempotency-key");
        (key.map(|(_, v)| v.clone()), seqs)
    };
    let refused: Vec<_> = hook.refused().iter().map(key).collect();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0], refused[1]);
    assert_eq!(refused[0], key(&hook.deliveries()[0]));

    // Cut off mid-stream: the receiver goes away, entries are written,
    // it comes back and gets them.
    syslog.stop();
    hook.stop();
    for i in 0..3 {
        set_secret(&data, Some(&config), &format!("while-down-{i}"), "v");
    }
    assert!(
        until(Duration::from_secs(10), || {
            sinks(&host, &admin)
                .values()
                .all(|s| s["last_error"].is_string())
        }),
        "{:?}",
        sinks(&host, &admin)
    );
    syslog.start();
    hook.start();
    assert!(
        until(Duration::from_secs(20), || caught_up(&host)),
        "{:?}",
        sinks(&host, &admin)
    );
    let last = head(&config, &data);
    assert!(has_all(&syslog, last), "{:?} / {last}", syslog.seqs());
    assert!(has_all(&hook, last), "{:?} / {last}", hook.seqs());
    host.stop();

    // The host delivered its shutdown checkpoint before it exited: the
    // receivers hold the seal of the log as it was left.
    let before = head(&config, &data);
    for siem in [&syslog, &hook] {
        let last = siem.entries().last().cloned().unwrap();
        assert_eq!(last["seq"], before, "{:?}", siem.seqs());
        assert_eq!(last["kind"], "audit.checkpoint");
        assert_eq!(last["details"]["reason"], "shutdown");
    }
    // The position was kept: a restart sends only what is new, not the
    // log again.
    set_secret(&data, Some(&config), "after-restart", "v");
    syslog.forget();
    hook.forget();
    let host = LibHost::start(&data, Some(&config), &[]);
    // When each sink last delivered is known from its kept position.
    assert!(
        sinks(&host, &admin)
            .values()
            .all(|s| s["last_delivered_at"].is_string()),
        "{:?}",
        sinks(&host, &admin)
    );
    assert!(
        until(Duration::from_secs(20), || caught_up(&host)
            && syslog.seqs().contains(&(before + 1))
            && hook.seqs().contains(&(before + 1))),
        "{:?}",
        sinks(&host, &admin)
    );
    assert!(
        syslog
            .seqs()
            .iter()
            .chain(&hook.seqs())
            .all(|s| *s > before),
        "only new entries after a restart: {:?} {:?} (head was {before})",
        syslog.seqs(),
        hook.seqs()
    );
    host.stop();

    // The log rewritten while no host ran (its hashes recomputed): the
    // sinks do not forward a different history as if it went on.
    let mut entries = support::audit_files::entries_of(&config, &data);
    entries[0]["actor"] = "someone-else".into();
    support::audit_files::rewrite_of(&config, &data, &mut entries);
    set_secret(&data, Some(&config), "after-rewrite", "v");
    syslog.forget();
    hook.forget();
    let host = LibHost::start(&data, Some(&config), &[]);
    assert!(
        until(Duration::from_secs(20), || sinks(&host, &admin)
            .values()
            .all(|s| s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("no longer holds entry")))),
        "{:?}",
        sinks(&host, &admin)
    );
    assert!(
        sinks(&host, &admin)
            .values()
            .all(|s| s["lag_entries"].as_u64() > Some(0))
    );
    assert_eq!((syslog.seqs(), hook.seqs()), (vec![], vec![]));
    host.stop();
}

#[test]
fn a_sink_that_cannot_work_stops_the_start_naming_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (sink, field, says) in [
        (
            "kind = \"syslog\"\naddress = \"127.0.0.1:6514\"\ntls = true\nca = \"/nonexistent/ca.pem\"",
            "audit.sinks[0].ca",
            "/nonexistent/ca.pem",
        ),
        ("kind = \"otlp\"", "audit.sinks[0].endpoint", "no collector"),
    ] {
        let config = dir.path().join("warden.toml");
        std::fs::write(
            &config,
            format!("[[audit.sinks]]\nname = \"siem\"\n{sink}\n"),
        )
        .unwrap();
        let out = support::process::serve_once(&config, &data);
        let said = support::said(&out);
        assert_eq!(out.status.code(), Some(3), "{said}");
        assert!(
            said.contains(field) && said.contains(says) && said.contains("fix:"),
            "{said}"
        );
    }
}
