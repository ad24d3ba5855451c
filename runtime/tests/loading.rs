//! Everything wrong with an app is caught when it is loaded, with an error
//! naming the file, the field and the fix; and components are compiled once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::{TestHost, fixture};
use warden_runtime::artifact_cache::ArtifactSource;

fn load_error(host: &TestHost, manifest: &std::path::Path) -> (Option<String>, String) {
    match host.runtime.load_app(manifest) {
        Ok(_) => panic!("{} should not load", manifest.display()),
        Err(e) => (e.field().map(String::from), e.to_string()),
    }
}

#[test]
fn a_limit_above_the_platform_maximum_names_both_values_and_the_fix() {
    let host =
        TestHost::with_config("[defaults]\nmemory = \"16MiB\"\n[maximums]\nmemory = \"32MiB\"\n");
    let manifest = host.manifest(
        "greedy",
        &fixture("well_behaved"),
        "[limits]\nmemory = \"64MiB\"",
    );
    let (field, message) = load_error(&host, &manifest);
    assert_eq!(field.as_deref(), Some("limits.memory"));
    assert!(
        message.contains("64.0 MiB") && message.contains("32.0 MiB"),
        "{message}"
    );
    assert!(
        message.contains("maximums.memory") && message.contains("greedy.app.toml"),
        "{message}"
    );
}

#[test]
fn a_missing_component_file_says_how_to_build_it() {
    let host = TestHost::new();
    let manifest = host.manifest("ghost", std::path::Path::new("nowhere/ghost.wasm"), "");
    let (field, message) = load_error(&host, &manifest);
    assert_eq!(field.as_deref(), Some("app.component"));
    assert!(
        message.contains("ghost.wasm") && message.contains("wasm32-wasip2"),
        "{message}"
    );
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    let host = TestHost::new();
    let core = host.dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write core module");
    let manifest = host.manifest("core", &core, "");
    let (field, message) = load_error(&host, &manifest);
    assert_eq!(field.as_deref(), Some("app.component"));
    assert!(
        message.contains("core WebAssembly module, not a component"),
        "{message}"
    );
    assert!(message.contains("wasm-tools component new"), "{message}");
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let host = TestHost::new();
    let junk = host.dir.path().join("junk.wasm");
    std::fs::write(&junk, b"#!/bin/sh\necho hi\n").expect("write junk");
    let manifest = host.manifest("junk", &junk, "");
    let (_, message) = load_error(&host, &manifest);
    assert!(message.contains("is not a WebAssembly file"), "{message}");
}

#[test]
fn a_component_importing_what_warden_lacks_names_the_import() {
    let host = TestHost::new();
    let manifest = host.manifest("vault", &fixture("unsatisfiable"), "");
    let (field, message) = load_error(&host, &manifest);
    assert_eq!(field.as_deref(), Some("app.component"));
    assert!(message.contains("acme:fixture/vault"), "{message}");
    assert!(message.contains("Warden does not provide"), "{message}");
}

#[test]
fn a_second_load_of_the_same_component_uses_the_cached_artifact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("shared-data");
    let config = format!("data_dir = \"{}\"\n", data.display());
    let manifest = dir.path().join("noop.toml");
    std::fs::write(
        &manifest,
        format!(
            "[app]\nname = \"noop\"\nversion = \"1.0.0\"\ncomponent = \"{}\"\n",
            fixture("noop_handler").display()
        ),
    )
    .expect("write manifest");
    let first = TestHost::with_config(&config);
    let app = first.load(&manifest);
    assert_eq!(app.artifact, ArtifactSource::Compiled);
    assert_eq!(first.runtime.artifact_cache().compiles(), 1);
    drop(app);
    drop(first);

    // A new runtime (as a second `warden run` would build) on the same data dir.
    let second = TestHost::with_config(&config);
    let app = second.load(&manifest);
    assert_eq!(app.artifact, ArtifactSource::Cached);
    assert_eq!(second.runtime.artifact_cache().compiles(), 0);
    assert_eq!(second.runtime.artifact_cache().hits(), 1);
}

#[test]
fn a_corrupt_cached_artifact_is_recompiled_not_trusted() {
    let host = TestHost::new();
    let component = fixture("noop_handler");
    let manifest = host.manifest("noop", &component, "");
    drop(host.load(&manifest));
    let bytes = std::fs::read(&component).expect("read component");
    let artifact = host.runtime.artifact_cache().path_for(&bytes);
    std::fs::write(&artifact, b"garbage").expect("corrupt artifact");
    let app = host.load(&manifest);
    assert_eq!(app.artifact, ArtifactSource::Compiled);
}

#[test]
fn a_component_built_against_warden_host_0_1_is_told_to_rebuild() {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
    };
    // A component that imports the old `warden:host/log` (no functions
    // needed: the name is what an old SDK build carries).
    let mut component = Component::new();
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    component.section(&types);
    let mut imports = ComponentImportSection::new();
    imports.import("warden:host/log@0.1.0", ComponentTypeRef::Instance(0));
    component.section(&imports);
    let host = TestHost::new();
    let old = host.dir.path().join("old.wasm");
    std::fs::write(&old, component.finish()).unwrap();
    let manifest = host.manifest("old", &old, "");
    let (field, message) = load_error(&host, &manifest);
    assert_eq!(field.as_deref(), Some("app.component"));
    assert!(
        message.contains("warden:host@0.1.0")
            && message.contains("rebuild it with the current SDK"),
        "{message}"
    );
}
