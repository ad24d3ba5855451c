//! `warden serve` through real HTTP on loopback: routing, the examples,
//! limits per app, 413/429/503, a noisy neighbour, graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::serving::{request, send, start, wait_in_flight};
use support::{TestHost, example, fixture};

fn examples() -> Vec<(&'static str, std::path::PathBuf, &'static str)> {
    let dir = example("hello-http").parent().expect("dir").to_path_buf();
    let hello = dir.join("../target/wasm32-wasip2/release/hello_http.wasm");
    let report = dir.join("../target/wasm32-wasip2/release/report_formatter.wasm");
    vec![
        ("hello-http", hello, "[http]\nroute = \"/hello/...\""),
        ("report", report, "[http]\nroute = \"/report\""),
    ]
}

#[test]
fn the_examples_answer_on_their_routes_and_unknown_paths_are_404() {
    let running = start("", &examples());
    let hello = request(running.addr, "GET", "/hello/ada", "");
    assert_eq!((hello.status, hello.body.as_str()), (200, "hello, ada\n"));
    assert_eq!(hello.headers["content-type"], "text/plain; charset=utf-8");
    let report = request(
        running.addr,
        "POST",
        "/report",
        r#"{"title":"T","rows":[{"name":"a","amount":2}]}"#,
    );
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(report.body.contains("TOTAL"));
    let missing = request(running.addr, "GET", "/nothing", "");
    assert_eq!(missing.status, 404);
    assert!(missing.headers.contains_key("x-request-id"));
}

#[test]
fn a_noisy_neighbour_is_contained_while_another_app_keeps_answering() {
    let mut apps = examples();
    apps.push(("noisy", fixture("noop_handler"), "[http]\nroute = \"/noisy\"\n[limits]\nfuel = 50_000_000\nmemory = \"16MiB\"\ntimeout = \"2s\""));
    let running = start("", &apps);
    let addr = running.addr;
    support::block_on(async move {
        let spinners: Vec<_> = (0..3)
            .map(|i| {
                tokio::spawn(send(
                    addr,
                    "POST",
                    "/noisy",
                    if i % 2 == 0 { "spin" } else { "grow" },
                ))
            })
            .collect();
        for _ in 0..10 {
            let hello = send(addr, "GET", "/hello/bo", "").await;
            assert_eq!((hello.status, hello.body.as_str()), (200, "hello, bo\n"));
        }
        for s in spinners {
            let reply = s.await.expect("join");
            assert_eq!(reply.status, 500, "{}", reply.body);
            assert!(
                !reply.body.contains("fuel") && !reply.body.contains("memory"),
                "leaked internals: {}",
                reply.body
            );
        }
    });
    assert_eq!(request(addr, "POST", "/noisy", "ok").body, "ok");
}

#[test]
fn a_quota_gives_429_with_retry_after_and_a_big_body_413() {
    let running = start(
        "[serve]\nmax_request_body = \"1KiB\"\n",
        &[(
            "noop",
            fixture("noop_handler"),
            "[http]\nroute = \"/noop\"\n[quota]\nrequests_per_minute = 2",
        )],
    );
    let big = "x".repeat(4096);
    assert_eq!(request(running.addr, "POST", "/noop", &big).status, 413);
    assert_eq!(request(running.addr, "POST", "/noop", "a").status, 200);
    assert_eq!(request(running.addr, "POST", "/noop", "b").status, 200);
    let limited = request(running.addr, "POST", "/noop", "c");
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=61).contains(&retry), "{retry}");
}

#[test]
fn the_concurrency_cap_sheds_load_with_429_and_a_killed_app_gets_503() {
    let running = start(
        "[serve]\nmax_concurrency_per_app = 1\n",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let addr = running.addr;
    let server = running.server.clone();
    // Hold the only slot deterministically: a request whose body is still
    // arriving keeps its slot while the host waits for the rest.
    let mut holder = std::net::TcpStream::connect(addr).expect("connect");
    use std::io::Write;
    holder
        .write_all(b"POST /noop HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\npartial")
        .expect("write");
    support::block_on(async move {
        wait_in_flight(&server, "noop").await;
        let shed = send(addr, "POST", "/noop", "x").await;
        assert_eq!(shed.status, 429, "{}", shed.body);
        assert_eq!(shed.headers["retry-after"], "1");
    });
    drop(holder);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(
        request(addr, "POST", "/noop", "free again").body,
        "free again"
    );
    running
        .server
        .runtime()
        .kill("noop", "load test", "tester")
        .expect("kill");
    assert_eq!(request(addr, "POST", "/noop", "x").status, 503);
}

#[test]
fn shutdown_drains_in_flight_requests_and_refuses_new_ones() {
    let mut running = start(
        "",
        &[(
            "noop",
            fixture("noop_handler"),
            "[http]\nroute = \"/noop\"\n[limits]\nfuel = 400_000_000\ntimeout = \"5s\"",
        )],
    );
    let addr = running.addr;
    let in_flight = std::thread::spawn(move || request(addr, "POST", "/noop", "spin"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    running.stop();
    let reply = in_flight.join().expect("join");
    assert_eq!(
        reply.status, 500,
        "the in-flight request got its answer: {}",
        reply.body
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed"
    );
}

#[test]
fn a_kill_traps_in_flight_requests_at_once_and_refuses_new_ones() {
    let running = start(
        "[maximums]\nfuel = 1_000_000_000_000\n",
        &[(
            "noop",
            fixture("noop_handler"),
            "[http]\nroute = \"/noop\"\n[limits]\nfuel = 1_000_000_000_000\ntimeout = \"20s\"",
        )],
    );
    let addr = running.addr;
    let runtime = running.server.runtime().clone();
    let in_flight = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let reply = request(addr, "POST", "/noop", "spin");
        (reply, started.elapsed())
    });
    support::block_on(wait_in_flight(&running.server, "noop"));
    let killed_at = std::time::Instant::now();
    runtime.kill("noop", "test kill", "tester").expect("kill");
    let (reply, _) = in_flight.join().expect("join");
    let latency = killed_at.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        latency < std::time::Duration::from_secs(2),
        "kill took {latency:?}"
    );
    assert_eq!(request(addr, "POST", "/noop", "x").status, 503);
    let audit = runtime.audit().entries().expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "app.killed" && e.details["reason"] == "test kill")
    );

    runtime.unkill("noop", "tester").expect("unkill");
    assert_eq!(request(addr, "POST", "/noop", "back").body, "back");
}

#[test]
fn a_kill_from_the_cli_reaches_a_running_host() {
    let running = start(
        "",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    assert_eq!(request(running.addr, "POST", "/noop", "x").status, 200);
    let data_dir = running.server.runtime().data_dir().to_path_buf();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["kill", "noop", "--reason", "from the cli"])
        .env("WARDEN_DATA_DIR", &data_dir)
        .output()
        .expect("warden kill");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(request(running.addr, "POST", "/noop", "x").status, 503);
}

#[test]
fn schedules_run_on_time_and_never_overlap() {
    let running = start(
        "[maximums]\nfuel = 1_000_000_000_000\n",
        &[
            (
                "ticker",
                fixture("noop_handler"),
                "[[schedule]]\ncron = \"* * * * * *\"\ninput = \"log\"",
            ),
            (
                "slowpoke",
                fixture("noop_handler"),
                "[[schedule]]\ncron = \"* * * * * *\"\ninput = \"spin\"\n[limits]\nfuel = 1_000_000_000_000\ntimeout = \"1500ms\"",
            ),
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(3600));
    let ticker = running
        .server
        .schedule_stats("ticker")
        .expect("ticker scheduled");
    let slow = running
        .server
        .schedule_stats("slowpoke")
        .expect("slowpoke scheduled");
    use std::sync::atomic::Ordering::Relaxed;
    let ticks = ticker.runs.load(Relaxed);
    assert!(
        (1..=4).contains(&ticks),
        "every-second schedule ran {ticks} times in 3.6 s"
    );
    assert_eq!(ticker.skipped.load(Relaxed), 0);
    let slow_runs = slow.runs.load(Relaxed);
    assert!(
        slow_runs <= 2,
        "a 1.5 s job every second cannot complete more than 2 runs in 3.6 s: {slow_runs}"
    );
    assert!(
        slow.skipped.load(Relaxed) >= 1,
        "fire times during a run are skipped"
    );
    assert!(!slow.overlapped.load(Relaxed));
}

#[test]
fn a_bad_cron_pattern_is_refused_at_load() {
    let host = TestHost::new();
    let manifest = host.manifest(
        "bad",
        &fixture("noop_handler"),
        "[[schedule]]\ncron = \"every morning\"",
    );
    let err = host
        .runtime
        .load_app(&manifest)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("schedule[0].cron") && err.contains("0 7 * * MON-FRI"),
        "{err}"
    );
}
