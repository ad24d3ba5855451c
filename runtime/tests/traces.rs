//! The embedded span store: `warden serve` keeps every invocation's spans
//! in the data directory, and `warden traces` shows them without any
//! collector.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::path::Path;
use std::process::Command;
use support::example;
use support::library::LibHost;
use support::process::noop_app;
use support::serving::request;

fn warden(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("WARDEN_DATA_DIR", data)
        .output()
        .unwrap()
}

#[test]
fn served_requests_become_span_trees_that_warden_traces_shows() {
    let data = tempfile::tempdir().unwrap();
    let noop = noop_app(data.path(), "noop", "");
    let host = LibHost::start(
        data.path(),
        None,
        &[
            std::path::Path::new(&example("hello-http")),
            std::path::Path::new(&noop),
        ],
    );
    for name in ["ada", "grace", "linus"] {
        assert_eq!(
            request(host.app_addr, "GET", &format!("/hello/{name}"), "").status,
            200
        );
    }
    let traced = support::block_on(support::serving::send_with(
        host.app_addr,
        "POST",
        "/noop",
        "ok",
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
    ));
    assert_eq!(traced.status, 200);
    let failed = support::block_on(support::serving::send_with(
        host.app_addr,
        "POST",
        "/noop",
        "fail",
        &[],
    ));
    assert_eq!(failed.status, 500);
    let request_id = failed.headers["x-request-id"].to_str().unwrap().to_string();
    host.stop();

    // The failure is found from the id its caller was given, with why.
    let out = warden(
        data.path(),
        &["traces", "noop", "--request-id", &request_id, "--json"],
    );
    let found: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["request_id"], request_id.as_str());
    assert_eq!(found[0]["outcome"], "app-error");
    assert!(
        found[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{found:?}"
    );
    let out = warden(data.path(), &["traces", "noop", "--errors"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("request {request_id}")) && text.contains("  error: "),
        "{text}"
    );

    let out = warden(data.path(), &["traces", "hello-http"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("\ninvocation ").count(), 3, "{text}");
    assert!(text.contains("warden.trigger=http"), "{text}");
    assert!(
        text.contains("  instantiate ") && text.contains("  call "),
        "{text}"
    );

    let out = warden(data.path(), &["traces", "noop", "--errors", "--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "only the failed call: {lines:?}");
    assert_eq!(lines[0]["outcome"], "app-error");
    assert!(lines[0]["spans"].as_array().unwrap().len() >= 2);

    let out = warden(
        data.path(),
        &["traces", "noop", "--since", "1h", "--limit", "1"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("\ninvocation ")
            .count(),
        1
    );
    let out = warden(data.path(), &["traces", "nobody"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no invocations of `nobody`"));
}

#[test]
fn requests_refused_because_the_app_is_killed_are_traced() {
    let data = tempfile::tempdir().unwrap();
    let noop = noop_app(data.path(), "noop", "");
    let host = LibHost::start(data.path(), None, &[std::path::Path::new(&noop)]);
    assert_eq!(request(host.app_addr, "POST", "/noop", "ok").status, 200);
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["kill", "noop", "--reason", "drill"])
        .env("WARDEN_DATA_DIR", data.path())
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SERVER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stop it within"),
        "the kill says a running host applies it"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while request(host.app_addr, "POST", "/noop", "ok").status != 503
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(request(host.app_addr, "POST", "/noop", "ok").status, 503);
    host.stop();
    let out = warden(data.path(), &["traces", "noop", "--errors", "--json"]);
    let killed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|t| t["outcome"] == "killed")
        .count();
    assert!(killed >= 1, "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn traces_without_a_span_store_say_how_to_get_one() {
    let data = tempfile::tempdir().unwrap();
    let out = warden(data.path(), &["traces", "x"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warden serve"));
}

#[test]
fn follow_prints_new_invocations_as_they_arrive() {
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().unwrap();
    let noop = support::process::noop_app(data.path(), "noop", "");
    let host = LibHost::start(data.path(), None, &[std::path::Path::new(&noop)]);
    let mut follower = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["traces", "noop", "--follow", "--json"])
        .env("WARDEN_DATA_DIR", data.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    for input in ["ok", "fail"] {
        request(host.app_addr, "POST", "/noop", input);
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("--follow printed the new invocation");
        let trace: serde_json::Value = serde_json::from_str(&line).unwrap();
        let expected = if input == "ok" { "ok" } else { "app-error" };
        assert_eq!(trace["outcome"], expected, "{line}");
    }
    let _ = follower.kill();
    let _ = follower.wait();
    host.stop();
}
