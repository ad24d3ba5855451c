//! Waiting for an async state backend (registry, audit log, usage,
//! storage) from code that is not async: a CLI verb, a load, a sync
//! helper of a handler. The backends run work that may wait for a lock
//! off the waiting thread, so waiting parks the thread as a blocking call
//! would, and runs on it at most a database call that does not wait (see
//! `warden_host_apis::sqlite::in_place`).
//!
//! The contract this puts on a backend (the embedded ones keep it; a
//! networked one must too): its futures make progress without the waiting
//! thread's runtime — they do their I/O in place when it cannot wait, on
//! the blocking pool when it can, or on a runtime of their own — because
//! the waiting thread may be a worker of the only runtime there is. Code
//! that is async awaits instead.

/// `.wait()` on any future: blocks the current thread until it is ready.
pub trait Wait: std::future::Future + Sized {
    fn wait(self) -> Self::Output {
        futures_executor::block_on(self)
    }
}

impl<F: std::future::Future> Wait for F {}
