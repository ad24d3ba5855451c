//! One CLI, local or remote: the list commands give the same rows from a
//! running host's admin API (`--server` and a token) as from its data
//! directory, as a table by default and as JSON lines with `--json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::process::Command;
use support::admin_api::deploy_body;
use support::library::LibHost;
use support::process::{noop_app, token};
use support::serving::{request, send_with};

fn warden(data: &std::path::Path, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warden"));
    command
        .args(args)
        .env("WARDEN_DATA_DIR", data)
        .env_remove("WARDEN_SERVER")
        .env_remove("WARDEN_TOKEN");
    if let Some(token) = token {
        command.env("WARDEN_TOKEN", token);
    }
    command.output().unwrap()
}

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn lists_read_the_same_from_the_server_and_from_the_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let admin = token(data.path(), "ada", "admin");
    let creator = token(data.path(), "cora", "creator");
    let noop = noop_app(data.path(), "noop", "");
    let host = LibHost::start(data.path(), None, &[&noop]);
    assert_eq!(request(host.app_addr, "POST", "/noop", "fail").status, 500);
    let body = deploy_body(
        "notes",
        "1.0.0",
        &support::fixture("noop_handler"),
        "[egress]\nallowed_hosts = [\"https://api.example.com\"]",
    );
    let auth = format!("Bearer {creator}");
    let held = support::block_on(send_with(
        host.admin_addr(),
        "POST",
        "/v1/apps",
        &body,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
    ));
    assert_eq!(held.status, 202, "{}", held.body);
    let server = host.admin.clone();
    // Spans reach the store in batches: wait for the failed one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while lines(&warden(
        data.path(),
        None,
        &["traces", "noop", "--errors", "--json"],
    ))
    .is_empty()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // (command, the field that identifies a row)
    let cases: [(&[&str], &str); 7] = [
        (&["apps"], "name"),
        (&["reviews"], "app"),
        (&["versions", "notes"], "version"),
        (&["audit", "show"], "seq"),
        (&["secrets", "list"], "name"),
        (&["tokens", "list"], "id"),
        (&["traces", "noop", "--errors"], "trace_id"),
    ];
    for (args, key) in cases {
        let mut local_args = args.to_vec();
        local_args.push("--json");
        let local = lines(&warden(data.path(), None, &local_args));
        let mut remote_args = local_args.clone();
        remote_args.extend(["--server", server.as_str()]);
        let remote = lines(&warden(data.path(), Some(&admin), &remote_args));
        let ids = |rows: &[serde_json::Value]| {
            let mut ids: Vec<String> = rows.iter().map(|r| r[key].to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids(&local),
            ids(&remote),
            "{args:?}: {local:?} / {remote:?}"
        );
        if !matches!(args[0], "secrets") {
            assert!(!local.is_empty(), "{args:?} lists something");
        }
        // Without --json: a table with a header line.
        let table = warden(data.path(), None, args);
        let text = String::from_utf8_lossy(&table.stdout);
        if args[0] != "traces" {
            assert!(
                text.lines()
                    .next()
                    .is_some_and(|h| h.chars().all(|c| !c.is_lowercase())),
                "{args:?}: {text}"
            );
        }
    }
    // Apps read the same both ways: name, version and state.
    let summary = |rows: Vec<serde_json::Value>| {
        let mut rows: Vec<(String, String, String)> = rows
            .iter()
            .map(|a| {
                (
                    a["name"].to_string(),
                    a["version"].to_string(),
                    a["state"].to_string(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let local = summary(lines(&warden(data.path(), None, &["apps", "--json"])));
    let remote = summary(lines(&warden(
        data.path(),
        Some(&admin),
        &["apps", "--json", "--server", &server],
    )));
    assert_eq!(local, remote);
    assert!(
        local.contains(&("\"notes\"".into(), "\"1.0.0\"".into(), "\"pending\"".into())),
        "{local:?}"
    );
    assert!(
        local.contains(&("\"noop\"".into(), "\"1.0.0\"".into(), "\"running\"".into())),
        "{local:?}"
    );
    // Verify, both ways.
    for token in [None, Some(admin.as_str())] {
        let mut args = vec!["audit", "verify"];
        if token.is_some() {
            args.extend(["--server", server.as_str()]);
        }
        let out = warden(data.path(), token, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
    }
    host.stop();
}
