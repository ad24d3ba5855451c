//! Components from other toolchains run unchanged: a wasi:http/proxy app
//! built with componentize-py and one built with componentize-js (the
//! engine of `jco componentize`), served next to a Rust one, under the
//! same deny-by-default host and limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use support::example;
use support::guests::foreign_example;
use support::serving::{request, start};

/// The component a foreign example's manifest names.
fn component(name: &str) -> std::path::PathBuf {
    let manifest = foreign_example(name);
    let app = warden_runtime::config::AppManifest::load(&manifest).unwrap();
    app.component_path(&manifest)
}

#[test]
fn python_javascript_and_rust_http_components_are_served_side_by_side() {
    let rust = warden_runtime::config::AppManifest::load(&example("hello-http")).unwrap();
    let running = start(
        "",
        &[
            (
                "hello-py",
                component("hello-py"),
                "[http]\nroute = \"/py/...\"",
            ),
            (
                "hello-js",
                component("hello-js"),
                "[http]\nroute = \"/js/...\"",
            ),
            (
                "hello-http",
                rust.component_path(&example("hello-http")),
                "[http]\nroute = \"/hello/...\"",
            ),
        ],
    );
    for (path, expected) in [
        ("/py/ada", "Hello, ada, from Python!"),
        ("/js/grace", "Hello, grace, from JavaScript!"),
        ("/hello/linus", "linus"),
    ] {
        for _ in 0..3 {
            let reply = request(running.addr, "GET", path, "");
            assert_eq!(reply.status, 200, "{path}: {}", reply.body);
            assert!(reply.body.contains(expected), "{path}: {}", reply.body);
        }
    }
}
