//! The `warden` binary as users run it: exit codes, messages, `--json`,
//! `--trace`, the artifact cache across processes, and `audit verify`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::path::Path;
use std::process::{Command, Output};
use support::{example, fixture, text};

fn warden(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("WARDEN_DATA_DIR", data_dir)
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SERVER")
        .output()
        .expect("run warden")
}

fn fixture_manifest(dir: &Path, name: &str, limits: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[app]\nname = \"{}\"\nversion = \"0.1.0\"\ncomponent = \"{}\"\n[limits]\n{limits}\n",
        name.replace('_', "-"),
        fixture(name).display()
    );
    std::fs::write(&path, text).expect("write manifest");
    path.display().to_string()
}

#[test]
fn run_prints_the_handler_output_and_exits_zero() {
    let data = tempfile::tempdir().expect("temp dir");
    let manifest = example("report-formatter");
    let out = warden(
        data.path(),
        &[
            "run",
            &manifest.display().to_string(),
            "--input",
            r#"{"title":"T","rows":[{"name":"a","amount":1}]}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("TOTAL"));
    assert!(text(&out.stderr).contains("[report-formatter] info: formatting 1 rows"));
}

#[test]
fn command_arguments_after_the_separator_reach_the_app() {
    let data = tempfile::tempdir().expect("temp dir");
    let manifest = example("oncall-picker").display().to_string();
    let out = warden(
        data.path(),
        &["run", &manifest, "--", "--week", "1", "ann", "bo"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "week 1: primary bo, backup ann\n");
}

#[test]
fn a_run_opens_only_the_stores_its_call_uses() {
    let data = tempfile::tempdir().expect("temp dir");
    let picker = example("oncall-picker").display().to_string();
    let out = warden(
        data.path(),
        &["run", &picker, "--", "--week", "1", "ann", "bo"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for untouched in ["storage.db", "registry.db"] {
        assert!(
            !data.path().join(untouched).exists(),
            "{untouched} was opened"
        );
    }
    // An app that stores data opens the store with its first call; a store
    // that cannot be opened fails that call, naming the file.
    let manifest = data.path().join("kv.toml");
    std::fs::write(
        &manifest,
        format!(
            "[app]\nname = \"kv\"\nversion = \"0.1.0\"\ncomponent = \"{}\"\n[[storage]]\nbucket = \"cache\"\nclass = \"internal\"\nttl = \"1h\"\n",
            fixture("kv_app").display()
        ),
    )
    .expect("write manifest");
    let manifest = manifest.display().to_string();
    let put = r#"[{"op":"put","bucket":"cache","key":"k","value":"v"}]"#;
    let out = warden(data.path(), &["run", &manifest, "--input", put]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(data.path().join("storage.db").is_file());
    for file in ["storage.db", "storage.db-wal", "storage.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(file));
    }
    std::fs::create_dir(data.path().join("storage.db")).expect("a directory in its place");
    let out = warden(data.path(), &["run", &manifest, "--input", put]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    // The app's own failure (exit 1), with the store's error naming it.
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("storage: unable to open database file: ")
            && said.contains(&format!("{}", data.path().join("storage.db").display())),
        "{said}"
    );
}

#[test]
fn each_limit_has_its_own_exit_code_and_a_message_naming_the_field() {
    let data = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("infinite_loop", "fuel = 1_000_000", 10, "limits.fuel"),
        ("sleep_forever", "timeout = \"100ms\"", 11, "limits.timeout"),
        ("memory_hog", "memory = \"8MiB\"", 12, "limits.memory"),
        (
            "stdout_flood",
            "max_output = \"4KiB\"",
            13,
            "limits.max_output",
        ),
        ("deep_recursion", "", 14, "max_wasm_stack"),
        ("open_socket", "", 16, "socket-denied"),
    ];
    for (name, limits, code, needle) in cases {
        let manifest = fixture_manifest(data.path(), name, limits);
        let out = warden(data.path(), &["run", &manifest]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr}");
    }
}

#[test]
fn each_denial_says_its_own_kind_and_what_to_do() {
    let data = tempfile::tempdir().expect("temp dir");
    let socket = fixture_manifest(data.path(), "open_socket", "");
    let out = warden(data.path(), &["run", &socket]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[socket-denied]: apps get no sockets"),
        "{stderr}"
    );
    // An outbound request to a host the app did not list (loopback, and
    // refused before any connection is made).
    let fetch = fixture_manifest(data.path(), "http_fetch", "");
    let out = warden(
        data.path(),
        &["run", &fetch, "--", "GET", "http://127.0.0.1:9/x"],
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "[egress-denied]: the destination is not in the app's [egress] allowed_hosts"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("has no grant for it;"), "{stderr}");
}

#[test]
fn json_reports_usage_and_a_second_run_reuses_the_compiled_artifact() {
    let data = tempfile::tempdir().expect("temp dir");
    let manifest = fixture_manifest(data.path(), "noop_handler", "");
    let first = warden(data.path(), &["run", &manifest, "--input", "hi", "--json"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json report");
    assert_eq!(report["outcome"], "ok");
    assert_eq!(report["output"], "hi");
    assert_eq!(report["artifact"], "compiled");
    for field in [
        "fuel_used",
        "wall_time_us",
        "peak_memory_bytes",
        "output_bytes",
    ] {
        assert!(
            report["usage"][field].as_u64().is_some(),
            "usage.{field} missing: {report}"
        );
    }
    assert_eq!(report["usage"]["output_bytes"], 2);

    let second = warden(data.path(), &["run", &manifest, "--input", "hi", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&second.stdout).expect("json report");
    assert_eq!(report["artifact"], "cached");

    // A damaged cache entry is recompiled, and the library's warning
    // reaches the user of a command as a `warden: ` line.
    for entry in std::fs::read_dir(data.path().join("artifacts")).expect("artifacts") {
        std::fs::write(entry.expect("entry").path(), b"not an artifact").expect("damage");
    }
    let third = warden(data.path(), &["run", &manifest, "--input", "hi", "--json"]);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third.stderr));
    let report: serde_json::Value = serde_json::from_slice(&third.stdout).expect("json report");
    assert_eq!(report["artifact"], "compiled");
    let warning = text(&third.stderr);
    assert!(
        warning.starts_with("warden: cached artifact ") && warning.contains("is unusable"),
        "{warning}"
    );
}

#[test]
fn trace_prints_the_span_tree() {
    let data = tempfile::tempdir().expect("temp dir");
    let manifest = example("hello-http").display().to_string();
    let out = warden(data.path(), &["run", &manifest, "--trace"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello, world\n");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("HTTP 200"), "{stderr}");
    assert!(
        stderr.contains("invocation ") && stderr.contains("warden.app=hello-http"),
        "{stderr}"
    );
    assert!(
        stderr.contains("  instantiate ") && stderr.contains("  call "),
        "{stderr}"
    );
}

#[test]
fn a_bad_manifest_exits_3_naming_file_field_and_fix() {
    let data = tempfile::tempdir().expect("temp dir");
    let path = data.path().join("app.toml");
    std::fs::write(&path, "[app]\nname = \"x\"\nversion = \"1.0.0\"\ncomponent = \"x.wasm\"\n[limits]\nmemroy = \"1MiB\"\n").expect("write");
    let out = warden(data.path(), &["run", &path.display().to_string()]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("app.toml") && stderr.contains("memroy"),
        "{stderr}"
    );
    assert!(
        stderr.contains("memory") && stderr.contains("fix:"),
        "{stderr}"
    );
}

#[test]
fn a_bad_platform_config_exits_3() {
    let data = tempfile::tempdir().expect("temp dir");
    let config = data.path().join("warden.toml");
    std::fs::write(&config, "[defaults]\nfuel = \"lots\"\n").expect("write");
    let manifest = example("report-formatter").display().to_string();
    let out = warden(
        data.path(),
        &["run", &manifest, "--config", &config.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("warden.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn denials_are_audited_and_tampering_is_caught_by_audit_verify() {
    let data = tempfile::tempdir().expect("temp dir");
    let manifest = fixture_manifest(data.path(), "open_socket", "");
    for _ in 0..3 {
        let out = warden(data.path(), &["run", &manifest]);
        assert_eq!(out.status.code(), Some(16));
    }
    let verify = warden(data.path(), &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
    assert!(text(&verify.stdout).contains("ok: 3 entries"));

    let show = warden(
        data.path(),
        &["audit", "show", "--app", "open-socket", "--json"],
    );
    let entries: Vec<serde_json::Value> = text(&show.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["kind"], "policy.denied");
    assert_eq!(
        entries[0]["details"]["denials"][0]["denial"],
        "socket-denied"
    );

    let log = data.path().join("audit.jsonl");
    let tampered =
        std::fs::read_to_string(&log)
            .expect("read log")
            .replacen("socket-denied", "nothing", 2);
    std::fs::write(&log, tampered).expect("tamper");
    let verify = warden(data.path(), &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    let stdout = text(&verify.stdout);
    assert!(
        stdout.contains("TAMPERED") && stdout.contains("line 1"),
        "{stdout}"
    );
}

fn warden_with_stdin(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("WARDEN_DATA_DIR", data_dir)
        .env_remove("WARDEN_MASTER_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn warden");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn secrets_are_set_from_stdin_listed_without_values_rotated_and_audited() {
    let data = tempfile::tempdir().expect("temp dir");
    let set = warden_with_stdin(
        data.path(),
        &["secrets", "set", "crm-token"],
        "plain-value-123\n",
    );
    assert_eq!(set.status.code(), Some(0), "{}", text(&set.stderr));
    let rotate = warden_with_stdin(
        data.path(),
        &["secrets", "rotate", "crm-token"],
        "plain-value-456",
    );
    assert_eq!(rotate.status.code(), Some(0), "{}", text(&rotate.stderr));
    assert!(text(&rotate.stdout).contains("version 2"));

    let list = warden(data.path(), &["secrets", "list", "--json"]);
    let listed: serde_json::Value =
        serde_json::from_str(text(&list.stdout).lines().next().expect("a line")).expect("json");
    assert_eq!(listed["name"], "crm-token");
    assert_eq!(listed["version"], 2);
    let table = text(&warden(data.path(), &["secrets", "list"]).stdout);
    assert!(
        table.starts_with("NAME") && table.contains("crm-token"),
        "{table}"
    );
    assert!(!text(&list.stdout).contains("plain-value"));

    for entry in std::fs::read_dir(data.path()).expect("data dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).unwrap_or_default();
        assert!(
            !text(&bytes).contains("plain-value"),
            "plaintext secret on disk"
        );
    }
    let audit = text(&warden(data.path(), &["audit", "show", "--json"]).stdout);
    assert!(
        audit.contains("\"secret.set\"") && audit.contains("\"secret.rotated\""),
        "{audit}"
    );
    assert!(!audit.contains("plain-value"));

    let missing = warden_with_stdin(data.path(), &["secrets", "rotate", "nope"], "x");
    assert_eq!(missing.status.code(), Some(3));
    assert!(text(&missing.stderr).contains("warden secrets set nope"));
}

#[test]
fn a_killed_app_stays_killed_across_runs_until_unkilled() {
    let data = tempfile::tempdir().expect("temp dir");
    let manifest = fixture_manifest(data.path(), "noop_handler", "");
    let first = warden(data.path(), &["run", &manifest, "--input", "x"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    // No host serves this data directory: a kill would stop nothing now,
    // so it is refused and not recorded unless asked for --offline.
    let kill = warden(
        data.path(),
        &["kill", "noop-handler", "--reason", "leaking"],
    );
    assert_eq!(kill.status.code(), Some(4), "{}", text(&kill.stderr));
    assert!(text(&kill.stderr).contains("no running host serves"));
    assert!(!data.path().join("killed.json").exists());
    // A name the data directory does not know is a mistake, not a kill.
    let typo = warden(
        data.path(),
        &["kill", "noop-handlr", "--reason", "leaking", "--offline"],
    );
    assert_eq!(typo.status.code(), Some(3), "{}", text(&typo.stderr));
    assert!(
        text(&typo.stderr).contains("it knows: noop-handler"),
        "{}",
        text(&typo.stderr)
    );
    let kill = warden(
        data.path(),
        &["kill", "noop-handler", "--reason", "leaking", "--offline"],
    );
    assert_eq!(kill.status.code(), Some(0), "{}", text(&kill.stderr));
    assert!(text(&kill.stdout).contains("recorded offline"));
    let run = warden(data.path(), &["run", &manifest, "--input", "x"]);
    assert_eq!(run.status.code(), Some(20), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("stopped by an operator"));
    assert_eq!(
        warden(data.path(), &["unkill", "noop-handler"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        warden(data.path(), &["run", &manifest, "--input", "x"])
            .status
            .code(),
        Some(0)
    );
    let audit = text(
        &warden(
            data.path(),
            &["audit", "show", "--app", "noop-handler", "--json"],
        )
        .stdout,
    );
    assert!(
        audit.contains("app.killed") && audit.contains("leaking") && audit.contains("app.unkilled"),
        "{audit}"
    );
}

#[test]
fn an_empty_or_relative_xdg_data_home_counts_as_unset() {
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    for xdg in ["", "relative/dir"] {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["kill", "x", "--reason", "r", "--offline"])
            .current_dir(cwd.path())
            .env_remove("WARDEN_DATA_DIR")
            .env_remove("WARDEN_TOKEN")
            .env_remove("WARDEN_SERVER")
            .env("XDG_DATA_HOME", xdg)
            .env("HOME", home.path())
            .output()
            .expect("run warden");
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        let expected = home.path().join(".local/share/warden");
        assert!(
            err.contains(&expected.display().to_string()),
            "{xdg:?}: {err}"
        );
        assert_eq!(
            std::fs::read_dir(cwd.path()).expect("cwd").count(),
            0,
            "{xdg:?}: nothing created in the working directory"
        );
    }
    // With no HOME either, the last resort is `.warden` here: named, and
    // still nothing created.
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["kill", "x", "--reason", "r", "--offline"])
        .current_dir(cwd.path())
        .env_remove("WARDEN_DATA_DIR")
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SERVER")
        .env("XDG_DATA_HOME", "")
        .env("HOME", "")
        .output()
        .expect("run warden");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(".warden does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(cwd.path()).expect("cwd").count(), 0);
}

#[test]
fn a_token_in_the_environment_sends_a_kill_to_the_server_not_the_local_files() {
    let data = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["kill", "payroll", "--reason", "drill"])
        .env("WARDEN_DATA_DIR", data.path())
        .env("WARDEN_TOKEN", "wdn_not_a_real_token")
        .env_remove("WARDEN_SERVER")
        .output()
        .expect("run warden");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach http://127.0.0.1:8081"),
        "it went to the admin API's default address: {err}"
    );
    assert!(
        !data.path().join("killed.json").exists(),
        "nothing written locally"
    );
}

#[test]
fn commands_that_read_say_when_the_data_directory_is_empty_or_unrelated() {
    let empty = tempfile::tempdir().expect("temp dir");
    std::fs::write(empty.path().join("notes.txt"), "not warden's").expect("write");
    let missing = empty.path().join("nowhere");
    for dir in [empty.path().to_path_buf(), missing.clone()] {
        for args in [
            &["audit", "show"][..],
            &["audit", "verify"][..],
            &["secrets", "list"][..],
            &["tokens", "list"][..],
        ] {
            let out = warden(&dir, args);
            assert_eq!(out.status.code(), Some(3), "{args:?} on {}", dir.display());
            let err = text(&out.stderr);
            assert!(
                err.contains("holds no Warden data") || err.contains("does not exist"),
                "{args:?}: {err}"
            );
        }
    }
    assert!(!empty.path().join("master.key").exists(), "nothing created");
    assert!(!missing.exists(), "nothing created");
}
