//! The two configuration files and the types they share.

pub mod anomaly;
pub mod app;
pub mod audit;
pub mod audit_sinks;
pub mod build;
pub mod containment;
pub mod costs;
pub mod deploys;
pub mod error;
pub mod lifecycle;
pub mod limits;
pub mod oidc;
pub mod platform;
pub mod policy;
pub mod schedules;
pub mod slo;
pub mod state;
pub mod telemetry;
pub mod templates;
pub mod tls;
pub(crate) mod urls;
pub mod world;
pub use warden_host_apis::units;

pub use app::AppManifest;
pub use error::ConfigError;
pub use limits::{LimitRequest, Limits};
pub use platform::PlatformConfig;
pub use units::{Dur, Size};
