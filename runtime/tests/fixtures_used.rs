//! Every fixture guest is exercised by some test: a fixture nobody runs is
//! a containment claim nobody checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

fn fixture_names(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("guests/src/bin")).expect("guests dir") {
        let path = entry.expect("entry").path();
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            names.push(stem.to_string());
        }
    }
    for entry in std::fs::read_dir(root).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if path.join("Cargo.toml").exists() && name != "guests" {
            names.push(name.replace('-', "_"));
        }
    }
    names.sort();
    names
}

#[test]
fn every_fixture_is_used_by_a_test() {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&tests_dir).expect("tests dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("fixtures_used.rs") {
            sources.push_str(&std::fs::read_to_string(&path).expect("read test"));
        }
    }
    let names = fixture_names(&tests_dir.join("fixtures"));
    assert!(names.len() >= 10, "found only {names:?}");
    let unused: Vec<_> = names
        .iter()
        .filter(|n| !sources.contains(&format!("\"{n}\"")))
        .collect();
    assert!(unused.is_empty(), "fixtures no test uses: {unused:?}");
}
