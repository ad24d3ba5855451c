//! `warden serve` as a child process, as an operator runs it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Host {
    child: Child,
    pub app_addr: SocketAddr,
    /// The admin API's base URL.
    pub admin: String,
    lines: mpsc::Receiver<String>,
    /// What it printed until it announced its listeners.
    startup: Vec<String>,
}

impl Host {
    /// Starts `warden serve` on free loopback ports with `args` added, and
    /// waits until its apps are compiled and served (`warden: ready`).
    pub fn start(data_dir: &Path, args: &[&str]) -> Host {
        Host::start_with_env(data_dir, args, &[])
    }

    /// [`Host::start`] without waiting for the apps: it returns once the
    /// listeners are announced, while components may still compile.
    pub fn start_listening(data_dir: &Path, args: &[&str]) -> Host {
        Host::spawn(
            Command::new(env!("CARGO_BIN_EXE_warden")),
            data_dir,
            args,
            &[],
            false,
        )
    }

    /// [`Host::start`] with extra environment variables.
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Host {
        Host::spawn(
            Command::new(env!("CARGO_BIN_EXE_warden")),
            data_dir,
            args,
            env,
            true,
        )
    }

    /// [`Host::start`] in a process that may open at most `files` file
    /// descriptors (`ulimit -n`).
    pub fn start_with_file_limit(data_dir: &Path, args: &[&str], files: u32) -> Host {
        let mut shell = Command::new("sh");
        shell.args([
            "-c",
            &format!("ulimit -n {files} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_warden"),
        ]);
        Host::spawn(shell, data_dir, args, &[], true)
    }

    fn spawn(
        mut command: Command,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        until_ready: bool,
    ) -> Host {
        let mut child = command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .envs(env.iter().copied())
            .env("WARDEN_DATA_DIR", data_dir)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start warden serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut app_addr, mut admin, mut ready) = (None, None, !until_ready);
        let mut startup = Vec::new();
        while app_addr.is_none() || admin.is_none() || !ready {
            // Generous: a host compiles its apps as it starts, and a
            // 12-18 MiB Python or JavaScript component on a busy 2-core
            // machine can take minutes. Only a host that never starts
            // waits this long.
            let line = match lines.recv_timeout(Duration::from_secs(600)) {
                Ok(line) => line,
                Err(e) => panic!(
                    "warden serve did not announce its listeners ({e}); it said:\n{}",
                    startup.join("\n")
                ),
            };
            startup.push(line.clone());
            if let Some(a) = line
                .strip_prefix("warden: listening on http://")
                .or_else(|| line.strip_prefix("warden: listening on https://"))
            {
                app_addr = a.parse().ok();
            }
            if let Some(rest) = line.strip_prefix("warden: admin API on ") {
                admin = rest.split_whitespace().next().map(str::to_string);
            }
            ready |= line.starts_with("warden: ready");
        }
        Host {
            child,
            app_addr: app_addr.expect("app address"),
            admin: admin.expect("admin address"),
            lines,
            startup,
        }
    }

    /// Waits (up to `within`) for a printed line containing `needle`.
    pub fn wait_line(&mut self, needle: &str, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        if self.startup.iter().any(|l| l.contains(needle)) {
            return true;
        }
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.startup.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// Waits (up to `within`, else panics) for the host to exit on its
    /// own; its status and every line it printed.
    pub fn exited(mut self, within: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = std::time::Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "warden serve did not exit within {within:?}; it said:\n{}",
                self.startup.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut all = std::mem::take(&mut self.startup);
        // Its stderr is closed: the reader ends after the last line.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            all.push(line);
        }
        (status, all)
    }

    /// SIGTERM, then every line it printed.
    pub fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
        let mut all = std::mem::take(&mut self.startup);
        all.extend(self.lines.try_iter());
        all
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    /// The admin API's socket address (plain-HTTP hosts).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .trim_start_matches("http://")
            .parse()
            .expect("admin address")
    }
}

/// Creates an admin API token in `data_dir` with the CLI; returns it.
pub fn token(data_dir: &Path, name: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["tokens", "create", "--name", name, "--role", role])
        .env("WARDEN_DATA_DIR", data_dir)
        .output()
        .expect("run warden tokens create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `<dir>/<name>.toml`: the `noop_handler` fixture as app `name`
/// 1.0.0 served on `/<name>`, with `extra` TOML (tables) appended.
pub fn noop_app(dir: &Path, name: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[app]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/{name}\"\n{extra}\n",
            super::fixture("noop_handler").display()
        ),
    )
    .expect("write app.toml");
    path
}

/// Writes `<dir>/spin.toml`: the `http_misbehaving` fixture as app `spin`
/// on `/spin/...` (`/spin/ok` answers at once, `/spin/spin` runs until its
/// 20 s deadline), with fuel for that long (the platform's `[maximums]`
/// must allow 1e12).
pub fn spin_app(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("spin.toml");
    std::fs::write(
        &path,
        format!(
            "[app]\nname = \"spin\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/spin/...\"\n[limits]\nfuel = 1_000_000_000_000\ntimeout = \"20s\"\n",
            super::fixture("http_misbehaving").display()
        ),
    )
    .expect("write spin.toml");
    path
}

/// `warden ARGS --config config` on `data`, with no token or server taken
/// from the environment; its output.
pub fn warden_with(config: &Path, data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("WARDEN_DATA_DIR", data)
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_SERVER")
        .env_remove("PGHOST")
        .output()
        .expect("run warden")
}

/// Creates an admin API token with the CLI under the settings at
/// `config` (in the database nodes share, when they say so); returns it.
pub fn token_with(config: &Path, data: &Path, name: &str, role: &str) -> String {
    let out = warden_with(
        config,
        data,
        &["tokens", "create", "--name", name, "--role", role],
    );
    assert!(out.status.success(), "{}", super::said(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `warden serve --config config` on free loopback ports, run to its end
/// (for a start that must fail); its output.
pub fn serve_once(config: &Path, data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(config)
        .env("WARDEN_DATA_DIR", data)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .output()
        .expect("run warden serve")
}

/// Sets secret `name` to `value` with `warden secrets set` (the value on
/// its standard input) on `data`, with `config` if given.
pub fn set_secret(data: &Path, config: Option<&Path>, name: &str, value: &str) {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_warden"));
    command.args(["secrets", "set", name]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
        .env("WARDEN_DATA_DIR", data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run warden secrets set");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(value.as_bytes())
        .expect("write the value");
    let out = child.wait_with_output().expect("its output");
    assert!(out.status.success(), "{}", super::said(&out));
}
