//! Precompiled components on disk, keyed by content and engine settings.
//!
//! Compiling a component is the slow part of loading an app (hundreds of
//! milliseconds to seconds); deserializing a precompiled artifact is a file
//! map. The key is the SHA-256 of the component bytes plus the engine's
//! compatibility hash (wasmtime version, target, compiler settings), so a
//! changed component or an upgraded engine never loads a stale artifact.
//!
//! Trust: artifacts are native code and are only ever read from Warden's
//! own data directory, under the name of their content hash. Writes go to a
//! temporary file first and are renamed into place, so a crash never leaves
//! a half-written artifact under a real key; an artifact that fails to load
//! is recompiled and replaced.

use crate::compile::{ChildCompiler, Slots};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether a load compiled the component or reused a cached artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactSource {
    Compiled,
    Cached,
}

pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
    hits: AtomicU64,
    compiles: AtomicU64,
    /// Compiles at once (see [`crate::compile`]).
    slots: Slots,
    /// Set by `warden`: compile in a child process under a time budget.
    child: std::sync::OnceLock<ChildCompiler>,
}

impl ArtifactCache {
    /// A cache in `dir` compiling at most `parallel` components at once.
    pub fn new(engine: &Engine, dir: PathBuf, parallel: usize) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ArtifactCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            hits: AtomicU64::new(0),
            compiles: AtomicU64::new(0),
            slots: Slots::new(parallel),
            child: std::sync::OnceLock::new(),
        }
    }

    /// Compiles from now on with `compiler` (a child process under a
    /// budget) instead of in this process.
    pub fn compile_in_child(&self, compiler: ChildCompiler) {
        let _ = self.child.set(compiler);
    }

    /// The cached artifact for `bytes`, if one loads.
    fn cached(&self, engine: &Engine, path: &std::path::Path) -> Option<Component> {
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is named by the hash of its source and only
        // Warden writes into this directory (see the module doc).
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(component)
            }
            Err(e) => {
                tracing::warn!(
                    "cached artifact {} is unusable ({e}); recompiling",
                    path.display()
                );
                None
            }
        }
    }

    /// Where the artifact for `bytes` lives.
    pub fn path_for(&self, bytes: &[u8]) -> PathBuf {
        let digest = hex::encode(Sha256::digest(bytes));
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// Loads the component for `bytes`, from the cache when possible.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, ArtifactSource)> {
        let path = self.path_for(bytes);
        if let Some(component) = self.cached(engine, &path) {
            return Ok((component, ArtifactSource::Cached));
        }
        let _slot = self.slots.take();
        // A load of the same component may have compiled it meanwhile.
        if let Some(component) = self.cached(engine, &path) {
            return Ok((component, ArtifactSource::Cached));
        }
        if let Some(child) = self.child.get() {
            std::fs::create_dir_all(&self.dir)?;
            child.compile(bytes, &path)?;
            self.compiles.fetch_add(1, Ordering::Relaxed);
            // SAFETY: Warden's own compiler wrote this file a moment ago,
            // under its content hash, for an engine with these settings.
            let component = unsafe { Component::deserialize_file(engine, &path)? };
            return Ok((component, ArtifactSource::Compiled));
        }
        let artifact = engine.precompile_component(bytes)?;
        self.compiles.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = crate::fsutil::write_atomically(&path, &artifact) {
            tracing::warn!(
                "cannot cache the compiled component at {} ({e}); it will be compiled again next time",
                path.display()
            );
        }
        // SAFETY: `artifact` was produced by this engine a moment ago.
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        Ok((component, ArtifactSource::Compiled))
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn compiles(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }
}
