//! Builds the real guest components (examples and fixtures) for
//! wasm32-wasip2, once per process. Shared by the tests and the benches.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn fixtures_dir() -> PathBuf {
    repo_root().join("runtime/tests/fixtures")
}

pub fn examples_dir() -> PathBuf {
    repo_root().join("examples")
}

/// Builds examples and fixtures once; panics with cargo's output on failure
/// (a test that cannot get its guests must not pass).
pub fn build_guests() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        ensure_wasm_target();
        for manifest in [examples_dir(), fixtures_dir()] {
            let out = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "--manifest-path",
                ])
                .arg(manifest.join("Cargo.toml"))
                .env_remove("CARGO_TARGET_DIR")
                .output()
                .expect("run cargo to build guests");
            assert!(
                out.status.success(),
                "building guests in {} failed:\n{}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
}

fn ensure_wasm_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
        .unwrap_or(false);
    if !installed {
        let status = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .expect("run rustup");
        assert!(status.success(), "rustup target add wasm32-wasip2 failed");
    }
}

/// Path of a built fixture component, e.g. `fixture("infinite_loop")`.
pub fn fixture(name: &str) -> PathBuf {
    build_guests();
    let dir = fixtures_dir().join("target/wasm32-wasip2/release");
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "fixture {} was not built", path.display());
    path
}

/// Path of an example's manifest, e.g. `example("report-formatter")`.
pub fn example(name: &str) -> PathBuf {
    build_guests();
    examples_dir().join(name).join("app.toml")
}

/// Builds the Python and JavaScript examples once (componentize-py and
/// componentize-js, see `scripts/build-foreign-examples.sh`); returns the
/// manifest of `name` (`hello-py` or `hello-js`).
pub fn foreign_example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/build-foreign-examples.sh"))
            .output()
            .expect("run scripts/build-foreign-examples.sh");
        assert!(
            out.status.success(),
            "building the Python and JavaScript examples failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    examples_dir().join(name).join("app.toml")
}
