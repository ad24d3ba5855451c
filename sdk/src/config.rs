//! Configuration values: `[config]` in the app's `app.toml`, under the
//! platform's `[config.apps.NAME]` in `warden.toml`, whose values win.
//! Read through the standard `wasi:config/store`, so a component that
//! reads configuration runs on any host that serves it. Values are
//! strings; a secret is never one (reach it through a connector).

use crate::bindings::wasi::config::store;

/// Why the host could not read the configuration.
fn reason(e: store::Error) -> String {
    match e {
        store::Error::Upstream(m) | store::Error::Io(m) => {
            format!("the app's configuration could not be read: {m}")
        }
    }
}

/// The value of `key`, or `None` when neither the app nor the platform
/// set it. `Err` says why the host could not read the configuration.
pub fn get(key: &str) -> Result<Option<String>, String> {
    store::get(key).map_err(reason)
}

/// The value of `key`; `Err` names the key and where to set it when
/// nobody did.
pub fn require(key: &str) -> Result<String, String> {
    get(key)?.ok_or_else(|| {
        format!(
            "no configuration value {key:?}: set it under [config] in app.toml \
             (or [config.apps.NAME] in warden.toml)"
        )
    })
}

/// Every value the app can read, as (key, value) pairs.
pub fn all() -> Result<Vec<(String, String)>, String> {
    store::get_all().map_err(reason)
}
