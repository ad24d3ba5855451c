//! `app.world` in `app.toml`: which entry point of a component to run
//! (what a component offers is read in `crate::world`).

/// An entry point a component can be run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum World {
    #[serde(rename = "warden:host/app")]
    App,
    #[serde(rename = "wasi:cli/command")]
    Command,
    #[serde(rename = "wasi:http/proxy")]
    HttpProxy,
}
