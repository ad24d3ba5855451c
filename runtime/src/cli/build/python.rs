//! A Python app on the SDK: componentize-py bundles the interpreter, the
//! app's module and the `warden` package into one component for
//! `warden:host/app`, pre-initialised (the module is imported at build
//! time, so its top level runs once, not per request).

use super::super::exit::fail;
use super::{Job, shipped, toolchain};
use std::process::Command;

/// The toolchain, as the freshness digest and the report name it.
pub fn tool() -> String {
    format!("componentize-py {}", toolchain::COMPONENTIZE_PY)
}

pub fn build(job: &Job) -> anyhow::Result<String> {
    super::syntax::check_python(job)?;
    let compiler = toolchain::componentize_py(&job.cache)?;
    let wit = job.cache.join("wit");
    let sdk = job.cache.join("sdk/python");
    shipped::write_wit(&wit).map_err(|e| fail(1, format!("{}: {e}", wit.display())))?;
    shipped::write_python_sdk(&sdk).map_err(|e| fail(1, format!("{}: {e}", sdk.display())))?;
    // `app.py` is the module `app`; `jobs/main.py` is `jobs.main`.
    let module = job
        .source
        .with_extension("")
        .to_string_lossy()
        .replace(['/', '\\'], ".");
    let mut command = Command::new(&compiler);
    command
        // An error in the app is a Python error; componentize-py's own
        // Rust backtrace would bury it.
        .env("RUST_BACKTRACE", "0")
        .current_dir(&job.app_dir)
        .arg("-d")
        .arg(&wit)
        .args(["-w", shipped::WORLD, "componentize", &module, "-p", "."])
        .arg("-p")
        .arg(&sdk)
        .arg("-o");
    job.compile(
        command,
        "componentize-py",
        "the module must define `Handler = warden.Handler` and a function decorated with @warden.handler",
    )?;
    Ok(tool())
}
