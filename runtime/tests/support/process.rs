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
}

impl Host {
    /// Starts `warden serve` on free loopback ports with `args` added.
    pub fn start(data_dir: &Path, args: &[&str]) -> Host {
        Host::start_with_env(data_dir, args, &[])
    }

    /// [`Host::start`] with extra environment variables.
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
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
        let (mut app_addr, mut admin) = (None, None);
        while app_addr.is_none() || admin.is_none() {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("warden serve announces its listeners");
            if let Some(a) = line
                .strip_prefix("warden: listening on http://")
                .or_else(|| line.strip_prefix("warden: listening on https://"))
            {
                app_addr = a.parse().ok();
            }
            if let Some(rest) = line.strip_prefix("warden: admin API on ") {
                admin = rest.split_whitespace().next().map(str::to_string);
            }
        }
        Host {
            child,
            app_addr: app_addr.expect("app address"),
            admin: admin.expect("admin address"),
            lines,
        }
    }

    /// SIGTERM, then the lines it printed since start-up.
    pub fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
        self.lines.try_iter().collect()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
