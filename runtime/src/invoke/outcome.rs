//! How an invocation ended, as a typed value.
//!
//! Every limit breach names the limit, its value and the manifest field that
//! sets it, so the creator knows what to change (or what to stop doing).
//! Each kind has a stable name (`as_str`, used in traces and `--json`) and a
//! distinct process exit code for `warden run`.

use crate::config::{Dur, Size};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InvocationError {
    #[error("ran out of fuel: used its whole budget of {limit} units (`limits.fuel` in app.toml)")]
    FuelExhausted { limit: u64 },

    #[error("timed out: still running after {limit} (`limits.timeout` in app.toml)")]
    Timeout {
        #[serde(serialize_with = "as_string")]
        limit: Dur,
    },

    #[error(
        "hit the memory limit: asked for {requested} of linear memory, limit is {limit} (`limits.memory` in app.toml)"
    )]
    MemoryLimit {
        #[serde(serialize_with = "as_string")]
        limit: Size,
        #[serde(serialize_with = "as_string")]
        requested: Size,
    },

    #[error(
        "produced too much output: {stream} exceeded {limit} (`limits.max_output` in app.toml)"
    )]
    OutputLimit {
        stream: &'static str,
        #[serde(serialize_with = "as_string")]
        limit: Size,
    },

    #[error(
        "copied more than {limit} between guest and host in one call (`limits.hostcall_bytes` in app.toml)"
    )]
    HostcallLimit {
        #[serde(serialize_with = "as_string")]
        limit: Size,
    },

    #[error(
        "overflowed its call stack of {limit} (`engine.max_wasm_stack` in warden.toml); look for unbounded recursion"
    )]
    StackOverflow {
        #[serde(serialize_with = "as_string")]
        limit: Size,
    },

    #[error("was refused: {0}")]
    QuotaExceeded(warden_host_apis::metering::QuotaExceeded),

    #[error("was stopped by an operator (kill switch)")]
    Killed,

    /// The state the app needed (shared storage) could not be reached,
    /// and the app failed or answered 5xx for it.
    #[error("could not reach the shared state it needed: {message}")]
    StateUnavailable { message: String },

    #[error("trapped: {message}")]
    Trap { message: String },

    #[error("was denied {target} ({denial}) and then failed: {message}")]
    Denied {
        denial: &'static str,
        target: String,
        message: String,
    },

    #[error("failed: {message}")]
    AppError { message: String },

    #[error("could not be started: {message}")]
    Host { message: String },
}

fn as_string<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl InvocationError {
    pub fn as_str(&self) -> &'static str {
        match self {
            InvocationError::FuelExhausted { .. } => "fuel-exhausted",
            InvocationError::Timeout { .. } => "timeout",
            InvocationError::MemoryLimit { .. } => "memory-limit",
            InvocationError::OutputLimit { .. } => "output-limit",
            InvocationError::StackOverflow { .. } => "stack-overflow",
            InvocationError::HostcallLimit { .. } => "hostcall-limit",
            InvocationError::QuotaExceeded(_) => "quota-exceeded",
            InvocationError::Killed => "killed",
            InvocationError::StateUnavailable { .. } => "state-unavailable",
            InvocationError::Trap { .. } => "trap",
            InvocationError::Denied { .. } => "denied",
            InvocationError::AppError { .. } => "app-error",
            InvocationError::Host { .. } => "host-error",
        }
    }

    /// Exit code of `warden run` for this outcome (0 is success, 2 is a
    /// usage error, 3 a configuration error).
    pub fn exit_code(&self) -> u8 {
        match self {
            InvocationError::AppError { .. } => 1,
            InvocationError::FuelExhausted { .. } => 10,
            InvocationError::Timeout { .. } => 11,
            InvocationError::MemoryLimit { .. } => 12,
            InvocationError::OutputLimit { .. } => 13,
            InvocationError::StackOverflow { .. } => 14,
            InvocationError::Trap { .. } => 15,
            InvocationError::Denied { .. } => 16,
            InvocationError::Host { .. } => 17,
            InvocationError::HostcallLimit { .. } => 18,
            InvocationError::QuotaExceeded(_) => 19,
            InvocationError::Killed => 20,
            InvocationError::StateUnavailable { .. } => 21,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    fn all() -> Vec<InvocationError> {
        vec![
            InvocationError::FuelExhausted { limit: 1 },
            InvocationError::StateUnavailable {
                message: "down".into(),
            },
            InvocationError::Timeout {
                limit: Dur(Duration::from_secs(1)),
            },
            InvocationError::MemoryLimit {
                limit: Size(1),
                requested: Size(2),
            },
            InvocationError::OutputLimit {
                stream: "stdout",
                limit: Size(1),
            },
            InvocationError::StackOverflow { limit: Size(1) },
            InvocationError::HostcallLimit { limit: Size(1) },
            InvocationError::QuotaExceeded(warden_host_apis::metering::QuotaExceeded {
                quota: "requests_per_minute",
                used: 1,
                limit: 1,
                resets_at: "then".into(),
                set_by: warden_host_apis::metering::QuotaSource::App,
            }),
            InvocationError::Trap {
                message: "x".into(),
            },
            InvocationError::Denied {
                denial: "socket-denied",
                target: "1.2.3.4:80".into(),
                message: "x".into(),
            },
            InvocationError::AppError {
                message: "x".into(),
            },
            InvocationError::Host {
                message: "x".into(),
            },
        ]
    }

    #[test]
    fn every_outcome_has_its_own_exit_code_and_name() {
        let errors = all();
        let codes: HashSet<_> = errors.iter().map(|e| e.exit_code()).collect();
        let names: HashSet<_> = errors.iter().map(|e| e.as_str()).collect();
        assert_eq!(codes.len(), errors.len());
        assert_eq!(names.len(), errors.len());
        assert!(!codes.contains(&0) && !codes.contains(&2) && !codes.contains(&3));
    }

    #[test]
    fn limit_messages_name_the_value_and_the_manifest_field() {
        let msg = InvocationError::MemoryLimit {
            limit: Size::mib(16),
            requested: Size::mib(17),
        }
        .to_string();
        assert!(
            msg.contains("16.0 MiB") && msg.contains("limits.memory"),
            "{msg}"
        );
        let msg = InvocationError::FuelExhausted { limit: 1000 }.to_string();
        assert!(msg.contains("1000") && msg.contains("limits.fuel"), "{msg}");
    }
}
