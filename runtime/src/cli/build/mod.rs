//! `warden build`: the app's component from its source, with the
//! toolchain of its language — cargo for Rust, componentize-py for
//! Python, componentize-js for JavaScript — against the `warden:host` WIT
//! this Warden serves. Toolchains are installed into the project's cache
//! on first use; the component goes where `app.toml`'s `component` says.

mod fresh;
mod js;
mod python;
mod rust;
pub mod shipped;
mod syntax;
pub mod toolchain;
mod tree;

use super::EXIT_CONFIG;
use super::exit::{Outcome, fail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use warden_runtime::config::AppManifest;
use warden_runtime::config::build::Language;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  warden build                           # app.toml here\n  warden build examples/lunch-bot/app.toml\n  warden build --force app.toml          # even when nothing it is built from changed\n\nThe language comes from [build] language in app.toml, else from the file\nbeside it: Cargo.toml (rust), app.py (python), app.js (js). Toolchains are\ninstalled once into .warden-build/ at the project's root (the folder with .git\nor warden.toml; WARDEN_CACHE_DIR overrides it): componentize-py from PyPI\n(needs python3), componentize-js from npm (needs node and npm), rustup's\nwasm32-wasip2 target."
)]
pub struct BuildArgs {
    /// The app's manifest.
    #[arg(default_value = "app.toml")]
    manifest: PathBuf,
    /// Build a Python or JavaScript app even when nothing it is built from
    /// changed (cargo decides for Rust).
    #[arg(long)]
    force: bool,
}

/// One build: what to build, with what, and where it goes.
pub struct Job {
    pub name: String,
    /// The folder of `app.toml`.
    pub app_dir: PathBuf,
    /// The entry file, relative to `app_dir`.
    pub source: PathBuf,
    /// The component, as the manifest names it (relative to here).
    pub output: PathBuf,
    /// The same, absolute (toolchains run in other folders).
    pub output_abs: PathBuf,
    pub cache: PathBuf,
}

impl Job {
    /// Runs a toolchain's `command` with the path to write the component
    /// to as its last argument: a file beside the component, renamed over
    /// it only when the toolchain succeeded, so a failed build never
    /// leaves a half-written component that looks newer than its source.
    pub fn compile(&self, mut command: Command, tool: &str, hint: &str) -> anyhow::Result<()> {
        // Per process: two builds of one app at once do not share it.
        let mut partial = self.output_abs.as_os_str().to_owned();
        partial.push(format!(".partial-{}", std::process::id()));
        let partial = PathBuf::from(partial);
        let status = command
            .arg(&partial)
            .status()
            .map_err(|e| fail(1, format!("cannot start {tool}: {e}")))?;
        if !status.success() {
            let _ = std::fs::remove_file(&partial);
            return Err(fail(
                1,
                format!(
                    "{tool} could not build {} ({status}); its errors are above\n  hint: {hint}",
                    self.app_dir.join(&self.source).display()
                ),
            ));
        }
        std::fs::rename(&partial, &self.output_abs)
            .map_err(|e| fail(1, format!("{}: {e}", self.output.display())))
    }
}

fn language(manifest: &AppManifest, app_dir: &Path, path: &Path) -> anyhow::Result<Language> {
    let asked = manifest.build.as_ref().and_then(|b| b.language);
    asked.or_else(|| Language::detect(app_dir)).ok_or_else(|| {
        fail(
            EXIT_CONFIG,
            format!(
                "{}: cannot tell the app's language: no Cargo.toml, app.py or app.js beside it\n  fix: add [build] with language = \"rust\" | \"python\" | \"js\" (and source = \"main.py\" for another entry file)",
                path.display()
            ),
        )
    })
}

/// `[build] source` as a path inside the app's folder: relative, without
/// `..`, and of the language's kind.
fn entry_file(manifest: &AppManifest, lang: Language, path: &Path) -> anyhow::Result<PathBuf> {
    use std::path::Component;
    let Some(source) = manifest.build.as_ref().and_then(|b| b.source.clone()) else {
        return Ok(PathBuf::from(lang.default_source()));
    };
    let inside = source
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let kind = match lang {
        Language::Python => Some("py"),
        Language::Js => Some("js"),
        Language::Rust => None,
    };
    let right_kind = kind.is_none_or(|ext| source.extension().is_some_and(|e| e == ext));
    if !inside || !right_kind || lang == Language::Rust {
        return Err(fail(
            EXIT_CONFIG,
            format!(
                "{}: build.source = {:?} is not a {} file inside the app's folder\n  fix: name the entry file relative to app.toml, e.g. source = \"{}\" (a Rust app builds the crate beside app.toml and takes no source)",
                path.display(),
                source.display(),
                lang.as_str(),
                lang.default_source()
            ),
        ));
    }
    // `./app.py` is `app.py`: the module name comes from it.
    Ok(source
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect())
}

/// `a/b/../c` as `a/c`, for showing a path the way a person would write it.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir if !out.is_empty() => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

pub fn run(args: BuildArgs) -> Outcome {
    let manifest = AppManifest::load(&args.manifest).map_err(|e| fail(EXIT_CONFIG, e))?;
    let app_dir = match args.manifest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let lang = language(&manifest, &app_dir, &args.manifest)?;
    let source = entry_file(&manifest, lang, &args.manifest)?;
    if !app_dir.join(&source).is_file() {
        return Err(fail(
            EXIT_CONFIG,
            format!(
                "{}: the {} entry file {} does not exist\n  fix: create it, or name another with [build] source = \"…\" in {}",
                args.manifest.display(),
                lang.as_str(),
                app_dir.join(&source).display(),
                args.manifest.display()
            ),
        ));
    }
    let output = app_dir.join(&manifest.app.component);
    let output_abs = std::path::absolute(&output).unwrap_or_else(|_| output.clone());
    if let Some(parent) = output_abs.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", parent.display())))?;
    }
    let cache = toolchain::cache_dir(&std::path::absolute(&app_dir).unwrap_or(app_dir.clone()));
    let job = Job {
        name: manifest.app.name.clone(),
        app_dir,
        source,
        output,
        output_abs,
        cache,
    };
    let digest = match lang {
        Language::Rust => None,
        Language::Python => Some(fresh::digest(&job, &python::tool())),
        Language::Js => Some(fresh::digest(&job, &js::tool())),
    };
    if let Some(digest) = &digest
        && !args.force
        && fresh::up_to_date(&job, digest)
    {
        println!(
            "{} is up to date: {}",
            job.name,
            tidy(&job.output).display()
        );
        return Ok(());
    }
    fresh::forget(&job);
    let started = Instant::now();
    let with = match lang {
        Language::Rust => rust::build(&job)?,
        Language::Python => python::build(&job)?,
        Language::Js => js::build(&job)?,
    };
    if let Some(digest) = &digest {
        fresh::record(&job, digest);
    }
    let bytes = std::fs::metadata(&job.output_abs)
        .map(|m| m.len())
        .map_err(|e| {
            fail(
                1,
                format!(
                    "the build wrote no component at {}: {e}",
                    job.output.display()
                ),
            )
        })?;
    println!(
        "built {} ({}, {with}): {} ({}) in {:.1} s",
        job.name,
        lang.as_str(),
        tidy(&job.output).display(),
        size(bytes),
        started.elapsed().as_secs_f64()
    );
    let m = args.manifest.display();
    println!("  next: warden policy check {m} && warden run {m}");
    Ok(())
}
