//! A JavaScript app on the SDK: the app's files and the SDK are staged in
//! the cache (the app imports the SDK as `"warden"`), and componentize-js
//! (StarlingMonkey) makes one pre-initialised component for
//! `warden:host/app`.

use super::super::exit::fail;
use super::{Job, shipped, toolchain};
use std::path::Path;
use std::process::Command;

/// Copies the app's own files from `from` into `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for rel in super::tree::app_files(from) {
        let target = to.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from.join(&rel), target)?;
    }
    Ok(())
}

/// The toolchain, as the freshness digest and the report name it.
pub fn tool() -> String {
    format!("componentize-js {}", toolchain::COMPONENTIZE_JS)
}

pub fn build(job: &Job) -> anyhow::Result<String> {
    let compiler = toolchain::componentize_js(&job.cache)?;
    let wit = job.cache.join("wit");
    shipped::write_wit(&wit).map_err(|e| fail(1, format!("{}: {e}", wit.display())))?;
    // One stage per build process: two builds of one app at once do not
    // delete each other's files.
    let stage = job
        .cache
        .join("build")
        .join(format!("{}-{}", job.name, std::process::id()));
    let staged = (|| {
        if stage.exists() {
            std::fs::remove_dir_all(&stage)?;
        }
        copy_tree(&job.app_dir, &stage)?;
        shipped::write_js_sdk(&stage)
    })();
    let compiled = staged
        .map_err(|e| fail(1, format!("staging {}: {e}", stage.display())))
        .and_then(|()| super::syntax::check_js(job, &stage.join(".syntax-check")))
        .and_then(|()| {
            let mut command = Command::new(&compiler);
            command
                .current_dir(&stage)
                .arg(&job.source)
                .arg("--wit")
                .arg(&wit)
                .args(["-n", "app", "-o"]);
            job.compile(
                command,
                "componentize-js",
                "the module must `export const handler = defineHandler(…)` (import { defineHandler } from \"warden\")",
            )
        });
    let _ = std::fs::remove_dir_all(&stage);
    compiled.map(|()| tool())
}
