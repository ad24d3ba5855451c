//! What `warden build` builds against, carried in the binary so that a
//! build needs no Warden checkout: the `warden:host` WIT and the Python
//! and JavaScript SDKs. Written into the project's cache before each
//! build, so they always match the Warden that runs the app.

use std::path::Path;

/// The world SDK apps target, as componentize-py names it.
pub const WORLD: &str = "warden:host/app@0.2.0";

/// `host-apis/wit`: the package and its dependencies.
const WIT: &[(&str, &str)] = &[
    (
        "warden.wit",
        include_str!("../../../../host-apis/wit/warden.wit"),
    ),
    (
        "deps/config/store.wit",
        include_str!("../../../../host-apis/wit/deps/config/store.wit"),
    ),
    (
        "deps/config/world.wit",
        include_str!("../../../../host-apis/wit/deps/config/world.wit"),
    ),
];

/// `sdk/python`: the `warden` package.
const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "warden/__init__.py",
        include_str!("../../../../sdk/python/warden/__init__.py"),
    ),
    (
        "warden/config.py",
        include_str!("../../../../sdk/python/warden/config.py"),
    ),
    (
        "warden/connectors.py",
        include_str!("../../../../sdk/python/warden/connectors.py"),
    ),
    (
        "warden/errors.py",
        include_str!("../../../../sdk/python/warden/errors.py"),
    ),
    (
        "warden/log.py",
        include_str!("../../../../sdk/python/warden/log.py"),
    ),
    (
        "warden/storage.py",
        include_str!("../../../../sdk/python/warden/storage.py"),
    ),
];

/// `sdk/js`: the module an app imports as `"warden"` (StarlingMonkey
/// resolves a bare name to the file of that name beside the importer) and
/// the files it re-exports.
const JS_SDK: &[(&str, &str)] = &[
    ("warden", include_str!("../../../../sdk/js/warden.js")),
    (
        "warden-sdk/bytes.js",
        include_str!("../../../../sdk/js/warden-sdk/bytes.js"),
    ),
    (
        "warden-sdk/config.js",
        include_str!("../../../../sdk/js/warden-sdk/config.js"),
    ),
    (
        "warden-sdk/connectors.js",
        include_str!("../../../../sdk/js/warden-sdk/connectors.js"),
    ),
    (
        "warden-sdk/errors.js",
        include_str!("../../../../sdk/js/warden-sdk/errors.js"),
    ),
    (
        "warden-sdk/handler.js",
        include_str!("../../../../sdk/js/warden-sdk/handler.js"),
    ),
    (
        "warden-sdk/log.js",
        include_str!("../../../../sdk/js/warden-sdk/log.js"),
    ),
    (
        "warden-sdk/storage.js",
        include_str!("../../../../sdk/js/warden-sdk/storage.js"),
    ),
];

/// `warden.d.ts`, for a scaffolded JavaScript app's editor.
pub const JS_TYPES: &str = include_str!("../../../../sdk/js/warden.d.ts");

fn write_all(dir: &Path, files: &[(&str, &str)]) -> std::io::Result<()> {
    for (name, text) in files {
        let path = dir.join(name);
        // Unchanged files are left alone; a changed one is replaced whole,
        // so a build reading it at the same time never sees half a file.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            warden_runtime::fsutil::write_atomically(&path, text.as_bytes())?;
        }
    }
    Ok(())
}

/// Adds everything shipped (names and texts) to a build's digest: a
/// Warden with another SDK or WIT builds again.
pub fn add_to(hash: &mut sha2::Sha256) {
    use sha2::Digest;
    for (name, text) in WIT.iter().chain(PYTHON_SDK).chain(JS_SDK) {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
}

/// Writes the WIT into `dir`.
pub fn write_wit(dir: &Path) -> std::io::Result<()> {
    write_all(dir, WIT)
}

/// Writes the Python SDK into `dir` (the folder to put on the path).
pub fn write_python_sdk(dir: &Path) -> std::io::Result<()> {
    write_all(dir, PYTHON_SDK)
}

/// Writes the JavaScript SDK into `dir`, beside the app's own files.
pub fn write_js_sdk(dir: &Path) -> std::io::Result<()> {
    write_all(dir, JS_SDK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new SDK or WIT file has to be listed here; this fails until it is.
    #[test]
    fn every_sdk_and_wit_file_is_shipped() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let listed = |files: &[(&str, &str)]| -> Vec<String> {
            let mut v: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
            v.sort();
            v
        };
        let on_disk = |dir: &Path, ext: &str| -> Vec<String> {
            let mut found = Vec::new();
            let mut stack = vec![dir.to_path_buf()];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    let p = entry.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|e| e == ext) {
                        let rel = p.strip_prefix(dir).unwrap_or(&p);
                        found.push(rel.to_string_lossy().replace('\\', "/"));
                    }
                }
            }
            found.sort();
            found
        };
        assert_eq!(listed(WIT), on_disk(&root.join("host-apis/wit"), "wit"));
        assert_eq!(listed(PYTHON_SDK), on_disk(&root.join("sdk/python"), "py"));
        let mut js = on_disk(&root.join("sdk/js"), "js");
        for name in &mut js {
            if name == "warden.js" {
                *name = "warden".into();
            }
        }
        js.sort();
        assert_eq!(listed(JS_SDK), js);
    }
}
