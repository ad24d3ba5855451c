//! Turning what happened in the store into an [`InvocationError`].
//!
//! Order matters: a limit breach explains the trap that follows it (a memory
//! refusal makes Rust's allocator abort with `unreachable`; a full stdout
//! makes `println!` panic), so the limit is reported, not the symptom. A
//! guest that failed after the sandbox refused it something is reported as
//! Denied, naming what was refused.

use super::outcome::InvocationError;
use crate::config::{Limits, Size};
use warden_host_apis::denial::DenialRecord;
use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

/// What the host saw during the invocation, gathered after the call.
pub(crate) struct Evidence<'a> {
    pub limits: &'a Limits,
    pub max_stack: Size,
    pub refused_memory: Option<usize>,
    /// The stream (`stdout`/`stderr`) that reached its cap, if any.
    pub full_stream: Option<&'static str>,
    pub denials: &'a [DenialRecord],
    pub timed_out: bool,
    /// The kill switch ended the call.
    pub killed: bool,
}

/// How the guest call itself ended.
pub(crate) enum CallEnd {
    /// Returned normally with this result from the guest's own logic.
    Returned(Result<(), String>),
    /// Trapped or failed in the host.
    Failed(wasmtime::Error),
}

/// Classifies the end of a call. `None` means success.
pub(crate) fn classify(end: &CallEnd, ev: &Evidence<'_>) -> Option<InvocationError> {
    let killed = matches!(end, CallEnd::Failed(e) if e.downcast_ref::<warden_host_apis::kill::Killed>().is_some());
    if ev.killed || killed {
        return Some(InvocationError::Killed);
    }
    if ev.timed_out {
        return Some(InvocationError::Timeout {
            limit: ev.limits.timeout,
        });
    }
    if let Some(stream) = ev.full_stream {
        return Some(InvocationError::OutputLimit {
            stream,
            limit: ev.limits.max_output,
        });
    }
    let failure = match end {
        CallEnd::Returned(Ok(())) => return None,
        CallEnd::Returned(Err(message)) => Failure::App(message.clone()),
        CallEnd::Failed(error) => match exit_code(error) {
            Some(0) => return None,
            Some(code) => Failure::App(format!("exited with status {code}")),
            None => match error.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => {
                    return Some(InvocationError::FuelExhausted {
                        limit: ev.limits.fuel,
                    });
                }
                Some(Trap::Interrupt) => {
                    return Some(InvocationError::Timeout {
                        limit: ev.limits.timeout,
                    });
                }
                Some(Trap::StackOverflow) => {
                    return Some(InvocationError::StackOverflow {
                        limit: ev.max_stack,
                    });
                }
                _ if is_hostcall_limit(error) => {
                    return Some(InvocationError::HostcallLimit {
                        limit: ev.limits.hostcall_bytes,
                    });
                }
                _ => Failure::Trap(root_message(error)),
            },
        },
    };
    if let Some(requested) = ev.refused_memory {
        return Some(InvocationError::MemoryLimit {
            limit: ev.limits.memory,
            requested: Size(requested as u64),
        });
    }
    if let Some(denial) = ev.denials.first() {
        return Some(InvocationError::Denied {
            denial: denial.kind.as_str(),
            target: denial.target.clone(),
            message: failure.message(),
        });
    }
    Some(match failure {
        Failure::App(message) => InvocationError::AppError { message },
        Failure::Trap(message) => InvocationError::Trap { message },
    })
}

enum Failure {
    App(String),
    Trap(String),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Failure::App(m) | Failure::Trap(m) => m.clone(),
        }
    }
}

/// wasmtime reports an exhausted hostcall budget with a private error type;
/// its message is the only stable handle (wasmtime is pinned to 48.x).
fn is_hostcall_limit(error: &wasmtime::Error) -> bool {
    format!("{error:#}").contains("fuel allocated for hostcalls has been exhausted")
}

fn exit_code(error: &wasmtime::Error) -> Option<i32> {
    error.downcast_ref::<I32Exit>().map(|e| e.0)
}

/// The trap's own description without wasmtime's backtrace noise.
fn root_message(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}")
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_host_apis::denial::Denial;

    fn evidence<'a>(limits: &'a Limits, denials: &'a [DenialRecord]) -> Evidence<'a> {
        Evidence {
            limits,
            max_stack: Size::kib(512),
            refused_memory: None,
            full_stream: None,
            denials,
            timed_out: false,
            killed: false,
        }
    }

    #[test]
    fn traps_map_to_their_limits() {
        let limits = Limits::default();
        let ev = evidence(&limits, &[]);
        let kind = |trap: Trap| {
            classify(&CallEnd::Failed(wasmtime::Error::new(trap)), &ev).map(|e| e.as_str())
        };
        assert_eq!(kind(Trap::OutOfFuel), Some("fuel-exhausted"));
        assert_eq!(kind(Trap::Interrupt), Some("timeout"));
        assert_eq!(kind(Trap::StackOverflow), Some("stack-overflow"));
        assert_eq!(kind(Trap::UnreachableCodeReached), Some("trap"));
    }

    #[test]
    fn a_refused_growth_explains_the_trap_that_follows() {
        let limits = Limits::default();
        let mut ev = evidence(&limits, &[]);
        ev.refused_memory = Some(100 << 20);
        let end = CallEnd::Failed(wasmtime::Error::new(Trap::UnreachableCodeReached));
        assert_eq!(
            classify(&end, &ev).map(|e| e.as_str()),
            Some("memory-limit")
        );
    }

    #[test]
    fn a_failure_after_a_denial_is_reported_as_denied() {
        let limits = Limits::default();
        let denials = [DenialRecord {
            kind: Denial::Socket,
            target: "93.184.216.34:80".into(),
        }];
        let ev = evidence(&limits, &denials);
        let end = CallEnd::Failed(wasmtime::Error::new(I32Exit(1)));
        let err = classify(&end, &ev);
        assert_eq!(err.as_ref().map(|e| e.as_str()), Some("denied"));
        assert!(
            err.map(|e| e.to_string())
                .unwrap_or_default()
                .contains("93.184.216.34:80")
        );
    }

    #[test]
    fn exit_zero_and_a_normal_return_are_success_even_with_denials() {
        let limits = Limits::default();
        let denials = [DenialRecord {
            kind: Denial::Socket,
            target: "10.0.0.1:80".into(),
        }];
        let ev = evidence(&limits, &denials);
        assert!(classify(&CallEnd::Failed(wasmtime::Error::new(I32Exit(0))), &ev).is_none());
        assert!(classify(&CallEnd::Returned(Ok(())), &ev).is_none());
    }

    #[test]
    fn a_full_output_stream_wins_over_the_panic_it_causes() {
        let limits = Limits::default();
        let mut ev = evidence(&limits, &[]);
        ev.full_stream = Some("stdout");
        let end = CallEnd::Failed(wasmtime::Error::new(Trap::UnreachableCodeReached));
        assert_eq!(
            classify(&end, &ev).map(|e| e.as_str()),
            Some("output-limit")
        );
    }
}
