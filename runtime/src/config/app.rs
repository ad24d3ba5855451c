//! `app.toml`: what a creator's micro app asks for.
//!
//! The manifest states wants; `warden.toml` states what exists and what is
//! allowed. The two meet in [`crate::app::load`], at load time, never at call
//! time. Unknown keys are errors that list the keys that exist, so a typo
//! (`timout`) cannot silently fall back to a default.

use super::error::{ConfigError, parse_toml, read_file};
use super::limits::LimitRequest;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use warden_host_apis::connectors::ConnectorRequest;
use warden_host_apis::egress::config::EgressRequest;
use warden_host_apis::metering::QuotaRequest;
use warden_host_apis::storage::config::BucketRequest;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppManifest {
    pub app: AppSection,
    #[serde(default)]
    pub limits: LimitRequest,
    pub http: Option<HttpSection>,
    #[serde(default)]
    pub quota: QuotaRequest,
    /// Connector grants the app asks for.
    #[serde(default)]
    pub connectors: Vec<ConnectorRequest>,
    #[serde(default)]
    pub egress: EgressRequest,
    /// Buckets the app keeps data in.
    #[serde(default)]
    pub storage: Vec<BucketRequest>,
    /// Cron triggers.
    #[serde(default)]
    pub schedule: Vec<ScheduleRequest>,
    /// Service-level objectives, watched by `warden serve`.
    pub slo: Option<super::slo::SloRequest>,
    /// Values the app reads through `wasi:config/store`.
    pub config: Option<crate::capabilities::wasi_config::ConfigRequest>,
    /// How `warden build` builds the component.
    pub build: Option<super::build::BuildSection>,
}

/// One `[[schedule]]` entry: when to run the app, and with what input.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Five fields (minute precision) or six (seconds first), UTC:
    /// `"0 7 * * MON-FRI"`, `"*/30 * * * * *"`, `"@hourly"`.
    pub cron: String,
    /// Handler input (or HTTP body) for each run.
    #[serde(default)]
    pub input: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    /// `[a-z0-9-]`, unique per host.
    pub name: String,
    /// Semantic version of this build of the app.
    pub version: String,
    /// Path of the compiled component, relative to `app.toml`.
    pub component: PathBuf,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub cost_center: Option<String>,
    pub template: Option<String>,
    pub runbook: Option<Runbook>,
    /// Compliance scopes the app is held to (`["SOC2", "GDPR"]`); each
    /// adds its rules to the publish policy.
    #[serde(default)]
    pub compliance: Vec<String>,
    /// Which entry point to run when the component exports several
    /// (`"wasi:http/proxy"`, `"wasi:cli/command"`, `"warden:host/app"`);
    /// see [`super::world::World::choose`].
    pub world: Option<super::world::World>,
}

/// Who to call and what to do when the app misbehaves.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    pub contact: Option<String>,
    pub kill_switch: Option<String>,
    pub rollback: Option<String>,
}

/// `[http]`: the route a `wasi:http/proxy` app serves.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    pub route: String,
}

const FIX_SYNTAX: &str =
    "correct the TOML at the position shown; the manifest reference is in README.md";

impl AppManifest {
    /// Reads and checks `app.toml` on its own (platform checks come later).
    pub fn load(path: &Path) -> Result<AppManifest, ConfigError> {
        let text = read_file(path)?;
        AppManifest::parse(path, &text)
    }

    /// Parses and checks manifest text; `path` names it in errors (for a
    /// deploy, the name the client sent).
    pub fn parse(path: &Path, text: &str) -> Result<AppManifest, ConfigError> {
        let manifest: AppManifest = parse_toml(path, text, FIX_SYNTAX)?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let name = &self.app.name;
        let name_ok = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !name_ok {
            return Err(ConfigError::invalid(
                path,
                "app.name",
                format!("`{name}` is not a valid app name"),
                "use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-' (e.g. \"expense-dashboard\")",
            ));
        }
        if let Err(e) = semver::Version::parse(&self.app.version) {
            return Err(ConfigError::invalid(
                path,
                "app.version",
                format!("`{}` is not a semantic version ({e})", self.app.version),
                "write it as MAJOR.MINOR.PATCH, e.g. \"1.2.0\"",
            ));
        }
        if let Some((field, problem)) = self.slo.as_ref().and_then(|s| s.problem()) {
            return Err(ConfigError::invalid(
                path,
                field,
                problem,
                "write e.g. `error_rate = 0.01` and `latency = { percentile = 99.0, threshold = \"250ms\" }`",
            ));
        }
        if let Some(http) = &self.http
            && !http.route.starts_with('/')
        {
            return Err(ConfigError::invalid(
                path,
                "http.route",
                format!("`{}` does not start with '/'", http.route),
                "write a path such as \"/expense\" or \"/expense/...\" (trailing /... matches everything below)",
            ));
        }
        Ok(())
    }

    /// The component's path, resolved against the manifest's directory.
    pub fn component_path(&self, manifest_path: &Path) -> PathBuf {
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        dir.join(&self.app.component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<AppManifest, ConfigError> {
        let dir = tempfile::tempdir().map_err(|source| ConfigError::Read {
            path: PathBuf::from("tmp"),
            source,
        })?;
        let path = dir.path().join("app.toml");
        std::fs::write(&path, text).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        AppManifest::load(&path)
    }

    const MINIMAL: &str = r#"
[app]
name = "report"
version = "1.0.0"
component = "report.wasm"
"#;

    #[test]
    fn a_minimal_manifest_parses() -> Result<(), ConfigError> {
        let manifest = load_str(MINIMAL)?;
        assert_eq!(manifest.app.name, "report");
        assert_eq!(manifest.limits, LimitRequest::default());
        Ok(())
    }

    #[test]
    fn human_sizes_and_durations_are_accepted() -> Result<(), ConfigError> {
        let manifest = load_str(&format!(
            "{MINIMAL}\n[limits]\nfuel = 50_000_000\nmemory = \"64MiB\"\ntimeout = \"2s\"\nmax_output = \"1MiB\"\n"
        ))?;
        assert_eq!(manifest.limits.memory.map(|m| m.bytes()), Some(64 << 20));
        assert_eq!(
            manifest.limits.timeout.map(|t| t.get()),
            Some(std::time::Duration::from_secs(2))
        );
        Ok(())
    }

    #[test]
    fn unknown_keys_are_rejected_naming_the_keys_that_exist() {
        let err = load_str(&format!("{MINIMAL}\n[limits]\ntimout = \"2s\"\n"))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("timout"), "{err}");
        assert!(err.contains("timeout") && err.contains("memory"), "{err}");
        assert!(err.contains("app.toml"), "{err}");
    }

    #[test]
    fn a_bad_size_names_the_value_and_an_accepted_form() {
        let err = load_str(&format!("{MINIMAL}\n[limits]\nmemory = \"lots\"\n"))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("lots") && err.contains("64MiB"), "{err}");
    }

    #[test]
    fn invalid_names_and_versions_say_how_to_fix_them() {
        let err = load_str(&MINIMAL.replace("\"report\"", "\"Report App\""))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.field(), Some("app.name"));
        let err = load_str(&MINIMAL.replace("1.0.0", "one"))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.field(), Some("app.version"));
        assert!(err.to_string().contains("MAJOR.MINOR.PATCH"));
    }
}
