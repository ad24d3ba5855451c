//! A syntax check of the app's own files before the toolchain runs: the
//! toolchains report a syntax error without its line (componentize-js:
//! "failed to parse JS source, encountered [1] errors") or buried in their
//! own tracebacks (componentize-py), so `warden build` asks the language
//! itself first — `node --check` for JavaScript (as an ES module), Python's
//! `ast.parse` — and shows its answer: the file, the line and what is wrong.

use super::super::exit::fail;
use super::{Job, tree};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The app's files with extension `ext`, relative to its folder.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    tree::app_files(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

fn refuse(job: &Job, said: &str) -> anyhow::Error {
    fail(
        1,
        format!(
            "{} has a syntax error:\n{}",
            job.app_dir.display(),
            said.trim_end()
        ),
    )
}

/// Checks every `.js` file of the app with `node --check`, each as an ES
/// module (a copy named `.mjs` in `scratch`; the answer names the app's
/// own file).
pub fn check_js(job: &Job, scratch: &Path) -> anyhow::Result<()> {
    for rel in files(&job.app_dir, "js") {
        let copy = scratch.join(&rel).with_extension("mjs");
        if let Some(parent) = copy.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| fail(1, format!("{}: {e}", parent.display())))?;
        }
        std::fs::copy(job.app_dir.join(&rel), &copy)
            .map_err(|e| fail(1, format!("{}: {e}", rel.display())))?;
        let Ok(out) = Command::new("node").arg("--check").arg(&copy).output() else {
            return Ok(()); // no node: the toolchain will say so
        };
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr).replace(
                &copy.display().to_string(),
                &job.app_dir.join(&rel).display().to_string(),
            );
            let said: Vec<&str> = said
                .lines()
                .filter(|l| !l.trim_start().starts_with("at ") && !l.starts_with("Node.js v"))
                .collect();
            return Err(refuse(job, &said.join("\n")));
        }
    }
    Ok(())
}

/// Parses every `.py` file of the app with Python's `ast` (nothing is
/// written: no `__pycache__`).
pub fn check_python(job: &Job) -> anyhow::Result<()> {
    let found = files(&job.app_dir, "py");
    const PARSE: &str = "import ast, sys\nfor f in sys.argv[1:]:\n    try:\n        ast.parse(open(f, 'rb').read(), f)\n    except SyntaxError as e:\n        print(f'  File \"{e.filename}\", line {e.lineno}\\n    {(e.text or \"\").rstrip()}\\nSyntaxError: {e.msg}')\n        sys.exit(1)\n";
    let Ok(out) = Command::new("python3")
        .current_dir(&job.app_dir)
        .args(["-c", PARSE])
        .args(&found)
        .output()
    else {
        return Ok(()); // no python3: the toolchain will say so
    };
    if out.status.success() {
        return Ok(());
    }
    Err(refuse(job, &String::from_utf8_lossy(&out.stdout)))
}
