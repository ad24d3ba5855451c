//! Three `warden serve` processes on one machine with one PostgreSQL
//! database, as an operator runs a cluster: what one is told, all serve;
//! a node killed with SIGKILL mid-load loses no acknowledged write; the
//! database restarting mid-load is answered 503 with `Retry-After` in
//! time, and the nodes serve again by themselves.

use crate::support;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::admin_api::deploy_body;
use support::process::{Host, warden_with as warden};
use support::serving::{send, send_with};

/// One request that may find its node gone: `None` when it got no answer.
async fn try_send(addr: SocketAddr, path: &str, body: String) -> Option<support::serving::Reply> {
    let path = path.to_string();
    let sent = tokio::spawn(async move { send(addr, "POST", &path, &body).await });
    tokio::time::timeout(Duration::from_secs(30), sent)
        .await
        .expect("no request hangs past 30 s")
        .ok()
}

fn put(key: &str) -> String {
    format!(r#"[{{"op":"put","bucket":"cache","key":"{key}","value":"v-{key}"}}]"#)
}

/// Writes keys `prefix-0..` on `addrs` in turn, `per_node` requests at a
/// time on each, until `stop` says so; returns the keys whose write was
/// acknowledged (200 and `["ok"]`).
async fn write_until(
    addrs: Vec<SocketAddr>,
    prefix: &str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<String> {
    let mut acknowledged = Vec::new();
    let mut n = 0;
    while !*stop.borrow() {
        let batch: Vec<_> = addrs
            .iter()
            .map(|addr| {
                let key = format!("{prefix}-{n}-{}", addr.port());
                let sent = try_send(*addr, "/kv", put(&key));
                async move { (key, sent.await) }
            })
            .collect();
        for (key, reply) in futures_join_all(batch).await {
            if reply.is_some_and(|r| r.status == 200 && r.body == r#"["ok"]"#) {
                acknowledged.push(key);
            }
        }
        n += 1;
    }
    acknowledged
}

/// Awaits every future of `all`, in order.
async fn futures_join_all<F: std::future::Future>(all: Vec<F>) -> Vec<F::Output> {
    let handles: Vec<_> = all.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

#[test]
fn three_serve_processes_share_deploys_survive_a_sigkill_and_a_database_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = support::postgres::OwnServer::start(&dir.path().join("pg"));
    let url = cluster.url.clone();
    // Every node is given the same master key.
    let key = dir.path().join("master.key");
    std::fs::write(&key, hex::encode([7u8; 32])).unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 4\n[secrets]\nmaster_key_file = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let data: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let config_arg = config.to_string_lossy().to_string();
    let mut nodes: Vec<Option<Host>> = data
        .iter()
        .map(|d| Some(Host::start(d.path(), &["--config", &config_arg])))
        .collect();
    let addrs: Vec<SocketAddr> = nodes.iter().flatten().map(|n| n.app_addr).collect();
    let token = {
        let out = warden(
            &config,
            data[0].path(),
            &["tokens", "create", "--name", "ops", "--role", "admin"],
        );
        assert!(out.status.success(), "{}", support::said(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    // Deployed on the first node, served by all three within 2 s.
    let body = deploy_body(
        "kv",
        "1.0.0",
        &support::fixture("kv_app"),
        "owner = \"ops\"\n[http]\nroute = \"/kv\"\n[[storage]]\nbucket = \"cache\"\nclass = \"internal\"\n[limits]\ntimeout = \"5s\"\n",
    );
    let admin = nodes[0].as_ref().unwrap().admin_addr();
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let deployed = support::block_on(send_with(admin, "POST", "/v1/apps", &body, &headers));
    assert_eq!(deployed.status, 201, "{}", deployed.body);
    let since = Instant::now();
    support::block_on(async {
        for addr in &addrs {
            while try_send(*addr, "/kv", put("probe"))
                .await
                .is_none_or(|r| r.status != 200)
            {
                assert!(
                    since.elapsed() < Duration::from_secs(2),
                    "{addr} does not serve the deploy within 2 s"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    });

    // A version held for review (a new grant), to be approved on the
    // second node just before it dies.
    let reviewer = {
        let out = warden(
            &config,
            data[0].path(),
            &["tokens", "create", "--name", "rey", "--role", "reviewer"],
        );
        assert!(out.status.success(), "{}", support::said(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ledger = deploy_body(
        "ledger",
        "1.0.0",
        &support::fixture("noop_handler"),
        "owner = \"ops\"\n[http]\nroute = \"/ledger\"\n[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
    );
    let held = support::block_on(send_with(admin, "POST", "/v1/apps", &ledger, &headers));
    assert_eq!(held.status, 202, "{}", held.body);

    // Writes to all three, while each node also records audited changes
    // of its own (templates) at once; the second node is killed with
    // SIGKILL mid-load. Every acknowledged write is there afterwards.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer = {
        let addrs = addrs.clone();
        std::thread::spawn(move || support::block_on(write_until(addrs, "k", stopped)))
    };
    let auditing: Vec<_> = nodes
        .iter()
        .flatten()
        .enumerate()
        .map(|(n, node)| {
            let (admin, auth) = (node.admin_addr(), auth.clone());
            std::thread::spawn(move || {
                let headers = [
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ];
                (0..10)
                    .filter(|i| {
                        let path = format!("/v1/templates/t-{n}-{i}");
                        let body = r#"{"max_class":"internal"}"#;
                        support::block_on(async {
                            tokio::time::timeout(
                                Duration::from_secs(30),
                                send_with(admin, "PUT", &path, body, &headers),
                            )
                            .await
                            .is_ok_and(|r| r.status == 200)
                        })
                    })
                    .count()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    // A deploy the second node acknowledged just before it dies.
    let notes = deploy_body(
        "notes",
        "1.0.0",
        &support::fixture("noop_handler"),
        "owner = \"ops\"\n[http]\nroute = \"/notes\"\n",
    );
    let second_admin = nodes[1].as_ref().unwrap().admin_addr();
    let deployed = support::block_on(send_with(
        second_admin,
        "POST",
        "/v1/apps",
        &notes,
        &headers,
    ));
    assert_eq!(deployed.status, 201, "{}", deployed.body);
    let review = format!("Bearer {reviewer}");
    let approved = support::block_on(send_with(
        second_admin,
        "POST",
        "/v1/apps/ledger/approve",
        r#"{"note":"approved just before the node dies"}"#,
        &[
            ("authorization", review.as_str()),
            ("content-type", "application/json"),
        ],
    ));
    assert_eq!(approved.status, 200, "{}", approved.body);
    drop(nodes[1].take()); // SIGKILL
    std::thread::sleep(Duration::from_millis(700));
    stop.send(true).unwrap();
    let acknowledged = writer.join().unwrap();
    assert!(
        acknowledged
            .iter()
            .any(|k| k.ends_with(&addrs[1].port().to_string())),
        "the killed node acknowledged writes before it died"
    );
    let survivors = [addrs[0], addrs[2]];
    let reads: String = acknowledged
        .iter()
        .map(|k| format!(r#"{{"op":"get","bucket":"cache","key":"{k}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let read = support::block_on(send(survivors[1], "POST", "/kv", &format!("[{reads}]")));
    assert_eq!(read.status, 200, "{}", read.body);
    let values: Vec<String> = serde_json::from_str(&read.body).unwrap();
    assert_eq!(values.len(), acknowledged.len(), "one answer per key read");
    let lost: Vec<&String> = acknowledged
        .iter()
        .zip(&values)
        .filter(|(k, v)| **v != format!("v-{k}"))
        .map(|(k, _)| k)
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    // The dead node's deploy and approval are served, and on record in
    // the audit log.
    let since = Instant::now();
    for path in ["/notes", "/ledger"] {
        while support::block_on(send(survivors[0], "POST", path, "hi")).status != 200 {
            assert!(
                since.elapsed() < Duration::from_secs(2),
                "what the dead node acknowledged on {path} is not served"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    let approvals = warden(
        &config,
        data[0].path(),
        &["audit", "show", "--app", "ledger", "--json"],
    );
    assert!(
        String::from_utf8_lossy(&approvals.stdout).contains("app.approved"),
        "{}",
        support::said(&approvals)
    );
    let shown = warden(
        &config,
        data[0].path(),
        &["audit", "show", "--app", "notes", "--json"],
    );
    assert!(shown.status.success(), "{}", support::said(&shown));
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("app.deployed"),
        "{}",
        support::said(&shown)
    );

    // The database restarts mid-load: a write that needs it is answered
    // 503 with Retry-After within the app's 5 s deadline, and the
    // nodes serve again by themselves once it is back.
    cluster.halt();
    support::block_on(async {
        for addr in survivors {
            let asked = Instant::now();
            let reply = try_send(addr, "/kv", put("during"))
                .await
                .expect("an answer");
            assert_eq!(reply.status, 503, "{}", reply.body);
            assert_eq!(
                reply
                    .headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("1")
            );
            // The app's deadline is 5 s; the answer's way back adds little.
            assert!(asked.elapsed() < Duration::from_secs(6), "answered in time");
        }
    });
    cluster.restart();
    let back = Instant::now();
    support::block_on(async {
        for addr in survivors {
            while try_send(addr, "/kv", put("after"))
                .await
                .is_none_or(|r| r.status != 200)
            {
                assert!(
                    back.elapsed() < Duration::from_secs(20),
                    "{addr} did not serve again after the database came back"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });

    // One audit chain, unbroken, for everything the nodes recorded: each
    // template change a node acknowledged is on it once.
    let acknowledged: usize = auditing.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(
        acknowledged >= 20,
        "{acknowledged} template changes acknowledged"
    );
    let verify = warden(&config, data[0].path(), &["audit", "verify"]);
    assert!(verify.status.success(), "{}", support::said(&verify));
    let shown = warden(&config, data[0].path(), &["audit", "show", "--json"]);
    let recorded = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .filter(|l| l.contains("\"template.set\""))
        .count();
    assert!(
        recorded >= acknowledged,
        "{recorded} template.set entries for {acknowledged} acknowledged changes"
    );
    for node in nodes.iter_mut() {
        drop(node.take());
    }
}
