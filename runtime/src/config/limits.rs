//! Per-invocation limits: what an app asks for in `[limits]`, what the
//! platform allows, and the effective values an invocation runs under.
//!
//! Rule: an app value above the platform maximum is rejected when the app is
//! loaded (never silently clamped, so the creator learns it at once); a value
//! the app leaves out takes the platform default.

use super::units::{Dur, Size};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[limits]` in `app.toml`: every field optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    pub fuel: Option<u64>,
    pub memory: Option<Size>,
    pub timeout: Option<Dur>,
    pub max_output: Option<Size>,
    pub hostcall_bytes: Option<Size>,
}

/// A complete set of limits: the platform's defaults or maximums, or the
/// effective limits of one app.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Limits {
    /// Deterministic CPU budget per invocation, in wasmtime fuel units
    /// (roughly one per simple Wasm instruction).
    pub fuel: u64,
    /// Largest linear memory an instance may grow to.
    pub memory: Size,
    /// Wall-clock deadline of one invocation.
    pub timeout: Dur,
    /// Largest output: handler result, or each of captured stdout / stderr.
    pub max_output: Size,
    /// Most bytes the guest may pass to the host in one host call.
    pub hostcall_bytes: Size,
}

impl Default for Limits {
    /// The built-in defaults: enough for a small tool, small enough that a
    /// runaway one is stopped quickly.
    fn default() -> Self {
        Limits {
            fuel: 100_000_000,
            memory: Size::mib(64),
            timeout: Dur(Duration::from_secs(5)),
            max_output: Size::mib(1),
            hostcall_bytes: Size::mib(4),
        }
    }
}

impl Limits {
    /// The built-in ceilings when `warden.toml` sets none.
    pub(crate) fn default_maximums() -> Self {
        Limits {
            fuel: 10_000_000_000,
            memory: Size::mib(512),
            timeout: Dur(Duration::from_secs(60)),
            max_output: Size::mib(16),
            hostcall_bytes: Size::mib(64),
        }
    }

    /// Fields where `self` exceeds `max`, with both values rendered, in
    /// manifest order: `(field, value, maximum)`.
    pub(crate) fn exceeding(&self, max: &Limits) -> Vec<(&'static str, String, String)> {
        let mut over = Vec::new();
        if self.fuel > max.fuel {
            over.push(("fuel", self.fuel.to_string(), max.fuel.to_string()));
        }
        if self.memory > max.memory {
            over.push(("memory", self.memory.to_string(), max.memory.to_string()));
        }
        if self.timeout > max.timeout {
            over.push(("timeout", self.timeout.to_string(), max.timeout.to_string()));
        }
        if self.max_output > max.max_output {
            over.push((
                "max_output",
                self.max_output.to_string(),
                max.max_output.to_string(),
            ));
        }
        if self.hostcall_bytes > max.hostcall_bytes {
            over.push((
                "hostcall_bytes",
                self.hostcall_bytes.to_string(),
                max.hostcall_bytes.to_string(),
            ));
        }
        over
    }
}

impl LimitRequest {
    /// Fills what the app left out from the platform defaults.
    pub(crate) fn resolve(&self, defaults: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(defaults.fuel),
            memory: self.memory.unwrap_or(defaults.memory),
            timeout: self.timeout.unwrap_or(defaults.timeout),
            max_output: self.max_output.unwrap_or(defaults.max_output),
            hostcall_bytes: self.hostcall_bytes.unwrap_or(defaults.hostcall_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_app_limits_take_the_platform_defaults() {
        let request = LimitRequest {
            fuel: Some(5),
            ..LimitRequest::default()
        };
        let limits = request.resolve(&Limits::default());
        assert_eq!(limits.fuel, 5);
        assert_eq!(limits.memory, Limits::default().memory);
    }

    #[test]
    fn limits_above_the_maximum_are_each_reported() {
        let limits = Limits {
            memory: Size::mib(1024),
            fuel: u64::MAX,
            ..Limits::default()
        };
        let over = limits.exceeding(&Limits::default_maximums());
        let fields: Vec<_> = over.iter().map(|o| o.0).collect();
        assert_eq!(fields, ["fuel", "memory"]);
    }

    #[test]
    fn built_in_defaults_fit_under_built_in_maximums() {
        assert!(
            Limits::default()
                .exceeding(&Limits::default_maximums())
                .is_empty()
        );
    }
}
