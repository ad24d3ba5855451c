//! `warden new`: the scaffold builds for wasm32-wasip2, passes the publish
//! policy unchanged (live, within its template), and runs; a name taken,
//! a missing cost center or another language is refused before anything
//! is written.

use crate::support;
use std::path::Path;
use std::process::Command;
use support::said;

const CONFIG: &str = r#"[[connectors]]
name = "crm"
base_url = "https://crm.example.com"
scopes = { read = ["GET /contacts/**"] }
max_class = "internal"

[templates.dash]
connectors = [{ name = "crm", scopes = ["read"] }]
max_class = "internal"
"#;

/// `warden` with no git identity to fall back on.
/// `warden new NAME --dir DIR` with an owner, a team and a cost center,
/// then `extra`.
fn scaffold(home: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    let dir = home.to_str().unwrap();
    let mut args = vec![
        "new",
        name,
        "--dir",
        dir,
        "--owner",
        "a@example.com",
        "--team",
        "t",
        "--cost-center",
        "c",
    ];
    args.extend_from_slice(extra);
    warden(home, &args)
}

fn warden(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("WARDEN_DATA_DIR", home.join("data"))
        .output()
        .expect("run warden")
}

#[test]
fn a_scaffolded_app_builds_passes_the_policy_unchanged_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let cfg = config.to_str().unwrap();
    let out = scaffold(
        dir.path(),
        "crm-notes",
        &["--template", "dash", "--config", cfg],
    );
    assert!(out.status.success(), "{}", said(&out));
    let app = dir.path().join("crm-notes");
    let manifest = std::fs::read_to_string(app.join("app.toml")).unwrap();
    assert!(manifest.contains("template = \"dash\""), "{manifest}");
    assert!(
        manifest.contains("[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]"),
        "{manifest}"
    );
    assert!(
        std::fs::read_to_string(app.join("README.md"))
            .unwrap()
            .contains("template `dash`")
    );

    // Built as a creator builds it (sharing the examples' compiled SDK).
    support::guests::build_guests();
    let target = support::guests::examples_dir().join("target");
    let built = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(app.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo");
    assert!(built.status.success(), "{}", said(&built));
    let wasm = app.join("target/wasm32-wasip2/release");
    std::fs::create_dir_all(&wasm).unwrap();
    std::fs::copy(
        target.join("wasm32-wasip2/release/crm_notes.wasm"),
        wasm.join("crm_notes.wasm"),
    )
    .unwrap();

    let manifest_path = app.join("app.toml");
    let m = manifest_path.to_str().unwrap();
    let out = warden(dir.path(), &["policy", "check", m, "--config", cfg]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("crm-notes 0.1.0: would go live"),
        "{}",
        said(&out)
    );
    let out = warden(dir.path(), &["run", m, "--config", cfg, "--input", "hello"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "crm-notes says: hello\n"
    );

    // Taken: nothing changes.
    let before = std::fs::read_to_string(&manifest_path).unwrap();
    let out = scaffold(dir.path(), "crm-notes", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("exists; nothing was changed"),
        "{}",
        said(&out)
    );
    assert_eq!(std::fs::read_to_string(&manifest_path).unwrap(), before);
}

#[test]
fn what_the_policy_needs_or_cannot_scaffold_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().to_str().unwrap();
    let out = warden(
        dir.path(),
        &[
            "new",
            "lonely",
            "--dir",
            at,
            "--owner",
            "a@example.com",
            "--team",
            "t",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("--cost-center"), "{}", said(&out));
    assert!(
        said(&out).contains("git config --global warden.costCenter"),
        "{}",
        said(&out)
    );
    let out = scaffold(dir.path(), "snake", &["--lang", "python"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let out = scaffold(dir.path(), "Bad_Name", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("app.name"), "{}", said(&out));
    let out = scaffold(dir.path(), "templated", &["--template", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("no such template"), "{}", said(&out));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name() != "data")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
