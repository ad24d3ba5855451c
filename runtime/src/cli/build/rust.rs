//! A Rust app: the crate beside `app.toml`, built by cargo for
//! `wasm32-wasip2` (a component directly), then copied to where the
//! manifest's `component` says, when cargo put it elsewhere.

use super::super::exit::fail;
use super::Job;
use super::toolchain;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn build(job: &Job) -> anyhow::Result<String> {
    toolchain::rust_target()?;
    let cargo_toml = job.app_dir.join("Cargo.toml");
    let mut child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(&cargo_toml)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(
                1,
                format!("cannot start cargo: {e}\n  fix: install Rust (rustup.rs)"),
            )
        })?;
    // cargo prints its diagnostics on stderr (ours); stdout carries what
    // it built, one JSON message per line.
    let mut built: Option<PathBuf> = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let ours = message["manifest_path"]
                .as_str()
                .map(PathBuf::from)
                .and_then(|p| p.canonicalize().ok())
                == cargo_toml.canonicalize().ok();
            if message["reason"] == "compiler-artifact" && ours {
                let wasm = message["filenames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".wasm"));
                if let Some(wasm) = wasm {
                    built = Some(PathBuf::from(wasm));
                }
            }
        }
    }
    let status = child.wait().map_err(|e| fail(1, format!("cargo: {e}")))?;
    if !status.success() {
        return Err(fail(
            1,
            format!(
                "cargo could not build {} ({status}); its errors are above",
                cargo_toml.display()
            ),
        ));
    }
    let built = built.ok_or_else(|| {
        fail(
            1,
            format!(
                "cargo built no .wasm for {}\n  fix: a Warden app on the SDK is a library with crate-type = [\"cdylib\"]; a command or wasi:http app is a binary",
                cargo_toml.display()
            ),
        )
    })?;
    if built.canonicalize().ok() != job.output.canonicalize().ok() {
        std::fs::copy(&built, &job.output).map_err(|e| {
            fail(
                1,
                format!("{} → {}: {e}", built.display(), job.output.display()),
            )
        })?;
    }
    Ok("cargo, wasm32-wasip2".into())
}
