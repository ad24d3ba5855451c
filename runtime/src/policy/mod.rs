//! Policy as code: Rego decides every publish.
//!
//! Each deploy (admin API, `warden deploy`) and each `warden policy check`
//! builds one input document ([`input`]) and evaluates the platform's
//! policies ([`bundle`]) on it; the platform's enforcement levels and
//! exceptions turn the findings into a [`Decision`]: any `deny` refuses,
//! else any `needs_approval` holds for a reviewer, else the app goes live.
//! Nothing here runs on the invocation path.

pub mod bundle;
pub mod component;
pub mod decision;
pub mod input;
pub mod secrets;
pub mod testing;

pub use bundle::{PolicyBundle, PolicyError};
pub use decision::{Decision, Finding, Verdict};

use crate::config::{AppManifest, PlatformConfig};
use serde_json::Value;

/// What a publish's files show a policy (`input.component`,
/// `input.secrets`).
pub struct Evidence {
    /// `None` when there is no component to read (not built yet).
    pub facts: Option<component::ComponentFacts>,
    /// Secret-scan findings in the component and the manifest text.
    pub secrets: Vec<Value>,
}

/// Reads the component's facts and scans it and the manifest text for
/// secrets: the same for a deploy and for `warden policy check`.
///
/// # Errors
/// The component is not well-formed WebAssembly (or, a bug, the scanner's
/// rules do not compile).
pub fn evidence(manifest_text: &str, component: Option<&[u8]>) -> Result<Evidence, String> {
    let mut found = secrets::scan_manifest(manifest_text)?;
    let facts = match component {
        Some(bytes) => {
            found.extend(secrets::scan_component(bytes)?);
            Some(component::facts(bytes)?)
        }
        None => None,
    };
    Ok(Evidence {
        facts,
        secrets: found
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .collect(),
    })
}

/// A small, complete publish every bundle is evaluated on at load, so a
/// rule that fails on any input stops start-up, not each deploy.
pub fn sample_input(platform: &PlatformConfig) -> Value {
    let text = "[app]\nname = \"sample\"\nversion = \"1.0.0\"\ncomponent = \"app.wasm\"\nowner = \"ada\"\nteam = \"tools\"\ncost_center = \"cc-1\"\nrunbook = { contact = \"oncall@example.com\" }\n";
    let parsed: Result<(AppManifest, toml::Table), String> = toml::from_str(text)
        .and_then(|m| toml::from_str(text).map(|t| (m, t)))
        .map_err(|e| e.to_string());
    match parsed {
        Ok((manifest, table)) => input::build(
            &input::Publish {
                request: input::PublishRequest {
                    who: "warden".into(),
                    role: "admin".into(),
                    team: Some("tools".into()),
                    time: now_rfc3339(chrono::Utc::now()),
                    dry_run: true,
                },
                manifest: &manifest,
                manifest_table: &table,
                owner: manifest.app.owner.as_deref(),
                component: None,
                template: None,
                secrets: &[],
                previous: None,
            },
            platform,
        ),
        // The text above is fixed; were it ever wrong, an empty input
        // still exercises every rule's guards.
        Err(_) => Value::Object(serde_json::Map::new()),
    }
}

/// RFC 3339 with seconds, UTC (`2026-12-01T10:00:00Z`).
pub fn now_rfc3339(now: chrono::DateTime<chrono::Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
