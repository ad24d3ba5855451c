//! The shared PostgreSQL schema: created and migrated by `warden migrate`
//! (and by `warden serve` at start), versioned, and refused when a newer
//! Warden migrated it.

use crate::support;
use std::process::Command;
use support::said as text;
use warden_runtime::state::postgres::schema::LATEST;

fn warden(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("WARDEN_DATA_DIR", dir.join("data"))
        .env_remove("WARDEN_SERVER")
        .env_remove("WARDEN_TOKEN")
        .output()
        .expect("run warden")
}

fn config(dir: &std::path::Path, url: &str) -> String {
    let path = dir.join("warden.toml");
    std::fs::write(
        &path,
        format!("[state]\nbackend = \"postgres\"\nurl = \"{url}\"\n"),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn migrate_creates_the_schema_once_and_says_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::postgres::fresh_database();
    let path = config(dir.path(), &url);
    let out = warden(dir.path(), &["migrate", "--config", &path]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("schema version {LATEST} (migrated from 0)")),
        "{}",
        text(&out)
    );
    let again = warden(dir.path(), &["migrate", "--config", &path]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains(&format!("schema version {LATEST} (up to date)")),
        "{}",
        text(&again)
    );
}

#[test]
fn a_schema_a_newer_warden_migrated_is_refused_by_migrate_and_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::postgres::fresh_database();
    let path = config(dir.path(), &url);
    assert!(
        warden(dir.path(), &["migrate", "--config", &path])
            .status
            .success()
    );
    support::postgres::execute(
        &url,
        "INSERT INTO warden_schema (version, name) VALUES (999, 'from the future')",
    );
    let out = warden(dir.path(), &["migrate", "--config", &path]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "version 999, newer than this Warden knows ({LATEST})"
        )),
        "{}",
        text(&out)
    );
    let serve = warden(
        dir.path(),
        &[
            "serve",
            "--config",
            &path,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
    );
    assert!(!serve.status.success(), "{}", text(&serve));
    assert!(
        text(&serve).contains("newer than this Warden knows"),
        "{}",
        text(&serve)
    );
}

#[test]
fn migrate_on_the_embedded_store_or_an_unusable_url_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = dir.path().join("embedded.toml");
    std::fs::write(&embedded, "").unwrap();
    let out = warden(
        dir.path(),
        &["migrate", "--config", embedded.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("embedded store"), "{}", text(&out));

    let bad = config(dir.path(), "postgresql://warden:s3cret@db:notaport/x");
    let out = warden(dir.path(), &["migrate", "--config", &bad]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("state.url") && !text(&out).contains("s3cret"),
        "{}",
        text(&out)
    );
}
