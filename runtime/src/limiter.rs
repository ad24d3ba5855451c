//! Memory and table accounting for one invocation.
//!
//! The memory limit applies to the instance's linear memories together (a
//! component with two memories cannot get twice the budget). A growth past
//! the limit fails the way Wasm defines it (`memory.grow` returns -1), so a
//! guest that handles allocation failure keeps running; the limiter remembers
//! the refusal so that a trap that follows is reported as MemoryLimit rather
//! than as an anonymous `unreachable`.

use wasmtime::ResourceLimiter;

/// Per-component caps, the same for the pooling allocator (which sizes its
/// slots by them, `crate::engine`) and for memory mapped per instance
/// (`warden run`), so a component runs under both or neither. Real
/// components (std Rust, componentize-py and -js) have a handful of core
/// instances and memories. The table cap is wasmtime's pool default.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 20_000;
pub(crate) const MAX_INSTANCES: usize = 32;
pub(crate) const MAX_TABLES: usize = 16;
pub(crate) const MAX_MEMORIES: usize = 4;

#[derive(Debug, Clone)]
pub struct Limiter {
    memory_limit: usize,
    committed: usize,
    peak: usize,
    refused: Option<usize>,
}

impl Limiter {
    pub fn new(memory_limit: usize) -> Self {
        Limiter {
            memory_limit,
            committed: 0,
            peak: 0,
            refused: None,
        }
    }

    /// Largest total linear memory this invocation reached, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.peak
    }

    /// The total the guest asked for when a growth was refused.
    pub fn refused_growth(&self) -> Option<usize> {
        self.refused
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.committed + desired.saturating_sub(current);
        if total > self.memory_limit {
            self.refused = Some(total);
            return Ok(false);
        }
        self.committed = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_within_the_limit_is_allowed_and_peak_is_tracked() -> wasmtime::Result<()> {
        let mut limiter = Limiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 64 << 10, None)?);
        assert!(limiter.memory_growing(64 << 10, 512 << 10, None)?);
        assert_eq!(limiter.peak_memory(), 512 << 10);
        assert_eq!(limiter.refused_growth(), None);
        Ok(())
    }

    #[test]
    fn memories_count_together_against_the_limit() -> wasmtime::Result<()> {
        let mut limiter = Limiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 768 << 10, None)?);
        assert!(!limiter.memory_growing(0, 512 << 10, None)?);
        assert_eq!(limiter.refused_growth(), Some((768 + 512) << 10));
        assert_eq!(limiter.peak_memory(), 768 << 10);
        Ok(())
    }
}
