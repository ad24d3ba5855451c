//! Apps on Warden's SDKs (Rust, Python, JavaScript), built as a creator
//! builds them (`warden build`), and the stand-in SaaS they call
//! (`examples/demo-upstream/saas.py`, the one the tour starts).

use super::guests::{examples_dir, repo_root};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

/// The toolchains every build in the tests shares, as the scripts do.
pub fn cache_dir() -> PathBuf {
    repo_root().join(".warden-build")
}

/// Runs `warden build` on `examples/NAME/app.toml` once per process and
/// checks what it said (built, with its toolchain, or up to date); returns
/// the manifest.
pub fn build(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<OnceLock<String>>>>> = OnceLock::new();
    let slot = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_string())
        .or_default()
        .clone();
    let manifest = examples_dir().join(name).join("app.toml");
    let said = slot.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .arg("build")
            .arg(&manifest)
            .env("WARDEN_CACHE_DIR", cache_dir())
            .current_dir(repo_root())
            .output()
            .expect("run warden build");
        let said = super::said(&out);
        assert!(out.status.success(), "warden build {name} failed:\n{said}");
        said
    });
    let toolchain = [
        "(rust, cargo",
        "(python, componentize-py",
        "(js, componentize-js",
    ];
    assert!(
        toolchain
            .iter()
            .any(|t| said.contains(&format!("built {name} {t}")))
            || said.contains(&format!("{name} is up to date")),
        "{said}"
    );
    manifest
}

/// `examples/demo-upstream/saas.py` on a free loopback port: a CRM with
/// open expense reports and a chat that keeps what it is sent.
pub struct DemoSaas {
    child: Child,
    pub base: String,
}

impl DemoSaas {
    pub fn start() -> DemoSaas {
        let mut child = Command::new("python3")
            .arg(repo_root().join("examples/demo-upstream/saas.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3 saas.py");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("saas.py says where it listens");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("saas.py said {line:?}"))
            .to_string();
        DemoSaas { child, base }
    }

    /// What the chat received, as JSON.
    pub fn chat_messages(&self) -> serde_json::Value {
        let addr = self
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("address");
        let answer = super::serving::request(addr, "GET", "/chat/messages", "");
        serde_json::from_str(&answer.body).expect("chat messages are JSON")
    }
}

impl Drop for DemoSaas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of `manifest` in `dir` with `extra` appended (e.g. tighter
/// `[limits]`), its component named by absolute path.
pub fn manifest_with(manifest: &std::path::Path, dir: &std::path::Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(manifest).expect("manifest");
    let parsed: toml::Value = toml::from_str(&text).expect("manifest is TOML");
    let component = parsed["app"]["component"].as_str().expect("component");
    let absolute = manifest.parent().expect("folder").join(component);
    let text = text.replace(
        &format!("component = \"{component}\""),
        &format!("component = \"{}\"", absolute.display()),
    );
    let copy = dir.join("limited.toml");
    std::fs::write(&copy, format!("{text}\n{extra}")).expect("write manifest");
    copy
}

/// A data directory and the main job's platform (`examples/warden.toml`)
/// pointed at `saas`, with the connectors' secrets set: what a test host
/// of the examples starts from. Keep the returned directory alive.
pub fn demo_platform(saas: &DemoSaas) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data directory");
    let demo = std::fs::read_to_string(examples_dir().join("warden.toml"))
        .expect("examples/warden.toml")
        .replace("http://127.0.0.1:8089", &saas.base);
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, format!("{demo}\n{}", super::shared_state())).expect("warden.toml");
    super::process::set_secret(&data, Some(&config), "crm-token", "s3cr3t-crm");
    super::process::set_secret(&data, Some(&config), "chat-token", "s3cr3t-chat");
    (dir, config, data)
}

/// `warden run` of `manifest` with `{"fail":true}` fails as the app's own
/// failure (exit 1, not a denial) in the language's words (`says`); and
/// under `limits` (a `[limits]` table) it fails naming the manifest field
/// (`names`).
pub fn assert_fails_in_its_own_words(
    config: &std::path::Path,
    data: &std::path::Path,
    manifest: &std::path::Path,
    says: &str,
    limits: &str,
    names: &str,
) {
    let run = |manifest: &std::path::Path, input: &str| {
        let out = super::process::warden_with(
            config,
            data,
            &["run", manifest.to_str().expect("path"), "--input", input],
        );
        (out.status.code(), super::said(&out))
    };
    let (code, said) = run(manifest, r#"{"fail":true}"#);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains(says), "{said}");
    let dir = tempfile::tempdir().expect("temporary directory");
    let limited = manifest_with(manifest, dir.path(), limits);
    let (_, said) = run(&limited, "{}");
    assert!(said.contains(&format!("`{names}` in app.toml")), "{said}");
}
