//! The capabilities a Warden host has: one module and one line in the list
//! below each. Adding a capability means writing its module (see
//! [`crate::capability`] for the phases) and adding it here; the runtime,
//! loading, the store's state and the invocation iterate over this list.

pub mod egress;
pub mod log;
pub mod reply;
pub mod storage;
pub mod wasi_config;

crate::capability::capabilities! {
    /// Outbound HTTP and connector calls, governed.
    egress: egress::Egress,
    /// Classified key-value storage (`warden:host/storage`, `wasi:keyvalue`).
    storage: storage::Storage,
    /// Structured guest logs.
    log: log::Log,
    /// An HTTP handler's status and content type.
    reply: reply::Reply,
    /// Configuration values through `wasi:config/store`.
    config: wasi_config::WasiConfig,
}
