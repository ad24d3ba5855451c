//! The telemetry pipeline of a long-running host: finished spans go into a
//! bounded queue and a worker thread hands them, in batches, to the
//! embedded span store and (when configured) the OTLP exporter.
//!
//! An invocation never waits on it: ending a span is a `try_send`; when the
//! queue is full the span is dropped and counted. A slow or absent
//! collector only delays the worker, whose own queue then fills and drops
//! (counted) — the host keeps serving.

use super::store::SpanStore;
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// Somewhere spans go after the store (the OTLP exporter).
pub trait SpanSink: Send {
    /// Sends a batch; an error is counted and logged, never retried here.
    fn send(&mut self, batch: &[SpanData]) -> Result<(), String>;
}

/// What the pipeline did, for `warden inspect`, metrics and tests.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub queued: AtomicU64,
    pub stored: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
    pub exported: AtomicU64,
    /// Spans in batches the exporter failed to send.
    pub export_failed: AtomicU64,
}

enum Message {
    Span(Box<SpanData>),
    Flush(SyncSender<()>),
}

#[derive(Debug)]
pub struct Pipeline {
    queue: SyncSender<Message>,
    stats: Arc<PipelineStats>,
}

const BATCH: usize = 512;
const DELAY: Duration = Duration::from_millis(200);

impl Pipeline {
    /// Starts the worker. `capacity` bounds the queue.
    pub fn start(
        store: Option<Arc<SpanStore>>,
        mut sink: Option<Box<dyn SpanSink>>,
        capacity: usize,
    ) -> Pipeline {
        let (queue, rx) = sync_channel(capacity.max(1));
        let stats = Arc::new(PipelineStats::default());
        let worker_stats = stats.clone();
        let spawned = std::thread::Builder::new()
            .name("warden-telemetry".into())
            .spawn(move || work(rx, store, sink.as_deref_mut(), &worker_stats));
        if let Err(e) = spawned {
            eprintln!("warden: telemetry worker did not start ({e}); spans will be dropped");
        }
        Pipeline { queue, stats }
    }

    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }
}

fn deliver(
    batch: &mut Vec<SpanData>,
    store: &Option<Arc<SpanStore>>,
    sink: &mut Option<&mut (dyn SpanSink + 'static)>,
    stats: &PipelineStats,
) {
    if batch.is_empty() {
        return;
    }
    if let Some(store) = store {
        match store.record(batch) {
            Ok(()) => {
                stats
                    .stored
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(e) => eprintln!("warden: {} spans not stored: {e}", batch.len()),
        }
    }
    if let Some(sink) = sink {
        match sink.send(batch) {
            Ok(()) => {
                stats
                    .exported
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                if stats
                    .export_failed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed)
                    == 0
                {
                    eprintln!(
                        "warden: span export failed ({e}); counting further failures quietly"
                    );
                }
            }
        }
    }
    batch.clear();
}

fn work(
    rx: Receiver<Message>,
    store: Option<Arc<SpanStore>>,
    mut sink: Option<&mut (dyn SpanSink + 'static)>,
    stats: &PipelineStats,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut oldest: Option<Instant> = None;
    loop {
        let wait = oldest
            .map(|t| DELAY.saturating_sub(t.elapsed()))
            .unwrap_or(Duration::from_secs(3600));
        match rx.recv_timeout(wait) {
            Ok(Message::Span(span)) => {
                batch.push(*span);
                oldest.get_or_insert_with(Instant::now);
                if batch.len() >= BATCH {
                    deliver(&mut batch, &store, &mut sink, stats);
                    oldest = None;
                }
            }
            Ok(Message::Flush(done)) => {
                deliver(&mut batch, &store, &mut sink, stats);
                oldest = None;
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                deliver(&mut batch, &store, &mut sink, stats);
                oldest = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                deliver(&mut batch, &store, &mut sink, stats);
                return;
            }
        }
    }
}

impl SpanProcessor for Pipeline {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        match self.queue.try_send(Message::Span(Box::new(span))) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let (done, wait) = sync_channel(1);
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.force_flush()
    }
}
