//! Warden's governed capabilities: one module per capability, each with its
//! configuration, its pure decisions and its implementation of the host side
//! of the WIT in `wit/`. The runtime composes them; a guest reaches nothing
//! that is not listed here.
//!
//! Fail-closed rule shared by every module: when a capability has not been
//! granted, or its configuration is missing, the guest gets an error value at
//! call time (never a trap, never a silent success) and the host records a
//! [`denial::Denial`] for the trace.

pub mod aead;
pub mod classes;
pub mod connectors;
pub mod denial;
pub mod dlp;
pub mod egress;
pub mod invocation;
pub mod kill;
pub mod log;
pub mod metering;
pub mod problem;
pub mod reply;
pub mod secrets;
pub mod sockets;
pub mod sqlite;
pub mod storage;
pub mod units;

/// `.now()` waits for a future in a unit test (the stores run their work
/// inline when there is no tokio runtime).
#[cfg(test)]
pub(crate) trait Now: std::future::Future + Sized {
    fn now(self) -> Self::Output {
        futures_executor::block_on(self)
    }
}

#[cfg(test)]
impl<F: std::future::Future> Now for F {}

/// Host bindings for the `warden:host/app` world, generated from `wit/`.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "app",
        imports: {
            "warden:host/connectors.call": async | trappable,
            "warden:host/storage": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
}
