//! The toolchains `warden build` runs, installed on first use into the
//! project's cache (`.warden-build/` at the project's root) from the package
//! registries: componentize-py from PyPI into a virtual environment,
//! componentize-js from npm. Pinned versions, so every build of a project
//! uses the compiler its tests ran with. Rust needs only its
//! `wasm32-wasip2` target, added through rustup.

use super::super::EXIT_CONFIG;
use super::super::exit::fail;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

/// componentize-py on PyPI.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// componentize-js on npm (the engine behind `jco componentize`).
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// The folder `warden build` keeps its toolchains, WIT and SDKs in:
/// `WARDEN_CACHE_DIR`, else `.warden-build/` at the project's root: the
/// nearest folder above the app that holds `.git`, else one that holds
/// `warden.toml`, else the app's own folder. One cache per repository,
/// however many apps it holds.
pub fn cache_dir(app_dir: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("WARDEN_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let holding = |marker: &str| app_dir.ancestors().find(|d| d.join(marker).exists());
    let root = holding(".git")
        .or_else(|| holding("warden.toml"))
        .unwrap_or(app_dir);
    root.join(".warden-build")
}

/// Runs `command`, its output kept; `Err` says what failed with the end of
/// what it printed.
pub fn run_quiet(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = command
        .output()
        .map_err(|e| fail(EXIT_CONFIG, format!("{what}: cannot start it: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = said.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(fail(
        EXIT_CONFIG,
        format!("{what} failed ({}):\n{}", out.status, tail.join("\n")),
    ))
}

/// Whether `program --version` runs.
fn present(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The oldest Node.js componentize-js runs on.
const NODE_MAJOR: u32 = 18;

/// Node's major version (`node --version` prints `v20.20.2`).
fn node_major() -> Option<u32> {
    let out = Command::new("node").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Installs into `dir` once, under a lock (parallel builds of a project
/// share it): `install` runs only when no earlier install completed, and
/// an interrupted one is started over.
fn once(dir: &Path, install: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let done = dir.join(".installed");
    if done.is_file() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)
        .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", parent.display())))?;
    // `componentize-py-0.25.1.lock`, beside the folder (the same lock
    // `flock` takes in scripts/build-foreign-examples.sh).
    let mut lock_path = dir.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let lock = File::create(&lock_path)
        .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", lock_path.display())))?;
    lock.lock()
        .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", lock_path.display())))?;
    if done.is_file() {
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", dir.display())))?;
    install(dir)?;
    std::fs::write(&done, b"")
        .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", done.display())))?;
    Ok(())
}

/// componentize-py, installed into `cache/toolchains/` on first use.
pub fn componentize_py(cache: &Path) -> anyhow::Result<PathBuf> {
    let dir = cache
        .join("toolchains")
        .join(format!("componentize-py-{COMPONENTIZE_PY}"));
    once(&dir, |dir| {
        if !present("python3") {
            return Err(fail(
                EXIT_CONFIG,
                "building a Python app needs python3 (3.9 or newer, with venv) to install componentize-py\n  fix: install it (Debian: apt install python3 python3-venv) and build again",
            ));
        }
        eprintln!(
            "installing componentize-py {COMPONENTIZE_PY} from PyPI into {} (once)",
            dir.display()
        );
        run_quiet(
            Command::new("python3").args(["-m", "venv"]).arg(dir),
            "python3 -m venv (Debian: apt install python3-venv)",
        )?;
        run_quiet(
            Command::new(dir.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &format!("componentize-py=={COMPONENTIZE_PY}"),
            ]),
            "pip install componentize-py",
        )
    })?;
    Ok(dir.join("bin/componentize-py"))
}

/// componentize-js, installed into `cache/toolchains/` on first use.
pub fn componentize_js(cache: &Path) -> anyhow::Result<PathBuf> {
    let dir = cache
        .join("toolchains")
        .join(format!("componentize-js-{COMPONENTIZE_JS}"));
    once(&dir, |dir| {
        let node = node_major();
        if node.is_none_or(|v| v < NODE_MAJOR) || !present("npm") {
            let found = match node {
                Some(v) => format!("Node.js {v} is too old"),
                None => "no Node.js or npm found".to_string(),
            };
            return Err(fail(
                EXIT_CONFIG,
                format!(
                    "building a JavaScript app needs Node.js {NODE_MAJOR} or newer and npm to install componentize-js; {found}\n  fix: install them (Debian 12: apt install nodejs npm; elsewhere from nodejs.org) and build again"
                ),
            ));
        }
        eprintln!(
            "installing componentize-js {COMPONENTIZE_JS} from npm into {} (once)",
            dir.display()
        );
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n")
            .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", dir.display())))?;
        run_quiet(
            Command::new("npm").current_dir(dir).args([
                "install",
                "--loglevel=error",
                "--no-audit",
                "--no-fund",
                &format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"),
            ]),
            "npm install @bytecodealliance/componentize-js",
        )
    })?;
    Ok(dir.join("node_modules/.bin/componentize-js"))
}

/// Adds rustup's `wasm32-wasip2` target when it is missing.
pub fn rust_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("wasm32-wasip2") => Ok(()),
        Ok(_) => {
            eprintln!("adding the wasm32-wasip2 target (once): rustup target add wasm32-wasip2");
            run_quiet(
                Command::new("rustup").args(["target", "add", "wasm32-wasip2"]),
                "rustup target add wasm32-wasip2",
            )
        }
        // No rustup: a toolchain installed another way may still have the
        // target; cargo says so if not.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scripts/build-foreign-examples.sh installs the same toolchains into
    /// the same cache: the versions must not drift apart.
    #[test]
    fn the_examples_script_pins_the_same_toolchains() {
        let script = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-foreign-examples.sh"),
        )
        .unwrap_or_default();
        assert!(script.contains(&format!("COMPONENTIZE_PY={COMPONENTIZE_PY}\n")));
        assert!(script.contains(&format!("COMPONENTIZE_JS={COMPONENTIZE_JS}\n")));
    }
}
