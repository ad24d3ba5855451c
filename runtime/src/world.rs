//! Which entry point a component offers, decided from its exports once at
//! load time.
//!
//! | export                              | world               | how it runs            |
//! |-------------------------------------|---------------------|------------------------|
//! | `warden:host/handler@0.1.x`         | `warden:host/app`   | bytes in, bytes out    |
//! | `wasi:cli/run@0.2.x`                | `wasi:cli/command`  | ARGS in, stdout out    |
//! | `wasi:http/incoming-handler@0.2.x`  | `wasi:http/proxy`   | one HTTP request       |
//!
//! Anything else is refused at load with the list above.

use std::fmt;
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    App,
    Command,
    HttpProxy,
}

impl World {
    pub fn as_str(self) -> &'static str {
        match self {
            World::App => "warden:host/app",
            World::Command => "wasi:cli/command",
            World::HttpProxy => "wasi:http/proxy",
        }
    }

    /// Finds the world from the component's exports; the Warden handler
    /// wins when a component exports several entry points.
    pub fn of(engine: &Engine, component: &Component) -> Option<World> {
        let exports: Vec<String> = component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let has = |prefix: &str| exports.iter().any(|e| e.starts_with(prefix));
        if has("warden:host/handler@0.1") {
            Some(World::App)
        } else if has("wasi:cli/run@0.2") {
            Some(World::Command)
        } else if has("wasi:http/incoming-handler@0.2") {
            Some(World::HttpProxy)
        } else {
            None
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a file handed to Warden as a component actually is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    Component,
    CoreModule,
    NotWasm,
}

pub fn binary_kind(bytes: &[u8]) -> BinaryKind {
    if wasmparser::Parser::is_component(bytes) {
        BinaryKind::Component
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        BinaryKind::CoreModule
    } else {
        BinaryKind::NotWasm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_and_garbage_are_told_apart_from_components() {
        assert_eq!(binary_kind(b"\0asm\x01\0\0\0"), BinaryKind::CoreModule);
        assert_eq!(binary_kind(b"\0asm\x0d\0\x01\0"), BinaryKind::Component);
        assert_eq!(binary_kind(b"#!/bin/sh\n"), BinaryKind::NotWasm);
        assert_eq!(binary_kind(b""), BinaryKind::NotWasm);
    }
}
