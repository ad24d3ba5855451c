//! Warden's host runtime: loads micro apps from their manifests and runs
//! them, each invocation in a fresh, deny-by-default sandbox under fuel,
//! memory, time and output limits, traced and audited.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use warden_runtime::{Runtime, config::PlatformConfig, invoke::InvocationRequest};
//! let runtime = Runtime::new(PlatformConfig::builtin(), warden_runtime::telemetry::disabled())?;
//! let app = runtime.load_app("examples/report-formatter/app.toml".as_ref())?;
//! let report = runtime.invoke(&app, InvocationRequest::cli(r#"{"title":"Q3","rows":[]}"#)).await;
//! println!("{}", report.outcome());
//! # Ok(()) }
//! ```

pub mod admin;
pub(crate) mod alert;
pub mod anomaly;
pub mod app;
pub mod artifact_cache;
pub mod attest;
pub mod audit;
pub(crate) mod capabilities;
pub(crate) mod capability;
pub(crate) mod caps;
pub mod compile;
pub mod config;
pub mod config_changes;
pub(crate) mod containment;
pub mod costs;
pub(crate) mod engine;
pub mod fsutil;
pub mod host;
pub mod host_log;
pub(crate) mod host_state;
pub mod invoke;
pub(crate) mod kills;
pub mod known_apps;
pub mod lifecycle;
pub(crate) mod limiter;
pub mod people;
pub(crate) mod platform_http;
pub mod policy;
pub mod presence;
pub mod purge;
pub mod quota_use;
pub mod registry;
pub mod runtime;
pub(crate) mod schedule;
pub(crate) mod scheduler_lease;
pub mod serve;
pub(crate) mod slo;
pub mod state;
pub mod telemetry;
pub mod wait;
pub mod world;

pub use runtime::Runtime;
