//! The host: one engine, one linker, one artifact cache, one audit log,
//! shared by every app and every invocation in the process.

use crate::app::{self, LoadedApp};
use crate::artifact_cache::ArtifactCache;
use crate::audit::AuditLog;
use crate::config::{ConfigError, PlatformConfig};
use crate::host_state::{self, HostState};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Linker;

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ArtifactCache,
    platform: PlatformConfig,
    data_dir: PathBuf,
    audit: AuditLog,
    tracer: SdkTracer,
    _provider: SdkTracerProvider,
}

impl Runtime {
    /// Builds the host for `platform`, recording spans through `provider`
    /// (see [`crate::telemetry`]). Creates the data directory if needed.
    pub fn new(platform: PlatformConfig, provider: SdkTracerProvider) -> anyhow::Result<Runtime> {
        let data_dir = platform.data_dir();
        std::fs::create_dir_all(&data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the data directory {}: {e}\n  fix: set `data_dir` in warden.toml or WARDEN_DATA_DIR to a writable directory",
                data_dir.display()
            )
        })?;
        let engine = crate::engine::build(&platform)?;
        let linker = host_state::linker(&engine)?;
        let cache = ArtifactCache::new(&engine, data_dir.join("artifacts"));
        let audit = AuditLog::new(data_dir.join("audit.jsonl"));
        let tracer = provider.tracer("warden");
        Ok(Runtime {
            engine,
            linker,
            cache,
            platform,
            data_dir,
            audit,
            tracer,
            _provider: provider,
        })
    }

    /// Loads and checks an app (see [`crate::app`]).
    pub fn load_app(&self, manifest_path: &Path) -> Result<LoadedApp, ConfigError> {
        app::load(
            &self.engine,
            &self.linker,
            &self.cache,
            &self.platform,
            manifest_path,
        )
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    pub fn platform(&self) -> &PlatformConfig {
        &self.platform
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub fn artifact_cache(&self) -> &ArtifactCache {
        &self.cache
    }

    pub(crate) fn tracer(&self) -> &SdkTracer {
        &self.tracer
    }
}
