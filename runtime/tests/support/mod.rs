//! Test support: real guest components (see `guests.rs`) and hosts built
//! from inline `warden.toml` / `app.toml` text.
#![allow(dead_code)]

pub mod admin_api;
pub mod audit_files;
pub mod guests;
pub mod idp;
pub mod library;
pub mod postgres;
pub mod process;
pub mod sdk_apps;
pub mod serving;
pub mod siem;
pub mod upstream;

#[allow(unused_imports)]
pub use guests::{example, fixture};

use opentelemetry_sdk::trace::InMemorySpanExporter;
use std::path::{Path, PathBuf};
use warden_runtime::Runtime;
use warden_runtime::app::LoadedApp;
use warden_runtime::config::PlatformConfig;
use warden_runtime::invoke::{InvocationReport, InvocationRequest};

/// A host on a temporary data directory, recording spans in memory.
pub struct TestHost {
    pub runtime: Runtime,
    pub spans: InMemorySpanExporter,
    pub dir: tempfile::TempDir,
}

impl TestHost {
    pub fn new() -> TestHost {
        TestHost::with_config("")
    }

    /// `config` is `warden.toml` text; `data_dir` is set to a temp dir
    /// unless the text sets it.
    pub fn with_config(config: &str) -> TestHost {
        let dir = tempfile::tempdir().expect("temp dir");
        TestHost::in_dir(dir, config)
    }

    pub fn in_dir(dir: tempfile::TempDir, config: &str) -> TestHost {
        let path = dir.path().join("warden.toml");
        let mut text = if config.contains("data_dir") {
            config.to_string()
        } else {
            format!("data_dir = \"data\"\n{config}")
        };
        // A config with its own [state] (a restart on the same database)
        // keeps it.
        if !text.contains("[state]") {
            text.push_str(&shared_state());
        }
        std::fs::write(&path, text).expect("write warden.toml");
        let platform = PlatformConfig::load(&path).expect("valid warden.toml");
        let (provider, spans) = warden_runtime::telemetry::in_memory();
        let runtime = Runtime::new(platform, provider).expect("runtime");
        TestHost {
            runtime,
            spans,
            dir,
        }
    }

    /// Stores a secret the way `warden secrets set` does.
    pub fn set_secret(&self, name: &str, value: &str) {
        let store =
            warden_runtime::runtime::open_secrets(self.runtime.platform(), self.runtime.data_dir())
                .expect("secret store");
        store.set(name, value.as_bytes()).expect("set secret");
    }

    /// Writes an `app.toml` for `component` with extra manifest text.
    pub fn manifest(&self, name: &str, component: &Path, extra: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.app.toml"));
        let text = format!(
            "[app]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n{extra}\n",
            component.display()
        );
        std::fs::write(&path, text).expect("write app.toml");
        path
    }

    /// The load error of `manifest`, rendered (empty if it loads).
    pub fn load_error(&self, manifest: &Path) -> String {
        self.runtime
            .load_app(manifest)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    pub fn load(&self, manifest: &Path) -> LoadedApp {
        self.runtime
            .load_app(manifest)
            .unwrap_or_else(|e| panic!("load {}: {e}", manifest.display()))
    }

    /// Loads a fixture with the given `[limits]` text and runs it once.
    pub fn run_fixture(&self, name: &str, limits: &str) -> InvocationReport {
        let manifest = self.manifest(
            &name.replace('_', "-"),
            &fixture(name),
            &format!("[limits]\n{limits}"),
        );
        let app = self.load(&manifest);
        block_on(
            self.runtime
                .invoke(&app, InvocationRequest::cli(Vec::new())),
        )
    }
}

/// The `[state]` a test host gets: with `WARDEN_TEST_STATE=postgres`
/// (how `scripts/test.sh` runs the shared-state suites a second time), a
/// fresh database on the test server; else none, the embedded store.
pub fn shared_state() -> String {
    match std::env::var("WARDEN_TEST_STATE").as_deref() {
        Ok("postgres") => format!("\n{}", postgres::state_config()),
        Ok("embedded") | Err(_) => String::new(),
        Ok(other) => panic!("WARDEN_TEST_STATE={other}: use `embedded` or `postgres`"),
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// `broken.toml` in `dir`: an app on `/broken` whose component Warden
/// cannot link. It passes the checks made before a host listens (it is a
/// component) and fails only at its compile.
pub fn unlinkable_app(dir: &Path) -> PathBuf {
    let manifest = dir.join("broken.toml");
    std::fs::write(
        &manifest,
        format!(
            "[app]\nname = \"broken\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n[http]\nroute = \"/broken\"\n",
            fixture("unsatisfiable").display()
        ),
    )
    .expect("write the manifest");
    manifest
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The in-toto statement inside a stored DSSE envelope (unverified: for
/// reading what a test's host signed).
pub fn attested(envelope: &Path) -> serde_json::Value {
    attested_envelope(&std::fs::read_to_string(envelope).expect("envelope"))
}

/// The in-toto statement inside a DSSE envelope's JSON text (unverified).
pub fn attested_envelope(envelope: &str) -> serde_json::Value {
    use base64::Engine as _;
    let envelope: serde_json::Value = serde_json::from_str(envelope).expect("json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().expect("payload"))
        .expect("base64");
    serde_json::from_slice(&payload).expect("statement")
}

/// What a finished command printed: stdout, then stderr.
pub fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `get` every 100 ms until `done` holds of its answer, which it
/// returns; fails saying `what` and the last answer after a minute (a
/// bound on a broken host, never a measure of a slow one).
pub fn until(
    what: &str,
    get: impl Fn() -> serde_json::Value,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let value = get();
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {value}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
