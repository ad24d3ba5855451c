//! `warden.toml`: what the platform team allows.
//!
//! Every field has a safe default, so no file at all gives an embedded,
//! local, deny-by-default host. Relative paths are resolved against the
//! directory of `warden.toml`.

use super::error::{ConfigError, parse_toml, read_file};
use super::limits::Limits;
use super::units::{Dur, Size};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use warden_host_apis::connectors::{ConnectorRules, ConnectorSpec};
use warden_host_apis::dlp::DlpRules;
use warden_host_apis::egress::config::EgressRules;
use warden_host_apis::storage::config::StorageRules;

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformConfig {
    /// Where Warden keeps its state: artifact cache, audit log.
    pub data_dir: Option<PathBuf>,
    /// Limits an app gets for anything its manifest leaves out. A partial
    /// table keeps the built-in default for the fields it leaves out.
    #[serde(deserialize_with = "partial_defaults")]
    pub defaults: Limits,
    /// Ceilings no app may exceed; a partial table keeps the built-in
    /// maximum for the fields it leaves out.
    #[serde(
        default = "Limits::default_maximums",
        deserialize_with = "partial_maximums"
    )]
    pub maximums: Limits,
    pub engine: EngineSettings,
    pub logs: LogSettings,
    /// The connector catalog: approved SaaS endpoints apps may be granted.
    pub connectors: Vec<ConnectorSpec>,
    /// Rules every catalog entry must meet (DPA, residency, ...).
    pub connector_rules: ConnectorRules,
    /// Network rules for all outbound traffic.
    pub egress: EgressRules,
    pub secrets: SecretSettings,
    /// Classified storage: per-class TTL, encryption and approval rules.
    pub storage: StorageRules,
    /// What to do with sensitive values leaving or moving down.
    pub dlp: DlpRules,
    /// `warden serve`: listener and per-app HTTP limits.
    pub serve: ServeSettings,
    /// Quotas an app gets when its manifest leaves them out, and the most
    /// it may ask for.
    pub quotas: warden_host_apis::metering::QuotaRules,
    /// What one deploy may cost: compile budget, parallelism, versions kept.
    pub deploys: super::deploys::DeploySettings,
    /// How often and how many `[[schedule]]` triggers an app may have.
    pub schedules: super::schedules::ScheduleRules,
    /// Rules that kill a misbehaving app automatically.
    pub containment: super::containment::ContainmentRules,
    /// Span retention and export.
    pub telemetry: super::telemetry::TelemetrySettings,
    /// The admin API: optional OIDC sign-in.
    pub admin: AdminSettings,
    /// Blueprints apps may stay within to go live without review
    /// (`[templates.NAME]`); more can be added through the admin API.
    pub templates: std::collections::BTreeMap<String, super::templates::Template>,
    /// Configuration values per app (`[config.apps.NAME]`), over the app's.
    pub config: crate::capabilities::wasi_config::ConfigRules,
    /// The Rego policies that decide every publish (`[policy]`).
    pub policy: super::policy::PolicySettings,
    /// Where shared state lives (`[state]`): the embedded store, or
    /// PostgreSQL for several nodes.
    pub state: super::state::StateSettings,
    /// Signed checkpoints of the audit chain (`[audit]`).
    pub audit: super::audit::AuditSettings,
    /// Periodic reviews by risk tier (`[lifecycle]`).
    pub lifecycle: super::lifecycle::LifecycleSettings,
    /// Platform prices and team / cost-center budgets (`[costs]`).
    pub costs: super::costs::CostSettings,
    /// Learned per-app baselines of egress (`[anomaly]`).
    pub anomaly: super::anomaly::AnomalySettings,
}

/// `[admin]` in `warden.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Accept JWTs from this identity provider besides Warden's own tokens.
    pub oidc: Option<super::oidc::OidcSettings>,
    /// The longest a Warden token may live, and how long one lives when
    /// its creator names no `--ttl` (default 90 days).
    pub token_max_ttl: Dur,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            oidc: None,
            token_max_ttl: Dur(std::time::Duration::from_secs(90 * 86_400)),
        }
    }
}

/// `[serve]` in `warden.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSettings {
    /// Where HTTP-triggered apps are served.
    pub listen: String,
    /// Where the admin API listens (keep it off public interfaces).
    pub admin_listen: String,
    /// Largest request body an app receives; larger requests get 413.
    pub max_request_body: Size,
    /// Requests one app may run at once; more get 429.
    pub max_concurrency_per_app: u32,
    /// How long a shutdown waits for in-flight requests.
    pub drain_timeout: Dur,
    /// Serve both listeners over TLS with this certificate and key.
    pub tls: Option<super::tls::TlsSettings>,
    /// Largest component a deploy may upload (componentize-py output is
    /// about 40 MiB).
    pub max_component_size: Size,
    /// Time a client has to send a complete request head, counted from
    /// when the server starts waiting (so also the keep-alive idle
    /// timeout); then the connection is closed.
    pub head_timeout: Dur,
    /// Time a client has to send the whole body after the head (on the
    /// admin API: time without progress, for large uploads); then 408.
    pub body_timeout: Dur,
    /// Time one write of a response may wait for a client that does not
    /// read; then the connection is closed.
    pub send_timeout: Dur,
    /// Largest request head (request line and headers); larger gets 431.
    pub max_header_size: Size,
    /// Connections open at once, per listener; more are answered 503.
    pub max_connections: usize,
    /// Connections open at once from one IP address, per listener.
    pub max_connections_per_peer: usize,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:8081".into(),
            max_request_body: Size::mib(1),
            max_concurrency_per_app: 32,
            drain_timeout: Dur(Duration::from_secs(30)),
            max_component_size: Size::mib(100),
            tls: None,
            head_timeout: Dur(Duration::from_secs(10)),
            body_timeout: Dur(Duration::from_secs(30)),
            send_timeout: Dur(Duration::from_secs(30)),
            max_header_size: Size::kib(32),
            max_connections: 1024,
            max_connections_per_peer: 256,
        }
    }
}

impl ServeSettings {
    /// Zero would refuse every client or close every connection at once.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let zero = [
            ("head_timeout", self.head_timeout.get().is_zero(), "10s"),
            ("body_timeout", self.body_timeout.get().is_zero(), "30s"),
            ("send_timeout", self.send_timeout.get().is_zero(), "30s"),
            (
                "max_header_size",
                self.max_header_size.bytes() < 1024,
                "\"32KiB\"",
            ),
            ("max_connections", self.max_connections == 0, "1024"),
            (
                "max_connections_per_peer",
                self.max_connections_per_peer == 0,
                "256",
            ),
            (
                "max_concurrency_per_app",
                self.max_concurrency_per_app == 0,
                "32",
            ),
        ];
        match zero.iter().find(|(_, bad, _)| *bad) {
            Some((field, _, default)) => Err(ConfigError::invalid(
                path,
                format!("serve.{field}"),
                "is too small to serve anything",
                format!("leave it out for the default ({default}) or raise it"),
            )),
            None => Ok(()),
        }
    }
}

/// Where the secret store's master key comes from when
/// `WARDEN_MASTER_KEY` is not set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecretSettings {
    /// File holding 64 hex digits. Default: `<data_dir>/master.key`,
    /// created on first use.
    pub master_key_file: Option<PathBuf>,
}

/// How the one shared engine is built. These settle trade-offs between
/// density and latency; the defaults suit a single small host.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// How often the epoch advances: the granularity of timeouts and kills.
    pub epoch_tick: Dur,
    /// Most component instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Wasm call-stack size per instance; recursion past it is a
    /// StackOverflow.
    pub max_wasm_stack: Size,
    /// How much of each pooled linear memory and table is reset in place
    /// when its instance ends: the lowest this-many bytes are put back to
    /// their initial contents (the data image, else zeros) and stay
    /// resident; the rest is released with `madvise`, which costs a TLB
    /// shootdown on every core and a page fault at the next touch (half
    /// the host's CPU per request for a small HTTP app). A bigger value
    /// spends a copy of this many bytes per call and resident memory: up
    /// to this much per warm memory and table slot (wasmtime keeps up to
    /// 100 warm). Either way every byte the next instance can read is its
    /// initial contents; `0` releases everything.
    pub keep_resident: Size,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            epoch_tick: Dur(Duration::from_millis(10)),
            max_instances: 100,
            max_wasm_stack: Size::kib(512),
            keep_resident: Size::mib(4),
        }
    }
}

/// Caps on what one invocation may log through `warden:host/log`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub max_records: usize,
    pub max_bytes: Size,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            max_records: 1_000,
            max_bytes: Size::kib(256),
        }
    }
}

fn partial_defaults<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Limits, D::Error> {
    Ok(super::limits::LimitRequest::deserialize(d)?.resolve(&Limits::default()))
}

fn partial_maximums<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Limits, D::Error> {
    Ok(super::limits::LimitRequest::deserialize(d)?.resolve(&Limits::default_maximums()))
}

const FIX_SYNTAX: &str =
    "correct the TOML at the position shown; the config reference is in README.md";

impl PlatformConfig {
    /// The built-in configuration: what `warden run` uses with no `--config`.
    pub fn builtin() -> PlatformConfig {
        PlatformConfig {
            maximums: Limits::default_maximums(),
            ..PlatformConfig::default()
        }
    }

    pub fn load(path: &Path) -> Result<PlatformConfig, ConfigError> {
        let text = read_file(path)?;
        let mut config: PlatformConfig = parse_toml(path, &text, FIX_SYNTAX)?;
        if let Some(dir) = &config.data_dir
            && dir.is_relative()
        {
            let base = path.parent().unwrap_or(Path::new("."));
            config.data_dir = Some(base.join(dir));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for policy in &mut config.policy.paths {
            if policy.is_relative() {
                *policy = base.join(&*policy);
            }
        }
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        if let Some((field, value, max)) = self.defaults.exceeding(&self.maximums).first() {
            return Err(ConfigError::invalid(
                path,
                format!("defaults.{field}"),
                format!("default {value} is above the maximum {max}"),
                format!("lower `defaults.{field}` or raise `maximums.{field}`"),
            ));
        }
        if let Err(p) =
            warden_host_apis::connectors::compile_catalog(&self.connectors, &self.connector_rules)
        {
            return Err(ConfigError::invalid(path, p.field, p.problem, p.fix));
        }
        if let Some(hook) = &self.containment.alert_webhook
            && let Err(problem) = super::urls::check_url(hook)
        {
            return Err(ConfigError::invalid(
                path,
                "containment.alert_webhook",
                problem,
                "write the full URL of the hook, e.g. \"https://hooks.example.com/warden\"",
            ));
        }
        if let Some((field, problem, fix)) = self.admin.oidc.as_ref().and_then(|o| o.problem()) {
            return Err(ConfigError::invalid(path, field, problem, fix));
        }
        if let Some((field, problem, fix)) = self.state.problem() {
            return Err(ConfigError::invalid(path, field, problem, fix));
        }
        if let Some((field, problem, fix)) = self.audit.problem() {
            return Err(ConfigError::invalid(path, field, problem, fix));
        }
        if let Some((field, problem, fix)) = self.lifecycle.problem() {
            return Err(ConfigError::invalid(path, field, problem, fix));
        }
        if let Some((field, problem, fix)) = self.costs.problem() {
            return Err(ConfigError::invalid(path, field, problem, fix));
        }
        if let Some((field, problem, fix)) = self.anomaly.problem() {
            return Err(ConfigError::invalid(path, field, problem, fix));
        }
        if self.engine.max_instances == 0 {
            return Err(ConfigError::invalid(
                path,
                "engine.max_instances",
                "must be at least 1",
                "set it to the number of invocations that may run at once, e.g. 100",
            ));
        }
        if self.engine.epoch_tick.get() < Duration::from_millis(1) {
            return Err(ConfigError::invalid(
                path,
                "engine.epoch_tick",
                format!("{} is too fine a tick", self.engine.epoch_tick),
                "use 1ms or more (10ms is the default)",
            ));
        }
        for (i, exception) in self.policy.exceptions.iter().enumerate() {
            if let Err(problem) = exception.expiry() {
                return Err(ConfigError::invalid(
                    path,
                    format!("policy.exceptions[{i}].expires"),
                    problem,
                    "write when the exception ends as an RFC 3339 time, e.g. \"2027-03-31T00:00:00Z\"",
                ));
            }
        }
        for (name, template) in &self.templates {
            if let Some((field, problem, fix)) = template.problem(&self.connectors) {
                return Err(ConfigError::invalid(
                    path,
                    format!("templates.{name}.{field}"),
                    problem,
                    fix,
                ));
            }
        }
        if self.admin.token_max_ttl.get().is_zero() {
            return Err(ConfigError::invalid(
                path,
                "admin.token_max_ttl",
                "must be above zero",
                "write how long a token may live, e.g. \"90d\" or \"8h\"",
            ));
        }
        if let Some(field) = self.deploys.zero_field() {
            return Err(ConfigError::invalid(
                path,
                format!("deploys.{field}"),
                "must be above zero",
                "leave it out for the default (see the [deploys] table in README.md)",
            ));
        }
        self.serve.validate(path)
    }

    /// The data directory: `data_dir` if set, else `$WARDEN_DATA_DIR`, else
    /// `$XDG_DATA_HOME/warden`, else `~/.local/share/warden`, else `.warden`.
    /// An empty variable counts as unset, and a relative `XDG_DATA_HOME` is
    /// ignored, as the XDG Base Directory Specification says.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("WARDEN_DATA_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = var("XDG_DATA_HOME").filter(|d| std::path::Path::new(d).is_absolute()) {
            return PathBuf::from(dir).join("warden");
        }
        if let Some(home) = var("HOME") {
            return PathBuf::from(home).join(".local/share/warden");
        }
        PathBuf::from(".warden")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<PlatformConfig, ConfigError> {
        let dir = tempfile::tempdir().map_err(|source| ConfigError::Read {
            path: PathBuf::from("tmp"),
            source,
        })?;
        let path = dir.path().join("warden.toml");
        std::fs::write(&path, text).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        PlatformConfig::load(&path)
    }

    #[test]
    fn an_empty_file_gives_the_builtin_config() -> Result<(), ConfigError> {
        let config = load_str("")?;
        assert_eq!(config.defaults, Limits::default());
        assert_eq!(config.maximums, Limits::default_maximums());
        assert_eq!(config.engine, EngineSettings::default());
        Ok(())
    }

    #[test]
    fn partial_tables_keep_defaults_for_the_rest() -> Result<(), ConfigError> {
        let config = load_str("[maximums]\nmemory = \"128MiB\"\n[defaults]\nfuel = 7\n")?;
        assert_eq!(config.maximums.memory, Size::mib(128));
        assert_eq!(config.maximums.fuel, Limits::default_maximums().fuel);
        assert_eq!(config.maximums.timeout, Limits::default_maximums().timeout);
        assert_eq!(config.defaults.fuel, 7);
        assert_eq!(config.defaults.memory, Limits::default().memory);
        Ok(())
    }

    #[test]
    fn defaults_above_maximums_are_rejected() {
        let err = load_str("[defaults]\nmemory = \"1GiB\"\n")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.field(), Some("defaults.memory"));
    }

    #[test]
    fn unknown_sections_are_rejected_naming_the_ones_that_exist() {
        let err = load_str("[engin]\n").map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("engin") && err.contains("maximums"), "{err}");
    }

    #[test]
    fn a_connector_without_a_dpa_is_rejected_when_the_platform_requires_one() {
        let text = "[connector_rules]\nrequire_dpa = true\n[[connectors]]\nname = \"crm\"\nbase_url = \"https://crm.example.com\"\n";
        let err = load_str(text).map(|_| ()).unwrap_err();
        assert_eq!(err.field(), Some("connectors[0].vendor.dpa"));
        assert!(err.to_string().contains("sign a DPA"), "{err}");
        let ok = format!("{text}vendor = {{ dpa = true }}\n");
        assert!(load_str(&ok).is_ok());
    }

    #[test]
    fn a_connector_with_a_bad_scope_rule_is_rejected() {
        let text = "[[connectors]]\nname = \"crm\"\nbase_url = \"https://crm.example.com\"\nscopes = { read = [\"GET crm\"] }\n";
        let err = load_str(text).map(|_| ()).unwrap_err();
        assert_eq!(err.field(), Some("connectors[0].scopes.read"));
    }

    #[test]
    fn relative_data_dirs_are_resolved_next_to_the_config() -> Result<(), ConfigError> {
        let config = load_str("data_dir = \"state\"\n")?;
        let dir = config.data_dir();
        assert!(
            dir.is_absolute() && dir.ends_with("state"),
            "{}",
            dir.display()
        );
        Ok(())
    }
}
