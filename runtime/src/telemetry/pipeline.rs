//! The telemetry pipeline of a long-running host: finished spans go into a
//! bounded buffer and a worker thread hands them, in batches, to the
//! embedded span store and (when configured) the OTLP exporter.
//!
//! An invocation never waits on it: ending a span is a push under a lock
//! held for nanoseconds — no channel wake-up, no system call; the worker
//! wakes on its own every 200 ms, or once when a full batch is ready. When
//! the buffer is full the span is dropped and counted. A slow or absent
//! collector only delays the worker; the buffer then fills and drops
//! (counted) — the host keeps serving.

use super::store::SpanStore;
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Somewhere spans go after the store (the OTLP exporter).
pub trait SpanSink: Send {
    /// Sends a batch; an error is counted and logged, never retried here.
    fn send(&mut self, batch: &[SpanData]) -> Result<(), String>;
}

/// What the pipeline did, for `GET /v1/telemetry`, benches and tests.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub queued: AtomicU64,
    pub stored: AtomicU64,
    /// Dropped because the buffer was full.
    pub dropped: AtomicU64,
    pub exported: AtomicU64,
    /// Spans in batches the exporter failed to send.
    pub export_failed: AtomicU64,
}

const BATCH: usize = 512;
const DELAY: Duration = Duration::from_millis(200);

struct Destinations {
    store: Option<Arc<SpanStore>>,
    sink: Option<Box<dyn SpanSink>>,
}

struct Shared {
    buffer: Mutex<Vec<SpanData>>,
    ready: Condvar,
    capacity: usize,
    /// Held while a batch is delivered (by the worker or a flush).
    destinations: Mutex<Destinations>,
    stats: Arc<PipelineStats>,
    stopped: AtomicBool,
}

pub struct Pipeline {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.shared.stats)
            .finish()
    }
}

impl Pipeline {
    /// Starts the worker. `capacity` bounds the buffer.
    pub fn start(
        store: Option<Arc<SpanStore>>,
        sink: Option<Box<dyn SpanSink>>,
        capacity: usize,
    ) -> Pipeline {
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::with_capacity(BATCH)),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            destinations: Mutex::new(Destinations { store, sink }),
            stats: Arc::default(),
            stopped: AtomicBool::new(false),
        });
        let worker = Arc::downgrade(&shared);
        let spawned = std::thread::Builder::new()
            .name("warden-telemetry".into())
            .spawn(move || {
                while let Some(shared) = worker.upgrade() {
                    if shared.stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    {
                        let buffer = shared.buffer.lock().unwrap_or_else(|p| p.into_inner());
                        if buffer.len() < BATCH {
                            let _ = shared.ready.wait_timeout(buffer, DELAY);
                        }
                    }
                    shared.deliver();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(
                "telemetry worker did not start ({e}); spans stay buffered until a flush"
            );
        }
        Pipeline { shared }
    }

    pub fn stats(&self) -> Arc<PipelineStats> {
        self.shared.stats.clone()
    }
}

impl Shared {
    /// Takes what is buffered and hands it to the store and the sink.
    fn deliver(&self) {
        let mut destinations = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
        let batch = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        if let Some(store) = &destinations.store {
            match store.record(&batch) {
                Ok(()) => {
                    self.stats.stored.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!("{n} spans not stored: {e}"),
            }
        }
        if let Some(sink) = destinations.sink.as_mut() {
            match sink.send(&batch) {
                Ok(()) => {
                    self.stats.exported.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    if self.stats.export_failed.fetch_add(n, Ordering::Relaxed) == 0 {
                        tracing::warn!(
                            "span export failed ({e}); counting further failures quietly"
                        );
                    }
                }
            }
        }
    }
}

impl SpanProcessor for Pipeline {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let shared = &self.shared;
        let mut buffer = shared.buffer.lock().unwrap_or_else(|p| p.into_inner());
        if buffer.len() >= shared.capacity {
            drop(buffer);
            shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buffer.push(span);
        let full = buffer.len() == BATCH;
        drop(buffer);
        shared.stats.queued.fetch_add(1, Ordering::Relaxed);
        if full {
            shared.ready.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // On a thread of its own: the exporter's blocking HTTP client must
        // not run on (or be dropped by) an async runtime's thread.
        std::thread::scope(|s| {
            let _ = s.spawn(|| self.shared.deliver()).join();
        });
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        let _ = self.force_flush();
        let destinations = self
            .shared
            .destinations
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(store) = &destinations.store
            && let Err(e) = store.flush_waiting()
        {
            tracing::warn!("spans without their root not stored: {e}");
        }
        drop(destinations);
        self.shared.stopped.store(true, Ordering::Relaxed);
        self.shared.ready.notify_one();
        Ok(())
    }
}
