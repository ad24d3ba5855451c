//! Which entry point a component offers, decided from its exports once at
//! load time.
//!
//! | export                              | world               | how it runs            |
//! |-------------------------------------|---------------------|------------------------|
//! | `warden:host/handler@0.2.x`         | `warden:host/app`   | bytes in, bytes out    |
//! | `wasi:cli/run@0.2.x`                | `wasi:cli/command`  | ARGS in, stdout out    |
//! | `wasi:http/incoming-handler@0.2.x`  | `wasi:http/proxy`   | one HTTP request       |
//!
//! Anything else is refused at load with the list above. A component may
//! export several (std Rust, componentize-py and others add `wasi:cli/run`
//! to HTTP components); [`World::choose`] decides from the manifest, and
//! `app.world` settles what the manifest alone cannot.

use std::fmt;
use wasmtime::Engine;
use wasmtime::component::Component;

pub use crate::config::world::World;

/// Why no single entry point could be picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unchosen {
    /// The component exports none of the entry points.
    None,
    /// `app.world` names an entry point the component does not export.
    NotExported { chosen: World, offered: Vec<World> },
    /// Several entry points fit and nothing in the manifest picks one.
    Ambiguous(Vec<World>),
}

impl World {
    pub fn as_str(self) -> &'static str {
        match self {
            World::App => "warden:host/app",
            World::Command => "wasi:cli/command",
            World::HttpProxy => "wasi:http/proxy",
        }
    }

    /// The export that makes a component this world.
    pub fn export(self) -> &'static str {
        match self {
            World::App => "warden:host/handler",
            World::Command => "wasi:cli/run",
            World::HttpProxy => "wasi:http/incoming-handler",
        }
    }

    /// The `warden:host` version a component was built against, when it is
    /// one this Warden no longer serves (0.1: errors without typed
    /// denials). Such a component fails to link; this names why.
    pub(crate) fn outdated_warden_host(engine: &Engine, component: &Component) -> Option<String> {
        let ty = component.component_type();
        ty.imports(engine)
            .map(|(name, _)| name.to_string())
            .chain(ty.exports(engine).map(|(name, _)| name.to_string()))
            .filter(|name| name.starts_with("warden:host/"))
            .filter_map(|name| name.split('@').nth(1).map(str::to_string))
            .find(|version| {
                // Older than the 0.2 this Warden serves (0.1.x; 0.10 is not).
                let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
                matches!(
                    (parts.next(), parts.next()),
                    (Some(Some(0)), Some(Some(minor))) if minor < 2
                )
            })
    }

    /// The entry points a component exports, in a fixed order.
    pub(crate) fn offered(engine: &Engine, component: &Component) -> Vec<World> {
        let exports: Vec<String> = component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let has = |prefix: &str| exports.iter().any(|e| e.starts_with(prefix));
        [
            (World::App, "warden:host/handler@0.2"),
            (World::Command, "wasi:cli/run@0.2"),
            (World::HttpProxy, "wasi:http/incoming-handler@0.2"),
        ]
        .into_iter()
        .filter(|(_, prefix)| has(prefix))
        .map(|(world, _)| world)
        .collect()
    }

    /// Picks the entry point, once, at load. `chosen` is `app.world`;
    /// `http` says the manifest has an `[http]` route.
    ///
    /// | exports                 | `[http]` | runs as                        |
    /// |-------------------------|----------|--------------------------------|
    /// | one entry point         | either   | that one                       |
    /// | `run` + incoming-handler| yes      | wasi:http/proxy (toolchains add `run`) |
    /// | `run` + incoming-handler| no       | refused: say `app.world`       |
    /// | handler + anything      | no       | warden:host/app                |
    /// | handler + incoming-handler | yes   | refused: say `app.world`       |
    ///
    /// `app.world` always wins when the component exports it.
    pub(crate) fn choose(
        offered: &[World],
        chosen: Option<World>,
        http: bool,
    ) -> Result<World, Unchosen> {
        if let Some(chosen) = chosen {
            return if offered.contains(&chosen) {
                Ok(chosen)
            } else {
                Err(Unchosen::NotExported {
                    chosen,
                    offered: offered.to_vec(),
                })
            };
        }
        let fitting: Vec<World> = if http {
            // A command cannot answer requests; its `run` is a leftover.
            let answering: Vec<World> = offered
                .iter()
                .copied()
                .filter(|w| *w != World::Command)
                .collect();
            if answering.is_empty() {
                offered.to_vec()
            } else {
                answering
            }
        } else if offered.contains(&World::App) {
            vec![World::App]
        } else {
            offered.to_vec()
        };
        match fitting.as_slice() {
            [] => Err(Unchosen::None),
            [one] => Ok(*one),
            _ => Err(Unchosen::Ambiguous(fitting)),
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
pub(crate) enum BinaryKind {
    Component,
    CoreModule,
    NotWasm,
}

pub(crate) fn binary_kind(bytes: &[u8]) -> BinaryKind {
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
    use World::{App, Command, HttpProxy};

    #[test]
    fn a_route_serves_a_component_that_also_exports_run_over_http() {
        assert_eq!(
            World::choose(&[Command, HttpProxy], None, true),
            Ok(HttpProxy)
        );
    }

    #[test]
    fn run_and_incoming_handler_without_a_route_is_ambiguous() {
        assert_eq!(
            World::choose(&[Command, HttpProxy], None, false),
            Err(Unchosen::Ambiguous(vec![Command, HttpProxy]))
        );
        assert_eq!(
            World::choose(&[Command, HttpProxy], Some(Command), false),
            Ok(Command)
        );
    }

    #[test]
    fn the_warden_handler_wins_without_a_route_and_is_ambiguous_with_one() {
        assert_eq!(World::choose(&[App, Command], None, false), Ok(App));
        assert_eq!(
            World::choose(&[App, HttpProxy], None, true),
            Err(Unchosen::Ambiguous(vec![App, HttpProxy]))
        );
        assert_eq!(World::choose(&[App], None, true), Ok(App));
    }

    #[test]
    fn a_chosen_world_must_be_exported_and_no_export_is_refused() {
        assert_eq!(
            World::choose(&[Command], Some(HttpProxy), true),
            Err(Unchosen::NotExported {
                chosen: HttpProxy,
                offered: vec![Command]
            })
        );
        assert_eq!(World::choose(&[], None, false), Err(Unchosen::None));
        assert_eq!(World::choose(&[Command], None, true), Ok(Command));
    }

    #[test]
    fn core_modules_and_garbage_are_told_apart_from_components() {
        assert_eq!(binary_kind(b"\0asm\x01\0\0\0"), BinaryKind::CoreModule);
        assert_eq!(binary_kind(b"\0asm\x0d\0\x01\0"), BinaryKind::Component);
        assert_eq!(binary_kind(b"#!/bin/sh\n"), BinaryKind::NotWasm);
        assert_eq!(binary_kind(b""), BinaryKind::NotWasm);
    }
}
