//! `warden:host/log`: structured log records from the guest.
//!
//! Guarantees: a record is attributed to the invocation that wrote it; one
//! invocation can keep at most [`LogLimits::max_records`] records and
//! [`LogLimits::max_bytes`] bytes of message text — beyond that records are
//! counted as dropped, never buffered, so a chatty guest cannot grow host
//! memory. Messages are stored as the guest wrote them (lossy UTF-8 is not
//! possible: WIT strings are valid UTF-8).

mod host;

use wasmtime::component::{HasSelf, Linker};

pub use crate::bindings::warden::host::log::Level;

/// Per-invocation caps on guest logging.
#[derive(Debug, Clone, Copy)]
pub struct LogLimits {
    pub max_records: usize,
    pub max_bytes: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_records: 1_000,
            max_bytes: 256 * 1024,
        }
    }
}

/// One guest log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: Level,
    pub message: String,
}

/// The log capability's per-invocation state.
#[derive(Debug, Default)]
pub struct LogState {
    limits: LogLimits,
    records: Vec<LogRecord>,
    bytes: usize,
    dropped: u64,
}

impl LogState {
    pub fn new(limits: LogLimits) -> Self {
        LogState {
            limits,
            ..LogState::default()
        }
    }

    /// Keeps the record if it fits the caps, otherwise counts it as dropped.
    pub fn push(&mut self, level: Level, message: String) {
        let fits = self.records.len() < self.limits.max_records
            && self.bytes + message.len() <= self.limits.max_bytes;
        if fits {
            self.bytes += message.len();
            self.records.push(LogRecord { level, message });
        } else {
            self.dropped += 1;
        }
    }

    pub fn records(&self) -> &[LogRecord] {
        &self.records
    }

    pub fn take_records(&mut self) -> Vec<LogRecord> {
        self.bytes = 0;
        std::mem::take(&mut self.records)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Stable lowercase name of a level, for traces and terminal output.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// Links `warden:host/log`; `get` finds the invocation's [`LogState`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogState,
) -> wasmtime::Result<()> {
    crate::bindings::warden::host::log::add_to_linker::<T, HasSelf<LogState>>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_beyond_the_count_cap_are_dropped_not_kept() {
        let mut state = LogState::new(LogLimits {
            max_records: 2,
            max_bytes: 1024,
        });
        for i in 0..5 {
            state.push(Level::Info, format!("line {i}"));
        }
        assert_eq!(state.records().len(), 2);
        assert_eq!(state.dropped(), 3);
    }

    #[test]
    fn records_beyond_the_byte_cap_are_dropped_not_kept() {
        let mut state = LogState::new(LogLimits {
            max_records: 100,
            max_bytes: 10,
        });
        state.push(Level::Warn, "12345".into());
        state.push(Level::Warn, "1234567".into());
        state.push(Level::Warn, "12345".into());
        assert_eq!(state.records().len(), 2);
        assert_eq!(state.dropped(), 1);
        assert_eq!(level_name(state.records()[0].level), "warn");
    }
}
