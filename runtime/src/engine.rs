//! The one engine a Warden process runs everything on.
//!
//! Settings that make every invocation bounded and cheap: the pooling
//! instance allocator (slots reused, no mmap per call), copy-on-write memory
//! images (instantiation maps the data segments instead of copying them),
//! the low pages of each memory reset in place when an instance ends
//! (for a small app none is released with `madvise`, so no TLB shootdown
//! on every core and no page faults on the next call),
//! fuel metering (deterministic CPU budget) and epoch interruption driven by
//! a ticker thread (wall-clock deadlines and, later, kills). The ticker holds
//! only a weak reference: dropping the engine stops it.

use crate::config::PlatformConfig;
use crate::limiter;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How an engine gets memory for its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// The pooling allocator: slots reserved once, reused by every call.
    /// For a host that serves many calls.
    Pooled,
    /// Memory mapped per instance. For a process that makes one call
    /// (`warden run` and the other CLI verbs): reserving and later
    /// unmapping a pool of `max_instances` slots costs more than that one
    /// call. The store's limiter enforces the pool's per-component caps
    /// (`limiter.rs`), and compiled artifacts are interchangeable
    /// (wasmtime's compatibility check covers the target, compiler flags,
    /// tunables and features, none of which the allocation changes).
    OnDemand,
}

/// Builds the engine for `platform`. Limits are per-store; the pool is sized
/// so the platform's largest allowed memory fits a slot.
pub fn build(platform: &PlatformConfig, allocation: Allocation) -> anyhow::Result<Engine> {
    let settings = &platform.engine;
    let mut pool = PoolingAllocationConfig::new();
    let instances = settings.max_instances;
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(8))
        .total_stacks(instances)
        .max_core_instances_per_component(limiter::MAX_INSTANCES as u32)
        .max_memories_per_component(limiter::MAX_MEMORIES as u32)
        .max_tables_per_component(limiter::MAX_TABLES as u32)
        .table_elements(limiter::MAX_TABLE_ELEMENTS)
        .max_memory_size(platform.maximums.memory.as_usize())
        // Reset the low `keep_resident` bytes in place and release the rest
        // (see `EngineSettings::keep_resident`). Not with Linux's
        // PAGEMAP_SCAN, which would reset only the pages found written: in
        // wasmtime 48 its scan asks for written pages that are *present*,
        // so a written page swapped out (or mid-migration) when the
        // instance ends would be neither reset nor released, and the next
        // instance would read it (upstream: bytecodealliance/wasmtime#14357).
        .pagemap_scan(wasmtime::Enabled::No)
        .linear_memory_keep_resident(settings.keep_resident.as_usize())
        .table_keep_resident(settings.keep_resident.as_usize());

    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .max_wasm_stack(settings.max_wasm_stack.as_usize())
        .async_stack_size(settings.max_wasm_stack.as_usize() + 1024 * 1024)
        .allocation_strategy(match allocation {
            Allocation::Pooled => InstanceAllocationStrategy::Pooling(pool),
            Allocation::OnDemand => InstanceAllocationStrategy::OnDemand,
        });
    let engine = Engine::new(&config)?;
    start_ticker(&engine, settings.epoch_tick.get());
    Ok(engine)
}

fn start_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("warden-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(|_| ())
        .unwrap_or_else(|e| tracing::warn!("cannot start the epoch ticker: {e}"));
}
