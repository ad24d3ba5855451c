//! `wasi:config/store` as a capability: an app reads its configuration
//! through the standard WASI interface (`get`, `get-all`), served by the
//! `wasmtime-wasi-config` crate.
//!
//! Request: `[config]` in `app.toml`. Rules: `[config.apps.NAME]` in
//! `warden.toml`, whose values take precedence over the app's (the
//! platform decides, e.g., which environment an app talks to). The grant
//! is the merged table, checked once at load: no key or value the platform
//! would refuse reaches an invocation, and a key or value that looks like a
//! credential (a private key, an API key, a JWT) is refused as the file is
//! parsed, before anything is audited or served (see `values`) — secrets
//! reach upstreams only through connectors. A key nobody set reads as
//! `none`.

mod values;

pub use values::{ConfigRequest, ConfigRules, MAX_KEYS};

use crate::capability::{Capability, GrantInput, HostResources, InvocationContext, Part};
use crate::config::{AppManifest, ConfigError, PlatformConfig};
use crate::host_state::HostState;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime_wasi_config::WasiConfigVariables;

/// The `wasi:config` capability.
pub struct WasiConfig;

/// An app's configuration: its values under the platform's, merged.
pub struct ConfigGrant {
    /// The merged values, for the host and its tests.
    pub values: BTreeMap<String, String>,
    /// The same values as `wasmtime-wasi-config` serves them.
    variables: WasiConfigVariables,
}

/// One invocation's view of its app's configuration.
pub struct ConfigState {
    grant: Arc<ConfigGrant>,
}

impl Capability for WasiConfig {
    type Grant = ConfigGrant;
    type State = ConfigState;

    fn new(_host: &HostResources<'_>) -> anyhow::Result<Self> {
        Ok(WasiConfig)
    }

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wasmtime_wasi_config::add_to_linker(linker, |s: &mut HostState| {
            let state: &mut ConfigState = s.part();
            wasmtime_wasi_config::WasiConfig::from(&state.grant.variables)
        })
    }

    fn grant(&self, app: &GrantInput<'_>) -> Result<ConfigGrant, ConfigError> {
        let name = &app.manifest.app.name;
        let own = app.manifest.config.as_ref().map(|c| &c.0);
        let platform = app.platform.config.apps.get(name);
        let mut values: BTreeMap<String, String> = own.cloned().unwrap_or_default();
        for (key, value) in platform.into_iter().flatten() {
            values.insert(key.clone(), value.clone());
        }
        if values.len() > MAX_KEYS {
            return Err(app.invalid(
                "config",
                format!(
                    "the app's and the platform's values make {} keys; at most {MAX_KEYS}",
                    values.len()
                ),
                "keep larger data in storage or behind a connector",
            ));
        }
        let variables = values.iter().collect();
        Ok(ConfigGrant { values, variables })
    }

    /// A reviewer sees the app's values change between versions.
    fn review_view(manifest: &AppManifest) -> Option<(&'static str, serde_json::Value)> {
        let own = manifest.config.as_ref().map(|c| &c.0);
        Some((
            "config",
            serde_json::json!(own.cloned().unwrap_or_default()),
        ))
    }

    /// A change of the platform's values is audited with the other
    /// governance settings.
    fn rules_view(platform: &PlatformConfig) -> Option<(&'static str, serde_json::Value)> {
        Some(("config", serde_json::json!(platform.config.apps)))
    }

    fn state(grant: &Arc<ConfigGrant>, _invocation: &InvocationContext) -> ConfigState {
        ConfigState {
            grant: grant.clone(),
        }
    }
}
