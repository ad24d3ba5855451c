//! `warden serve` through real HTTP on loopback: routing, the examples,
//! limits per app, 413/429/503, a noisy neighbour, graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;
use warden_runtime::wait::Wait as _;

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
        "[serve]\nmax_concurrency_per_app = 1\n[maximums]\nfuel = 1_000_000_000_000\n",
        &[(
            "noop",
            fixture("noop_handler"),
            "[http]\nroute = \"/noop\"\n[limits]\nfuel = 1_000_000_000_000\ntimeout = \"2s\"",
        )],
    );
    let addr = running.addr;
    let server = running.server.clone();
    // Hold the only slot deterministically: a guest spinning until its
    // deadline. (A body still arriving holds no slot; see slow_clients.rs.)
    support::block_on(async move {
        let holder = tokio::spawn(send(addr, "POST", "/noop", "spin"));
        wait_in_flight(&server, "noop").await;
        let shed = send(addr, "POST", "/noop", "x").await;
        assert_eq!(shed.status, 429, "{}", shed.body);
        assert_eq!(shed.headers["retry-after"], "1");
        assert_eq!(holder.await.expect("holder").status, 504);
    });
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
    let audit = runtime.audit().entries().wait().expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "app.killed" && e.details["reason"] == "test kill")
    );

    runtime.unkill("noop", "tester").expect("unkill");
    assert_eq!(request(addr, "POST", "/noop", "back").body, "back");
}

#[test]
fn a_strict_host_stops_with_exit_3_when_an_app_does_not_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = support::unlinkable_app(dir.path());
    let hello = example("hello-http");
    let host = support::process::Host::start_listening(
        &dir.path().join("data"),
        &[
            "--strict",
            "--app",
            hello.to_str().expect("path"),
            "--app",
            broken.to_str().expect("path"),
        ],
    );
    let (status, said) = host.exited(std::time::Duration::from_secs(120));
    let said = said.join("\n");
    assert_eq!(status.code(), Some(3), "{said}");
    assert!(
        said.contains("stopping: broken did not start, and --strict was given"),
        "{said}"
    );
    assert!(
        !said.contains("warden: ready"),
        "a stopping host is not ready: {said}"
    );
    assert!(
        said.contains("did not start: broken (see above; --strict"),
        "{said}"
    );
    assert!(
        said.contains("Warden does not provide"),
        "the log says why: {said}"
    );
}

#[test]
fn a_kill_from_the_cli_reaches_a_running_host() {
    let running = start(
        "",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    assert_eq!(request(running.addr, "POST", "/noop", "x").status, 200);
    let data_dir = running.server.runtime().data_dir().to_path_buf();
    // The host's own settings (its state may be in PostgreSQL).
    let config = data_dir.parent().unwrap().join("warden.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["kill", "noop", "--reason", "from the cli", "--config"])
        .arg(&config)
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
        "[maximums]\nfuel = 1_000_000_000_000\n[schedules]\nmin_interval = \"1s\"\n",
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
    let err = host.load_error(&manifest);
    assert!(
        err.contains("schedule[0].cron") && err.contains("0 7 * * MON-FRI"),
        "{err}"
    );
}

#[test]
fn schedules_that_never_fire_too_often_or_too_many_are_refused_at_load() {
    let host = TestHost::new();
    let cases = [
        (
            "[[schedule]]\ncron = \"0 0 30 2 *\"",
            "schedule[0].cron",
            "never fires",
        ),
        (
            "[[schedule]]\ncron = \"@daily\"\n[[schedule]]\ncron = \"0 0 31 4 *\"",
            "schedule[1].cron",
            "never fires",
        ),
        (
            "[[schedule]]\ncron = \"* * * * * *\"",
            "schedule[0].cron",
            "minimum is 1m",
        ),
    ];
    for (i, (schedule, field, problem)) in cases.into_iter().enumerate() {
        let manifest = host.manifest(&format!("cron{i}"), &fixture("noop_handler"), schedule);
        let err = host.load_error(&manifest);
        assert!(
            err.contains(field) && err.contains(problem),
            "{schedule}: {err}"
        );
    }
    let many = "[[schedule]]\ncron = \"@hourly\"\n".repeat(11);
    let manifest = host.manifest("many", &fixture("noop_handler"), &many);
    let err = host.load_error(&manifest);
    assert!(
        err.contains("11 [[schedule]] entries") && err.contains("schedules.max_per_app"),
        "{err}"
    );
}

#[test]
fn a_schedule_that_never_fires_stops_warden_run_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("app.toml");
    std::fs::write(
        &manifest,
        format!(
            "[app]\nname = \"feb30\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[[schedule]]\ncron = \"0 0 30 2 *\"\n",
            fixture("noop_handler").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "serve",
            "--app",
            manifest.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("WARDEN_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schedule[0].cron") && err.contains("never fires"),
        "{err}"
    );
}

#[test]
fn inspect_reports_scheduled_runs_and_skipped_fire_times() {
    let admin = support::admin_api::admin_with(
        "[maximums]\nfuel = 1_000_000_000_000\n[schedules]\nmin_interval = \"1s\"\n",
        &[(
            "slowpoke",
            fixture("noop_handler"),
            "[[schedule]]\ncron = \"* * * * * *\"\ninput = \"spin\"\n[limits]\nfuel = 1_000_000_000_000\ntimeout = \"1500ms\"",
        )],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let runs = loop {
        let (status, body) = admin.call(
            Some(warden_runtime::admin::tokens::Role::Auditor),
            "GET",
            "/v1/apps/slowpoke",
            "",
        );
        assert_eq!(status, 200, "{body}");
        let runs = body["schedule_runs"].clone();
        if runs["skipped"].as_u64().unwrap_or(0) >= 1 || std::time::Instant::now() > deadline {
            break runs;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(runs["skipped"].as_u64().unwrap_or(0) >= 1, "{runs}");
    assert!(runs["runs"].as_u64().is_some(), "{runs}");
}

#[test]
fn a_killed_apps_schedules_are_paused_not_run() {
    let running = start(
        "[schedules]\nmin_interval = \"1s\"\n",
        &[(
            "ticker",
            fixture("noop_handler"),
            "[[schedule]]\ncron = \"* * * * * *\"\ninput = \"log\"",
        )],
    );
    use std::sync::atomic::Ordering::Relaxed;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running.server.schedule_stats("ticker").is_none() && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = || running.server.schedule_stats("ticker").expect("scheduled");
    while stats().runs.load(Relaxed) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(stats().runs.load(Relaxed) >= 1);
    running
        .server
        .runtime()
        .kill("ticker", "drill", "tester")
        .expect("kill");
    // A run that had already started may still finish; after that, none.
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let runs = stats().runs.load(Relaxed);
    while stats().paused.load(Relaxed) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        stats().paused.load(Relaxed) >= 2,
        "fire times while killed are counted"
    );
    assert_eq!(stats().runs.load(Relaxed), runs, "no run while killed");
}

#[test]
fn two_hosts_on_one_data_directory_run_each_schedule_once_and_the_second_takes_over() {
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::{Duration, Instant};
    let shared = tempfile::tempdir().unwrap();
    // One data directory (and, on shared state, one database) for both.
    let config = format!(
        "data_dir = \"{}\"\n[schedules]\nmin_interval = \"1s\"\n{}",
        shared.path().display(),
        support::shared_state()
    );
    let ticker = [(
        "ticker",
        fixture("noop_handler"),
        "[http]\nroute = \"/ticker\"\n[[schedule]]\ncron = \"* * * * * *\"\ninput = \"log\"",
    )];
    let mut first = start(&config, &ticker);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !first.server.runs_schedules() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        first.server.runs_schedules(),
        "the first host takes the lease"
    );
    let second = start(&config, &ticker);
    let stats = |r: &support::serving::Running| r.server.schedule_stats("ticker");
    while stats(&first).is_none_or(|s| s.runs.load(Relaxed) < 2) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(stats(&first).is_some_and(|s| s.runs.load(Relaxed) >= 2));
    assert!(
        !second.server.runs_schedules(),
        "one scheduler per data directory"
    );
    assert!(stats(&second).is_none(), "the second host runs no schedule");
    // Both answer requests.
    assert_eq!(request(first.addr, "POST", "/ticker", "x").status, 200);
    assert_eq!(request(second.addr, "POST", "/ticker", "x").status, 200);

    first.stop();
    while stats(&second).is_none_or(|s| s.runs.load(Relaxed) < 1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        stats(&second).is_some_and(|s| s.runs.load(Relaxed) >= 1),
        "the second host took over when the first stopped"
    );
}

#[test]
fn a_handler_answers_with_the_status_and_content_type_it_chose_and_a_plain_error_stays_500() {
    let running = start(
        "",
        &[("noop", fixture("noop_handler"), "[http]\nroute = \"/noop\"")],
    );
    let bad = request(running.addr, "POST", "/noop", "bad");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body, "bad input: send anything but `bad`");
    assert_eq!(bad.headers["content-type"], "text/plain; charset=utf-8");
    assert!(bad.headers.contains_key("x-request-id"));
    let json = request(running.addr, "POST", "/noop", "json");
    assert_eq!(json.status, 200);
    assert_eq!(json.headers["content-type"], "application/json");
    assert_eq!(json.body, r#"{"ok":true}"#);
    let plain = request(running.addr, "POST", "/noop", "x");
    assert_eq!(plain.headers["content-type"], "application/octet-stream");
    let failed = request(running.addr, "POST", "/noop", "fail");
    assert_eq!(failed.status, 500);
    assert!(!failed.body.contains("asked to fail"), "{}", failed.body);
}

/// A kill holds from the moment it returns, whatever refreshes of the
/// kill state run meanwhile: a refresh that read the state before the kill
/// wrote it once revived the switch the kill had pulled (a request right
/// after an acknowledged kill was served).
#[test]
fn a_kill_holds_while_refreshes_of_the_kill_state_run() {
    let host = support::TestHost::new();
    let runtime = &host.runtime;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let revived = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                runtime.refresh_kills();
            }
        });
        let mut revived = 0;
        for _ in 0..100 {
            runtime.kill("racer", "drill", "tester").unwrap();
            if !runtime.kill_switch("racer").is_killed() {
                revived += 1;
            }
            runtime.unkill("racer", "tester").unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        revived
    });
    assert_eq!(revived, 0, "kills undone by a concurrent refresh");
}

/// An app whose kill state could not be read when its switch was made is
/// held (fail closed) only until the state reads again: never killed on
/// record, it runs again then; a killed one stays killed.
#[test]
fn a_switch_pulled_by_an_unreadable_kill_state_is_released_when_it_reads_again() {
    // The file store, whichever the suite runs on: the file is what breaks.
    let host = support::TestHost::with_config("[state]\nbackend = \"embedded\"\n");
    let runtime = &host.runtime;
    std::fs::create_dir_all(runtime.data_dir()).unwrap();
    let state = runtime.data_dir().join("killed.json");
    std::fs::write(&state, "not json").unwrap();
    assert!(runtime.kill_switch("calm").is_killed(), "fail closed");
    std::fs::write(&state, "{}").unwrap();
    runtime.refresh_kills();
    assert!(
        !runtime.kill_switch("calm").is_killed(),
        "never killed on record"
    );

    runtime.kill("bad", "drill", "tester").unwrap();
    std::fs::write(&state, "{}").unwrap();
    runtime.refresh_kills();
    assert!(
        runtime.kill_switch("bad").is_killed(),
        "killed on record: stays killed"
    );
}
