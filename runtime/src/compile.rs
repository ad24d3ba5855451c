//! Compiling components under a budget.
//!
//! Threat model: a component crafted so that Cranelift takes minutes (a
//! few hundred KB of functions with tens of thousands of live values) or
//! many deploys compiling at once would take the host's CPU from every app.
//! Cranelift cannot be interrupted, so `warden` compiles in a child process
//! of itself (`warden compile-component`, hidden) that is killed when the
//! platform's budget (`deploys.compile_timeout`) runs out, and at most
//! `deploys.max_parallel_compiles` compile at once; the rest wait their
//! turn. Fail-closed: a child that times out, crashes or writes nothing is
//! a compile error naming the budget; the host keeps running.
//!
//! The child runs at a lower scheduling priority (nice 10), so a compile
//! takes idle cores before the ones serving requests. It has no memory cap
//! of its own: wasmtime's engine reserves large address ranges, which
//! `RLIMIT_AS` would refuse.
//!
//! A library embedder that sets no compiler program compiles in process,
//! with the same parallelism cap and no time budget.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A compile stopped at the platform's budget (`deploys.compile_timeout`).
/// Its own type, so that the error shown for it can say what to change.
#[derive(Debug)]
pub struct OverBudget(pub Duration);

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "compiling took longer than the platform's compile budget of {} (`deploys.compile_timeout` in warden.toml)",
            crate::config::Dur(self.0)
        )
    }
}

impl std::error::Error for OverBudget {}

/// What the child needs to build an engine identical to the host's: the
/// settings that change generated code.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EngineFacts {
    pub engine: crate::config::platform::EngineSettings,
    pub max_memory: crate::config::Size,
}

impl EngineFacts {
    pub fn of(platform: &crate::config::PlatformConfig) -> EngineFacts {
        EngineFacts {
            engine: platform.engine,
            max_memory: platform.maximums.memory,
        }
    }

    /// The platform the child builds its engine from.
    fn platform(&self) -> crate::config::PlatformConfig {
        let mut platform = crate::config::PlatformConfig::builtin();
        platform.engine = self.engine;
        platform.maximums.memory = self.max_memory;
        platform
    }
}

/// A counting semaphore for blocking threads (loads run on blocking
/// threads, never on an async worker).
#[derive(Debug)]
pub(crate) struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A taken slot; dropping it frees the slot.
pub(crate) struct Slot<'a>(&'a Slots);

impl Slots {
    pub fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot.
    pub fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

/// How a cache miss is compiled.
#[derive(Debug, Clone)]
pub struct ChildCompiler {
    /// The `warden` binary.
    pub program: PathBuf,
    pub budget: Duration,
    pub facts: EngineFacts,
    /// Set when the host stops: compiles under way are ended (their child
    /// killed) and none starts, so a stop, or a refused start, does not
    /// wait up to `budget` for compiles nothing will serve.
    pub stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ChildCompiler {
    /// Compiles `bytes` into a precompiled artifact in a child process
    /// killed once `budget` has passed. The component goes to the child
    /// on its stdin and the artifact comes back on its stdout: no file
    /// anyone else could swap lies between what was checked and what is
    /// sealed.
    pub fn compile(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let stopping = || self.stopping.load(std::sync::atomic::Ordering::SeqCst);
        if stopping() {
            anyhow::bail!("not compiled: the host is stopping");
        }
        let facts = serde_json::to_string(&self.facts)?;
        let mut child = Command::new(&self.program)
            .arg("compile-component")
            .arg("--engine")
            .arg(facts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start the compiler {}: {e}", self.program.display())
            })?;
        // Feed and drain the child as it goes, so neither side ever blocks
        // on a full pipe while the budget is kept here.
        let feeding = child.stdin.take().map(|mut stdin| {
            let bytes = bytes.to_vec();
            std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes))
        });
        let artifact = child.stdout.take().map(|mut stdout| {
            std::thread::spawn(move || {
                let mut artifact = Vec::new();
                std::io::Read::read_to_end(&mut stdout, &mut artifact).map(|_| artifact)
            })
        });
        let said = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
                text
            })
        });
        let deadline = Instant::now() + self.budget;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(OverBudget(self.budget).into());
            }
            if stopping() {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("compile ended: the host is stopping");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            let message = said.and_then(|t| t.join().ok()).unwrap_or_default();
            anyhow::bail!("the compiler failed ({status}): {}", message.trim());
        }
        if let Some(feeding) = feeding {
            feeding
                .join()
                .map_err(|_| anyhow::anyhow!("feeding the compiler stopped"))??;
        }
        let artifact = artifact
            .ok_or_else(|| anyhow::anyhow!("the compiler's output was not captured"))?
            .join()
            .map_err(|_| anyhow::anyhow!("reading the compiler's output stopped"))??;
        Ok(artifact)
    }
}

/// The child's side: builds the engine from `facts`, reads the component
/// on stdin and writes its precompiled artifact to stdout.
pub fn child_main(facts: &str) -> anyhow::Result<()> {
    // Below the serving host in the scheduler: a compile uses idle cores,
    // not the ones requests need. (Best effort; failure changes nothing.)
    // SAFETY: setpriority on this process only reads its arguments.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    let facts: EngineFacts = serde_json::from_str(facts)?;
    // Artifacts do not depend on the allocation, and a compile instantiates
    // nothing: no pool to reserve.
    let engine = crate::engine::build(&facts.platform(), crate::engine::Allocation::OnDemand)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)?;
    let artifact = engine.precompile_component(&bytes)?;
    let mut stdout = std::io::stdout().lock();
    std::io::Write::write_all(&mut stdout, &artifact)?;
    std::io::Write::flush(&mut stdout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_more_than_the_slots_run_at_once() {
        let slots = Arc::new(Slots::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (slots, running, most) = (slots.clone(), running.clone(), most.clone());
                std::thread::spawn(move || {
                    let _slot = slots.take();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }
}
