//! Precompiled components on disk, keyed by content and engine settings.
//!
//! Compiling a component is the slow part of loading an app (hundreds of
//! milliseconds to seconds); deserializing a precompiled artifact is a file
//! map. The key is the SHA-256 of the component bytes plus the engine's
//! compatibility hash (wasmtime version, target, compiler settings), so a
//! changed component or an upgraded engine never loads a stale artifact.
//! The caller gives the SHA-256 (an app's is computed once, when it is
//! checked) and must give the one of the bytes it loads.
//!
//! Trust: artifacts are native code, which wasmtime loads without checking
//! (`Component::deserialize` is `unsafe` for that reason), so on a serving
//! host they are sealed: each file ends with an HMAC-SHA256 tag, under a
//! key derived from the master key ([`ArtifactCache::seal_with`]), over the
//! file's name — the component's SHA-256 and the engine's key — and the
//! artifact, so a sealed artifact moved under another component's name
//! does not verify either. An artifact without a seal that verifies is
//! never loaded: the component (itself checked against its deploy's digest)
//! is compiled again; one whose seal is present but wrong makes the load
//! report [`ArtifactSource::Replaced`], so the host audits it (one without
//! any seal — written before sealing existed, or cut short — is compiled
//! again without an alarm). Compiles in a child process take the component
//! on the child's stdin and give the artifact back on its stdout, so what
//! is sealed is what the compiler made of the checked bytes. A serving
//! host that cannot have the master key trusts no artifact on disk
//! ([`ArtifactCache::distrust`]) and compiles every load. Without either
//! (`warden run`) the seal is not checked. The seal guards against a
//! writer of `artifacts/` who cannot read the key: keep the master key out
//! of the data directory (`WARDEN_MASTER_KEY`, `[secrets]
//! master_key_file`) for it to mean more than that.
//!
//! Writes go to a temporary file first and are renamed into place, with
//! the tag in the same file, so a reader never sees an artifact and a tag
//! of two different writes, and a crash never leaves a half-written
//! artifact under a real key; an artifact that fails to load is
//! recompiled and replaced.

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
    /// The cached artifact's seal did not verify: it was not loaded, and
    /// the component was compiled again in its place.
    Replaced,
}

/// What ends a sealed artifact: the tag, then this marker.
const SEAL_MARK: &[u8; 8] = b"WDNSEAL1";
const TAG_LEN: usize = 32;

/// The purpose the sealing key is derived for.
pub const SEAL_PURPOSE: &[u8] = b"warden artifact seal v1";

/// What a cached file holds, as far as the seal goes.
enum Cached {
    /// No file.
    Absent,
    /// The artifact, its seal verified (or not checked: no key).
    Trusted(Vec<u8>),
    /// A file with no seal, or one that does not verify: not to be loaded.
    Untrusted { tampered: bool },
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
    /// Set by a serving host: seal what is written, load only what verifies.
    seal: std::sync::OnceLock<Trust>,
}

/// How a serving host treats artifacts on disk.
enum Trust {
    /// Sealed with this key; only what verifies is loaded.
    Sealed(ring::hmac::Key),
    /// No key to be had: nothing on disk is loaded or written.
    Nothing,
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
            seal: std::sync::OnceLock::new(),
        }
    }

    /// Seals artifacts from now on with `key` (derived from the master key
    /// for [`SEAL_PURPOSE`]), and loads only artifacts sealed with it.
    pub fn seal_with(&self, key: [u8; 32]) {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let _ = self.seal.set(Trust::Sealed(key));
    }

    /// Trusts no artifact on disk from now on: every load compiles, and
    /// nothing is cached (a serving host with no master key to seal with).
    pub fn distrust(&self) {
        let _ = self.seal.set(Trust::Nothing);
    }

    /// The key that seals the artifact stored at `path`: derived from the
    /// host's key and the file's name, so a seal does not verify under
    /// another component's name.
    fn file_key(key: &ring::hmac::Key, path: &std::path::Path) -> ring::hmac::Key {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let mut context = ring::hmac::Context::with_key(key);
        context.update(b"warden artifact v1\0");
        context.update(name.as_bytes());
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, context.sign().as_ref())
    }

    /// `artifact` with its seal for `path` appended, when sealing.
    fn sealed(&self, path: &std::path::Path, mut artifact: Vec<u8>) -> Vec<u8> {
        if let Some(Trust::Sealed(key)) = self.seal.get() {
            let tag = ring::hmac::sign(&Self::file_key(key, path), &artifact);
            artifact.extend_from_slice(tag.as_ref());
            artifact.extend_from_slice(SEAL_MARK);
        }
        artifact
    }

    /// Reads the file at `path` and checks its seal.
    fn read(&self, path: &std::path::Path) -> Cached {
        let key = match self.seal.get() {
            Some(Trust::Nothing) => return Cached::Untrusted { tampered: false },
            Some(Trust::Sealed(key)) => Some(key),
            None => None,
        };
        let Ok(mut bytes) = std::fs::read(path) else {
            return Cached::Absent;
        };
        let trailer = TAG_LEN + SEAL_MARK.len();
        let marked = bytes.len() > trailer && bytes.ends_with(SEAL_MARK);
        let Some(key) = key else {
            if marked {
                bytes.truncate(bytes.len() - trailer);
            }
            return Cached::Trusted(bytes);
        };
        if !marked {
            // Written before sealing, by `warden run`, or cut short:
            // compiled again.
            return Cached::Untrusted { tampered: false };
        }
        let body = bytes.len() - trailer;
        // Compared in constant time.
        let verified = ring::hmac::verify(
            &Self::file_key(key, path),
            &bytes[..body],
            &bytes[body..body + TAG_LEN],
        );
        if verified.is_err() {
            return Cached::Untrusted { tampered: true };
        }
        bytes.truncate(body);
        Cached::Trusted(bytes)
    }

    /// Whether the file at `path` is there and carries no seal (its last
    /// bytes are not [`SEAL_MARK`]), reading only those bytes.
    fn unsealed(path: &std::path::Path) -> bool {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(path) else {
            return false;
        };
        let mut last = [0u8; SEAL_MARK.len()];
        match file.seek(SeekFrom::End(-(SEAL_MARK.len() as i64))) {
            Ok(_) => file.read_exact(&mut last).is_ok() && &last != SEAL_MARK,
            Err(_) => false,
        }
    }

    /// Compiles from now on with `compiler` (a child process under a
    /// budget) instead of in this process.
    pub fn compile_in_child(&self, compiler: ChildCompiler) {
        let _ = self.child.set(compiler);
    }

    /// See [`crate::Runtime::stop_compiles`].
    pub fn stop_compiles(&self) {
        if let Some(child) = self.child.get() {
            child
                .stopping
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The cached artifact at `path`, if one loads; `Err` when its seal
    /// does not verify (it was changed since this host's key sealed it).
    fn cached(&self, engine: &Engine, path: &std::path::Path) -> Result<Option<Component>, ()> {
        // Without a key nothing is checked, so an unsealed file is mapped
        // instead of read and then copied by wasmtime (a tenth of a
        // `warden run`). Sound for `deserialize_file`, which needs the file
        // unchanged while mapped: Warden replaces an artifact by renaming
        // a new file into place and never writes into one.
        let deserialized = if self.seal.get().is_none() && Self::unsealed(path) {
            // SAFETY: as for `deserialize` below, plus the above.
            unsafe { Component::deserialize_file(engine, path) }
        } else {
            let artifact = match self.read(path) {
                Cached::Absent => return Ok(None),
                Cached::Untrusted { tampered: true } => {
                    tracing::warn!(
                        "cached artifact {} does not carry this host's seal; it is not loaded, and the component is compiled again",
                        path.display()
                    );
                    return Err(());
                }
                Cached::Untrusted { tampered: false } => return Ok(None),
                Cached::Trusted(artifact) => artifact,
            };
            // SAFETY: the artifact's seal verified under a key only this
            // host (or a host given the same master key) holds, so Warden
            // wrote it (without a key, see the module doc: only Warden
            // writes here).
            unsafe { Component::deserialize(engine, &artifact) }
        };
        match deserialized {
            Ok(component) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(component))
            }
            Err(e) => {
                tracing::warn!(
                    "cached artifact {} is unusable ({e}); recompiling",
                    path.display()
                );
                Ok(None)
            }
        }
    }

    /// Where the artifact for `bytes` lives.
    pub fn path_for(&self, bytes: &[u8]) -> PathBuf {
        self.path_for_digest(&hex::encode(Sha256::digest(bytes)))
    }

    /// Where the artifact for the component with SHA-256 `digest` lives.
    pub fn path_for_digest(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// Loads the component `bytes`, from the cache when possible.
    /// `digest` is their SHA-256, hex, as the caller computed it: an app's
    /// is computed once when it is checked, and hashing an 18 MiB
    /// interpreter a second time cost every load milliseconds.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> anyhow::Result<(Component, ArtifactSource)> {
        // The seal covers the name, so a wrong digest would seal these
        // bytes' code under another component's name.
        debug_assert_eq!(digest, hex::encode(Sha256::digest(bytes)));
        let path = self.path_for_digest(digest);
        let mut tampered = false;
        match self.cached(engine, &path) {
            Ok(Some(component)) => return Ok((component, ArtifactSource::Cached)),
            Ok(None) => {}
            Err(()) => tampered = true,
        }
        let _slot = self.slots.take();
        // A load of the same component may have compiled it meanwhile.
        if !tampered {
            match self.cached(engine, &path) {
                Ok(Some(component)) => return Ok((component, ArtifactSource::Cached)),
                Ok(None) => {}
                Err(()) => tampered = true,
            }
        }
        let source = if tampered {
            ArtifactSource::Replaced
        } else {
            ArtifactSource::Compiled
        };
        let artifact = match self.child.get() {
            // The artifact comes back over the child's stdout: sealed here,
            // where the key is, as the compiler made it.
            Some(child) => child.compile(bytes)?,
            None => engine.precompile_component(bytes)?,
        };
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let body = artifact.len();
        let sealed = self.sealed(&path, artifact);
        let cached = match self.seal.get() {
            Some(Trust::Nothing) => Ok(()),
            _ => std::fs::create_dir_all(&self.dir)
                .and_then(|()| crate::fsutil::write_atomically(&path, &sealed)),
        };
        if let Err(e) = cached {
            tracing::warn!(
                "cannot cache the compiled component at {} ({e}); it will be compiled again next time",
                path.display()
            );
        }
        // SAFETY: this engine (or Warden's compiler child, for an engine
        // with these settings) produced the artifact a moment ago.
        let component = unsafe { Component::deserialize(engine, &sealed[..body])? };
        Ok((component, source))
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn compiles(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: its preamble and nothing else.
    const EMPTY: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn cache(dir: &std::path::Path, key: Option<[u8; 32]>) -> (Engine, ArtifactCache) {
        let engine = Engine::default();
        let cache = ArtifactCache::new(&engine, dir.to_path_buf(), 1);
        if let Some(key) = key {
            cache.seal_with(key);
        }
        (engine, cache)
    }

    fn source(cache: &ArtifactCache, engine: &Engine) -> ArtifactSource {
        cache
            .load(engine, EMPTY, &hex::encode(Sha256::digest(EMPTY)))
            .map(|(_, s)| s)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn a_sealed_artifact_loads_and_one_changed_on_disk_is_compiled_again_and_said() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let (engine, sealed) = cache(dir.path(), Some([7; 32]));
        assert_eq!(source(&sealed, &engine), ArtifactSource::Compiled);
        assert_eq!(source(&sealed, &engine), ArtifactSource::Cached);

        // One byte of the native code changed: not loaded, compiled again.
        let path = sealed.path_for(EMPTY);
        let mut bytes = std::fs::read(&path).unwrap_or_else(|e| unreachable!("{e}"));
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(source(&sealed, &engine), ArtifactSource::Replaced);
        assert_eq!(
            source(&sealed, &engine),
            ArtifactSource::Cached,
            "the replacement is sealed"
        );

        // Sealed under another key (another host's, or a forger's): the same.
        let (engine, other) = cache(dir.path(), Some([8; 32]));
        assert_eq!(source(&other, &engine), ArtifactSource::Replaced);
    }

    /// `EMPTY` with a custom section: another component.
    const OTHER: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x02, 0x01, b'x',
    ];

    #[test]
    fn a_sealed_artifact_moved_under_another_components_name_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let (engine, sealed) = cache(dir.path(), Some([7; 32]));
        assert_eq!(source(&sealed, &engine), ArtifactSource::Compiled);
        let other = |c: &ArtifactCache| {
            c.load(&engine, OTHER, &hex::encode(Sha256::digest(OTHER)))
                .map(|(_, s)| s)
                .unwrap_or_else(|e| unreachable!("{e}"))
        };
        assert_eq!(other(&sealed), ArtifactSource::Compiled);
        // EMPTY's sealed artifact copied over OTHER's.
        std::fs::copy(sealed.path_for(EMPTY), sealed.path_for(OTHER))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(other(&sealed), ArtifactSource::Replaced);
    }

    #[test]
    fn a_host_without_a_key_trusts_nothing_on_disk_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let (engine, sealed) = cache(dir.path(), Some([7; 32]));
        assert_eq!(source(&sealed, &engine), ArtifactSource::Compiled);
        let (engine, keyless) = cache(dir.path(), None);
        keyless.distrust();
        assert_eq!(source(&keyless, &engine), ArtifactSource::Compiled);
        assert_eq!(
            source(&keyless, &engine),
            ArtifactSource::Compiled,
            "never cached"
        );
        let other = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let (engine, fresh) = cache(other.path(), None);
        fresh.distrust();
        assert_eq!(source(&fresh, &engine), ArtifactSource::Compiled);
        assert!(!fresh.path_for(EMPTY).exists(), "nothing written");
    }

    #[test]
    fn an_unsealed_artifact_is_compiled_again_by_a_sealing_host_and_read_without_a_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let (engine, plain) = cache(dir.path(), None);
        assert_eq!(source(&plain, &engine), ArtifactSource::Compiled);
        assert_eq!(source(&plain, &engine), ArtifactSource::Cached);
        // Written before sealing (or by `warden run`): no alarm, a compile.
        let (engine, sealed) = cache(dir.path(), Some([7; 32]));
        assert_eq!(source(&sealed, &engine), ArtifactSource::Compiled);
        // Without a key a sealed artifact still loads (the seal unchecked).
        let (engine, plain) = cache(dir.path(), None);
        assert_eq!(source(&plain, &engine), ArtifactSource::Cached);
    }

    #[test]
    fn without_a_key_an_unusable_file_is_compiled_again_and_its_replacement_loads() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let (engine, plain) = cache(dir.path(), None);
        assert_eq!(source(&plain, &engine), ArtifactSource::Compiled);
        // Not an artifact (mapped and refused), then shorter than a seal
        // mark (read and refused): compiled again each time, then cached.
        for junk in [&b"not an artifact at all"[..], b"x"] {
            std::fs::write(plain.path_for(EMPTY), junk).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(source(&plain, &engine), ArtifactSource::Compiled);
            assert_eq!(source(&plain, &engine), ArtifactSource::Cached);
        }
        assert_eq!(plain.hits(), 2);
    }
}
