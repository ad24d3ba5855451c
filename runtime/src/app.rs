//! Loading an app: manifest + platform config + component, checked together
//! once, so that an invocation does nothing but instantiate and call.
//!
//! Everything that can be wrong with an app is caught here and reported
//! against the file and field that cause it: a limit above the platform's
//! maximum, a missing component, a core module instead of a component, a
//! component whose imports Warden does not provide or that exports no entry
//! point Warden can call.

use crate::artifact_cache::{ArtifactCache, ArtifactSource};
use crate::capabilities::{Capabilities, Grants};
use crate::capability::GrantInput;
use crate::config::{AppManifest, ConfigError, Limits, PlatformConfig};
use crate::host_state::HostState;
use crate::world::{BinaryKind, Unchosen, World, binary_kind};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warden_host_apis::bindings::AppPre;
use warden_host_apis::kill::KillSwitch;
use warden_host_apis::metering::{Meter, UsageBackend};
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// A loaded app, ready to be invoked any number of times.
pub struct LoadedApp {
    pub manifest: AppManifest,
    pub manifest_path: PathBuf,
    pub limits: Limits,
    pub world: World,
    /// Where the compiled code came from on this load.
    pub artifact: ArtifactSource,
    /// SHA-256 of the component file, hex.
    pub digest: String,
    pub(crate) entry: Entry,
    /// What each capability granted the app (see `crate::capabilities`).
    pub grants: Grants,
    /// The app's usage counters and quota limits, shared by its
    /// invocations and every capability.
    pub meter: Arc<Meter>,
    /// The app's kill switch (one per app name in the host).
    pub kill: Arc<KillSwitch>,
    /// Parsed `[[schedule]]` entries.
    pub schedules: Vec<crate::schedule::Schedule>,
    /// How it was loaded (review state, quota override), to reload it.
    pub options: LoadOptions,
    /// The app's name, shared: each invocation's context takes a reference,
    /// not a copy.
    pub(crate) id: Arc<str>,
    /// `warden.app` and `warden.app.version` for spans, built once so an
    /// invocation clones a reference instead of copying strings.
    pub(crate) span_attributes: [opentelemetry::KeyValue; 2],
}

impl LoadedApp {
    /// The app's kill switch.
    pub(crate) fn kill_switch(&self) -> &Arc<KillSwitch> {
        &self.kill
    }
}

/// The pre-linked entry point of each world.
pub(crate) enum Entry {
    App(AppPre<HostState>),
    Command(CommandPre<HostState>),
    HttpProxy(ProxyPre<HostState>),
}

impl LoadedApp {
    pub fn name(&self) -> &str {
        &self.manifest.app.name
    }

    pub fn version(&self) -> &str {
        &self.manifest.app.version
    }
}

const FIX_BUILD: &str = "build it with `warden build` (or `cargo build --release --target wasm32-wasip2`, or your toolchain's equivalent) and point `app.component` at the .wasm file; the path is relative to app.toml";
const FIX_COMPILE_BUDGET: &str = "raise `deploys.compile_timeout` in warden.toml (the default, 5m, suits Python or JavaScript components of 10-20 MiB of interpreter on an idle machine; give a loaded or slow one more, e.g. \"15m\"); if the component is small, it has code that is unusually expensive to compile";
const WORLDS: &str = "export `warden:host/handler` (the warden:host/app world, see sdk/), `wasi:cli/run` (a command) or `wasi:http/incoming-handler` (wasi:http/proxy)";

/// What the host knows about an app beyond its manifest.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A reviewer approved this version: classes that need approval are
    /// open to it.
    pub approved: bool,
    /// The operator's quota override, applied over the manifest's `[quota]`.
    pub quota: Option<warden_host_apis::metering::QuotaRequest>,
}

/// The parts of the runtime loading needs.
pub(crate) struct LoadContext<'a> {
    pub engine: &'a Engine,
    pub linker: &'a Linker<HostState>,
    pub cache: &'a ArtifactCache,
    pub platform: &'a PlatformConfig,
    /// The host's capabilities, which grant the app what it asks for.
    pub capabilities: &'a Capabilities,
    pub usage: &'a Arc<dyn UsageBackend>,
    /// The kill switch of an app, by name.
    pub kill: &'a (dyn Fn(&str) -> Arc<KillSwitch> + 'a),
}

/// An app whose files and settings passed every check but the compile:
/// what [`compile`] turns into a [`LoadedApp`]. A host checks its apps at
/// start (a bad one fails the start) and compiles them in the background.
pub(crate) struct CheckedApp {
    pub manifest: AppManifest,
    pub manifest_path: PathBuf,
    /// The component file, as read once: what is digested is what compiles.
    bytes: Vec<u8>,
    component_path: PathBuf,
    /// SHA-256 of `bytes`, hex.
    pub digest: String,
    limits: Limits,
    grants: Grants,
    meter: Arc<Meter>,
    kill: Arc<KillSwitch>,
    schedules: Vec<crate::schedule::Schedule>,
    options: LoadOptions,
}

impl CheckedApp {
    pub fn name(&self) -> &str {
        &self.manifest.app.name
    }

    pub fn version(&self) -> &str {
        &self.manifest.app.version
    }

    /// The app's kill switch.
    pub(crate) fn kill_switch(&self) -> &Arc<KillSwitch> {
        &self.kill
    }
}

/// Loads an app, stage by stage: its manifest, quotas, capability grants,
/// schedules, limits, then its component and entry point. Each stage's
/// error names the file, the field and the fix.
pub(crate) fn load(
    cx: LoadContext<'_>,
    manifest_path: &Path,
    options: &LoadOptions,
) -> Result<LoadedApp, ConfigError> {
    let checked = check(&cx, manifest_path, options)?;
    compile(&cx, checked)
}

/// Every stage of [`load`] before the compile: manifest, quotas, grants,
/// schedules, limits, and the component read and seen to be a component.
pub(crate) fn check(
    cx: &LoadContext<'_>,
    manifest_path: &Path,
    options: &LoadOptions,
) -> Result<CheckedApp, ConfigError> {
    let platform = cx.platform;
    let mut manifest = AppManifest::load(manifest_path)?;
    let quota = resolve_quota(&mut manifest, options, platform, manifest_path)?;
    let meter = Arc::new(Meter::new(
        &manifest.app.name,
        manifest.quota.limits(quota),
        cx.usage.clone(),
    ));
    let grants = cx.capabilities.grant(&GrantInput {
        manifest: &manifest,
        path: manifest_path,
        platform,
        options,
        quota,
    })?;
    let schedules = grant_schedules(&manifest, &platform.schedules, manifest_path)?;
    let limits = resolve_limits(&manifest, platform, manifest_path)?;
    let component_path = manifest.component_path(manifest_path);
    let bytes = read_component(manifest_path, &component_path)?;
    Ok(CheckedApp {
        kill: (cx.kill)(&manifest.app.name),
        digest: hex::encode(Sha256::digest(&bytes)),
        bytes,
        component_path,
        manifest_path: manifest_path.to_path_buf(),
        manifest,
        limits,
        grants,
        meter,
        schedules,
        options: options.clone(),
    })
}

/// The last stage of [`load`]: compiles a checked app's component (or
/// takes it from the artifact cache), links it and chooses its entry
/// point. The slow part for a big component: seconds to minutes.
pub(crate) fn compile(cx: &LoadContext<'_>, app: CheckedApp) -> Result<LoadedApp, ConfigError> {
    let (entry, world, artifact) = compile_entry(cx, &app)?;
    let CheckedApp {
        manifest,
        manifest_path,
        digest,
        limits,
        grants,
        meter,
        kill,
        schedules,
        options,
        ..
    } = app;
    let id: Arc<str> = Arc::from(manifest.app.name.as_str());
    Ok(LoadedApp {
        manifest_path,
        limits,
        world,
        artifact,
        digest,
        entry,
        grants,
        meter,
        kill,
        span_attributes: [
            opentelemetry::KeyValue::new(
                crate::telemetry::keys::APP,
                opentelemetry::StringValue::from(id.clone()),
            ),
            opentelemetry::KeyValue::new(
                crate::telemetry::keys::VERSION,
                opentelemetry::StringValue::from(Arc::<str>::from(manifest.app.version.as_str())),
            ),
        ],
        id,
        manifest,
        schedules,
        options,
    })
}

/// Quotas: the manifest's under the platform's defaults and maximums, an
/// operator's override on top; returns who set each.
fn resolve_quota(
    manifest: &mut AppManifest,
    options: &LoadOptions,
    platform: &PlatformConfig,
    manifest_path: &Path,
) -> Result<warden_host_apis::metering::QuotaSources, ConfigError> {
    // Who set each quota, so a refusal can say whom to ask.
    let quota_sources = warden_host_apis::metering::QuotaSources::of(
        &manifest.quota,
        options.quota.as_ref(),
        &platform.quotas,
    );
    manifest.quota = platform
        .quotas
        .resolve(&manifest.quota)
        .map_err(|(field, value, max)| {
            ConfigError::invalid(
                manifest_path,
                format!("quota.{field}"),
                format!("{value} is above the platform maximum of {max}"),
                format!(
                    "lower `quota.{field}` to at most {max}, or ask the platform team to raise `quotas.maximums.{field}` in warden.toml"
                ),
            )
        })?;
    // An operator's override applies on top, maximum or not: it is the
    // platform's own decision.
    if let Some(over) = &options.quota {
        manifest.quota = manifest.quota.overlay(over);
    }
    Ok(quota_sources)
}

/// Schedules: at most `schedules.max_per_app`, each a pattern that fires
/// no more often than `schedules.min_interval`.
fn grant_schedules(
    manifest: &AppManifest,
    rules: &crate::schedule::ScheduleRules,
    manifest_path: &Path,
) -> Result<Vec<crate::schedule::Schedule>, ConfigError> {
    if manifest.schedule.len() > rules.max_per_app {
        return Err(ConfigError::invalid(
            manifest_path,
            "schedule",
            format!(
                "{} [[schedule]] entries; the platform allows {} per app",
                manifest.schedule.len(),
                rules.max_per_app
            ),
            "merge patterns (one pattern can list several times, e.g. \"0 7,12,18 * * *\"), or ask the platform team to raise `schedules.max_per_app`",
        ));
    }
    let now = chrono::Utc::now();
    manifest
        .schedule
        .iter()
        .enumerate()
        .map(|(i, s)| {
            crate::schedule::parse_checked(&s.cron, rules, now)
                .map(|cron| crate::schedule::Schedule {
                    text: s.cron.clone(),
                    cron,
                    input: s.input.clone().into_bytes(),
                })
                .map_err(|p| {
                    ConfigError::invalid(
                        manifest_path,
                        format!("schedule[{i}].cron"),
                        p,
                        "write a pattern that fires, no more often than `schedules.min_interval` (see the cron table in README.md)",
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()
}

/// Limits: the manifest's over the platform's defaults, at most its
/// maximums.
fn resolve_limits(
    manifest: &AppManifest,
    platform: &PlatformConfig,
    manifest_path: &Path,
) -> Result<Limits, ConfigError> {
    let limits = manifest.limits.resolve(&platform.defaults);
    if let Some((field, value, max)) = limits.exceeding(&platform.maximums).first() {
        return Err(ConfigError::invalid(
            manifest_path,
            format!("limits.{field}"),
            format!("{value} is above the platform maximum of {max}"),
            format!(
                "lower `limits.{field}` to at most {max}, or ask the platform team to raise `maximums.{field}` in warden.toml"
            ),
        ));
    }
    Ok(limits)
}

/// The component file's bytes, once it is seen to be a component (not a
/// core module, not something else).
fn read_component(manifest_path: &Path, component_path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(component_path).map_err(|e| {
        ConfigError::invalid(
            manifest_path,
            "app.component",
            format!("cannot read {}: {e}", component_path.display()),
            FIX_BUILD,
        )
    })?;
    match binary_kind(&bytes) {
        BinaryKind::Component => Ok(bytes),
        BinaryKind::CoreModule => Err(ConfigError::invalid(
            manifest_path,
            "app.component",
            format!(
                "{} is a core WebAssembly module, not a component",
                component_path.display()
            ),
            "build for the wasm32-wasip2 target (which produces a component), or wrap the module with `wasm-tools component new`",
        )),
        BinaryKind::NotWasm => Err(ConfigError::invalid(
            manifest_path,
            "app.component",
            format!("{} is not a WebAssembly file", component_path.display()),
            FIX_BUILD,
        )),
    }
}

/// The component compiled (or taken from the artifact cache), linked, and
/// its entry point chosen. Returns the entry, its world and where the
/// artifact came from.
fn compile_entry(
    cx: &LoadContext<'_>,
    app: &CheckedApp,
) -> Result<(Entry, World, ArtifactSource), ConfigError> {
    let LoadContext {
        engine,
        linker,
        cache,
        ..
    } = *cx;
    let (manifest, manifest_path, component_path, bytes) = (
        &app.manifest,
        app.manifest_path.as_path(),
        app.component_path.as_path(),
        &app.bytes,
    );
    let (component, artifact) = cache.load(engine, bytes, &app.digest).map_err(|e| {
        // A big component (a Python or JavaScript interpreter is 10-20
        // MiB) on a busy machine can outlast the budget: that is the
        // platform's setting to change, not the build.
        let fix = if e.downcast_ref::<crate::compile::OverBudget>().is_some() {
            FIX_COMPILE_BUDGET
        } else {
            FIX_BUILD
        };
        ConfigError::invalid(
            manifest_path,
            "app.component",
            format!("{} does not compile: {e:#}", component_path.display()),
            fix,
        )
    })?;
    if let Some(version) = World::outdated_warden_host(engine, &component) {
        return Err(ConfigError::invalid(
            manifest_path,
            "app.component",
            format!(
                "{} was built against warden:host@{version}, which this Warden no longer serves (warden:host@0.2.0 reports refusals as typed denials)",
                component_path.display()
            ),
            "rebuild it with the current SDK (sdk/, warden:host@0.2.0); the code needs no change unless it matches on connector or storage error variants",
        ));
    }
    let pre = linker.instantiate_pre(&component).map_err(|e| {
        ConfigError::invalid(
            manifest_path,
            "app.component",
            format!(
                "{} needs something Warden does not provide: {e:#}",
                component_path.display()
            ),
            "import only WASI 0.2 and warden:host interfaces (see host-apis/wit); remove the import or ask the platform team for a capability",
        )
    })?;
    let world = World::choose(
        &World::offered(engine, &component),
        manifest.app.world,
        manifest.http.is_some(),
    )
    .map_err(|unchosen| entry_unchosen(manifest_path, component_path, unchosen))?;
    let entry_error = |e: wasmtime::Error| {
        ConfigError::invalid(
            manifest_path,
            "app.component",
            format!("its {world} export does not match: {e:#}"),
            format!("rebuild against the WIT Warden ships; the component must {WORLDS}"),
        )
    };
    let entry = match world {
        World::App => Entry::App(AppPre::new(pre).map_err(entry_error)?),
        World::Command => Entry::Command(CommandPre::new(pre).map_err(entry_error)?),
        World::HttpProxy => Entry::HttpProxy(ProxyPre::new(pre).map_err(entry_error)?),
    };
    Ok((entry, world, artifact))
}

/// The load error for a component whose entry point cannot be picked:
/// what it exports and the field that chooses.
fn entry_unchosen(manifest_path: &Path, component_path: &Path, unchosen: Unchosen) -> ConfigError {
    let list = |worlds: &[World]| {
        worlds
            .iter()
            .map(|w| format!("`{}` ({w})", w.export()))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    match unchosen {
        Unchosen::None => ConfigError::invalid(
            manifest_path,
            "app.component",
            format!(
                "{} has no entry point Warden can call",
                component_path.display()
            ),
            format!("the component must {WORLDS}"),
        ),
        Unchosen::NotExported { chosen, offered } => ConfigError::invalid(
            manifest_path,
            "app.world",
            format!(
                "`{chosen}` is chosen but {} does not export `{}`; it exports {}",
                component_path.display(),
                chosen.export(),
                if offered.is_empty() {
                    "no entry point".to_string()
                } else {
                    list(&offered)
                }
            ),
            "set `app.world` to a world the component exports, or rebuild the component",
        ),
        Unchosen::Ambiguous(offered) => ConfigError::invalid(
            manifest_path,
            "app.world",
            format!(
                "{} exports {}, and the manifest does not say which to run",
                component_path.display(),
                list(&offered)
            ),
            format!(
                "set `world = \"{}\"` under [app]{}",
                offered
                    .iter()
                    .map(|w| w.as_str())
                    .collect::<Vec<_>>()
                    .join("\" or \""),
                if offered.contains(&World::HttpProxy) && !offered.contains(&World::App) {
                    ", or add `[http] route = \"/...\"` to serve it over HTTP"
                } else {
                    ""
                }
            ),
        ),
    }
}
