//! A host started through the library (`warden_runtime::host::Host`) in
//! its own thread and runtime, for tests that need a running host but not
//! a `warden serve` process. Tests of signals, restarts and what the host
//! prints keep `process::Host`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use warden_runtime::config::PlatformConfig;
use warden_runtime::host::{Host, HostOptions};

pub struct LibHost {
    pub app_addr: SocketAddr,
    /// The admin API's base URL.
    pub admin: String,
    admin_addr: SocketAddr,
    stop: Option<Box<dyn Fn() + Send + Sync>>,
    done: Option<std::thread::JoinHandle<()>>,
}

impl LibHost {
    /// A host on `data_dir` (and `config`, if given) serving `apps`, on
    /// free loopback ports; components compile in child processes of the
    /// `warden` binary under the platform's compile budget, as in `serve`.
    pub fn start(data_dir: &Path, config: Option<&Path>, apps: &[&Path]) -> LibHost {
        let mut platform = match config {
            Some(path) => PlatformConfig::load(path).expect("valid warden.toml"),
            None => PlatformConfig::builtin(),
        };
        platform.data_dir = Some(data_dir.to_path_buf());
        let options = HostOptions {
            apps: apps.iter().map(|a| a.to_path_buf()).collect(),
            listen: Some("127.0.0.1:0".into()),
            admin_listen: Some("127.0.0.1:0".into()),
            compiler: Some(PathBuf::from(env!("CARGO_BIN_EXE_warden"))),
            ..HostOptions::new(platform)
        };
        let (started_tx, started) = std::sync::mpsc::channel();
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let host = Host::start(options).await.expect("host starts");
                host.ready().await;
                let stop: Box<dyn Fn() + Send + Sync> = Box::new(host.stopper());
                let admin = format!("{}://{}", host.scheme, host.admin_addr);
                started_tx
                    .send((host.app_addr, host.admin_addr, admin, stop))
                    .expect("report the addresses");
                host.stopped().await.expect("the host drains");
            });
        });
        let (app_addr, admin_addr, admin, stop) = started.recv().expect("the host started");
        LibHost {
            app_addr,
            admin,
            admin_addr,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// The admin API's socket address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Stops the host and waits for it to drain.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for LibHost {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(done) = self.done.take() {
            let _ = done.join();
        }
    }
}
