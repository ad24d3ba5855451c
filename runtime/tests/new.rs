//! `warden new`: the scaffold — Rust, Python or JavaScript — builds with
//! `warden build`, passes the publish policy unchanged (live, within its
//! template), and runs; a name taken, a missing cost center or a language
//! Warden cannot build is refused before anything is written.

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

/// `warden build MANIFEST` with the toolchains the examples' builds
/// installed (`WARDEN_CACHE_DIR`).
fn build_shared(manifest: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["build", manifest])
        .env("WARDEN_CACHE_DIR", support::sdk_apps::cache_dir())
        .output()
        .expect("warden build")
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

    // Built as a creator builds it (cargo sharing the examples' compiled
    // SDK; `warden build` copies the component to where app.toml says).
    support::guests::build_guests();
    let manifest_path = app.join("app.toml");
    let m = manifest_path.to_str().unwrap();
    let built = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["build", m])
        .env(
            "CARGO_TARGET_DIR",
            support::guests::examples_dir().join("target"),
        )
        .output()
        .expect("warden build");
    assert!(built.status.success(), "{}", said(&built));
    assert!(
        said(&built).contains("built crm-notes (rust, cargo, wasm32-wasip2)"),
        "{}",
        said(&built)
    );
    assert!(
        app.join("target/wasm32-wasip2/release/crm_notes.wasm")
            .is_file()
    );
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
    let out = scaffold(dir.path(), "old", &["--lang", "cobol"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("--lang python"), "{}", said(&out));
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

#[test]
fn python_and_javascript_scaffolds_build_pass_the_policy_and_run() {
    let dir = tempfile::tempdir().unwrap();
    for (lang, name) in [("python", "py-notes"), ("js", "js-notes")] {
        let out = scaffold(dir.path(), name, &["--lang", lang]);
        assert!(out.status.success(), "{}", said(&out));
        let manifest = dir.path().join(name).join("app.toml");
        let m = manifest.to_str().unwrap();
        assert!(
            std::fs::read_to_string(&manifest)
                .unwrap()
                .contains(&format!(
                    "[build]                 # how `warden build` builds it\nlanguage = \"{lang}\""
                )),
        );
        let built = build_shared(m);
        assert!(built.status.success(), "{lang}: {}", said(&built));
        assert!(
            said(&built).contains(&format!("built {name} ({lang}, componentize-")),
            "{}",
            said(&built)
        );
        // Built again with nothing changed: nothing to do.
        let again = build_shared(m);
        assert!(
            said(&again).contains(&format!("{name} is up to date")),
            "{}",
            said(&again)
        );
        let out = warden(dir.path(), &["policy", "check", m]);
        assert!(
            said(&out).contains(&format!("{name} 0.1.0: would go live")),
            "{}",
            said(&out)
        );
        let out = warden(dir.path(), &["run", m, "--input", "hello"]);
        assert!(out.status.success(), "{}", said(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{name} says: hello\n")
        );
    }
    if let Ok(types) = std::fs::read_to_string(dir.path().join("js-notes/warden.d.ts")) {
        assert!(types.contains("export function defineHandler"));
    } else {
        panic!("the JavaScript scaffold carries the SDK's types");
    }
}

#[test]
fn a_build_says_what_is_missing_and_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("mystery");
    std::fs::create_dir_all(&app).unwrap();
    let manifest = app.join("app.toml");
    std::fs::write(
        &manifest,
        "[app]\nname = \"mystery\"\nversion = \"0.1.0\"\ncomponent = \"target/m.wasm\"\n",
    )
    .unwrap();
    let m = manifest.to_str().unwrap();
    let out = warden(dir.path(), &["build", m]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(
        said(&out).contains("cannot tell the app's language")
            && said(&out).contains("[build] with language"),
        "{}",
        said(&out)
    );
    std::fs::write(
        &manifest,
        format!(
            "{}[build]\nlanguage = \"python\"\nsource = \"main.py\"\n",
            std::fs::read_to_string(&manifest).unwrap()
        ),
    )
    .unwrap();
    let out = warden(dir.path(), &["build", m]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(
        said(&out).contains("main.py does not exist"),
        "{}",
        said(&out)
    );
    // An entry file outside the app's folder is refused, naming the field.
    let outside = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("source = \"main.py\"", "source = \"../main.py\"");
    std::fs::write(&manifest, &outside).unwrap();
    let out = warden(dir.path(), &["build", m]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(said(&out).contains("build.source"), "{}", said(&out));
    std::fs::write(&manifest, outside.replace("../main.py", "main.py")).unwrap();
    // A Python error in the app: the toolchain's message, and nothing written.
    std::fs::write(app.join("main.py"), "def broken(:\n").unwrap();
    let out = build_shared(m);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("SyntaxError") && said(&out).contains("line 1"),
        "{}",
        said(&out)
    );
    assert!(!app.join("target/m.wasm").exists());
    // The same in JavaScript: the file and the line, from node.
    std::fs::write(
        &manifest,
        "[app]\nname = \"mystery\"\nversion = \"0.1.0\"\ncomponent = \"target/m.wasm\"\n[build]\nlanguage = \"js\"\n",
    )
    .unwrap();
    std::fs::write(
        app.join("app.js"),
        "export const handler = {\n  handle(x) { return (x + ; }\n};\n",
    )
    .unwrap();
    let out = build_shared(m);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("app.js:2") && said(&out).contains("SyntaxError"),
        "{}",
        said(&out)
    );
    assert!(!app.join("target/m.wasm").exists());
}
