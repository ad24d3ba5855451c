//! The seam every governed capability plugs into.
//!
//! A capability is something a guest may import (`warden:host/connectors`,
//! `wasi:keyvalue`, `wasi:config`, …) together with the rules that govern
//! it. Each one goes through the same four phases, modelled on Spin's
//! factors (`crates/factors/src/factor.rs`) without their generic
//! machinery:
//!
//! | phase     | when                       | what                                            |
//! |-----------|----------------------------|-------------------------------------------------|
//! | *link*    | once per host              | add its WIT to the linker                       |
//! | *grant*   | at load and deploy         | check the app's request against the platform's rules; compile it |
//! | *state*   | per invocation             | build the store's state from the grant and the shared [`InvocationContext`] |
//! | *account* | after the call             | its spans, metric samples and usage fields      |
//!
//! Names follow one convention: `XRequest` is what `app.toml` asks for,
//! `XRules` what `warden.toml` allows, `XGrant` the compiled per-app
//! result, `XState` the per-invocation state. Everything that can be wrong
//! with a request is found by *grant*, with an error naming file, field and
//! fix; nothing is checked again per call.
//!
//! The capabilities a host has are listed once, in `crate::capabilities`;
//! the runtime, loading, the store's state, an invocation, the reviewer's
//! diff and the audited governance settings iterate over that list. Only
//! standard interfaces that need it name one: `wasi:http`'s hooks are the
//! egress state, and an HTTP answer reads the reply state.

use crate::app::LoadOptions;
use crate::config::{AppManifest, ConfigError, PlatformConfig};
use crate::host_state::HostState;
use crate::invoke::Usage;
use crate::telemetry::signals::CapabilitySample;
use opentelemetry::Context;
use opentelemetry_sdk::trace::SdkTracer;
use std::path::Path;
use std::sync::Arc;
use warden_host_apis::connectors::Connector;
use warden_host_apis::connectors::credentials::Credentials;
use warden_host_apis::dlp::Scanner;
pub use warden_host_apis::invocation::InvocationContext;
use warden_host_apis::log::LogRecord;
use warden_host_apis::metering::QuotaSources;
use warden_host_apis::secrets::MasterKey;
use warden_host_apis::storage::store::KvStore;
use wasmtime::component::Linker;

/// One governed capability. See the module documentation for the phases.
pub trait Capability: Sized + Send + Sync + 'static {
    /// The app's request, checked and compiled (`XGrant`); shared by all
    /// of the app's invocations.
    type Grant: Send + Sync + 'static;
    /// One invocation's state (`XState`), kept in the store.
    type State: Send + 'static;

    /// The host's instance, built once from the platform's configuration
    /// and the resources the host opened.
    fn new(host: &HostResources<'_>) -> anyhow::Result<Self>;

    /// Adds the capability's WIT interfaces to the host's linker. The
    /// store's state reaches this capability's part through [`Part`].
    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()>;

    /// Checks the app's request (`XRequest`, in `app.toml`) against the
    /// platform's rules (`XRules`, in `warden.toml`) and compiles it.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, the field and the fix.
    fn grant(&self, app: &GrantInput<'_>) -> Result<Self::Grant, ConfigError>;

    /// One invocation's state, from the app's grant and the context all
    /// capabilities share.
    fn state(grant: &Arc<Self::Grant>, invocation: &InvocationContext) -> Self::State;

    /// After the call: the capability's child spans, metric samples and
    /// usage fields. Most capabilities have nothing to add.
    fn account(_state: &mut Self::State, _account: &mut Account<'_>) {}

    /// What a reviewer compares between two versions of an app: the
    /// request as a named JSON value (see `registry::compare`). `None`
    /// when the capability's request is already shown there.
    fn review_view(_manifest: &AppManifest) -> Option<(&'static str, serde_json::Value)> {
        None
    }

    /// The capability's platform rules as a named JSON value, part of the
    /// governance settings whose change is audited (`config.changed`).
    /// `None` when they are already part of that view.
    fn rules_view(_platform: &PlatformConfig) -> Option<(&'static str, serde_json::Value)> {
        None
    }
}

/// The store's state holds one part per capability; a capability's host
/// functions reach their part through this (the list implements it for
/// each capability's `State`).
pub trait Part<S> {
    fn part(&mut self) -> &mut S;
}

/// What the host opened that capabilities draw on, lent to
/// [`Capability::new`].
pub struct HostResources<'a> {
    pub platform: &'a PlatformConfig,
    /// The compiled connector catalog.
    pub catalog: &'a [Arc<Connector>],
    /// The secret store's credentials, injected by the host.
    pub credentials: &'a Arc<Credentials>,
    /// The storage backend.
    pub storage: &'a Arc<dyn KvStore>,
    /// The master key, resolved on first call; `None` if it cannot be had
    /// (the error is reported where encryption needs it).
    pub master_key: &'a Arc<dyn Fn() -> Option<MasterKey> + Send + Sync>,
    pub dlp: &'a Arc<Scanner>,
}

/// What *grant* sees of the app being loaded.
pub struct GrantInput<'a> {
    /// The manifest, with quotas already resolved against the platform.
    pub manifest: &'a AppManifest,
    /// Where the manifest is, for errors.
    pub path: &'a Path,
    pub platform: &'a PlatformConfig,
    /// Review state and operator overrides.
    pub options: &'a LoadOptions,
    /// Who set each of the app's quotas.
    pub quota: QuotaSources,
}

impl GrantInput<'_> {
    /// An error against the app's manifest.
    pub fn invalid(
        &self,
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError::invalid(self.path, field, problem, fix)
    }
}

/// What *account* writes into, after the call.
pub struct Account<'a> {
    pub tracer: &'a SdkTracer,
    /// The invocation's span, parent of capability spans.
    pub span: &'a Context,
    /// The invocation's usage; capabilities fill their own fields.
    pub usage: &'a mut Usage,
    /// The guest's log records, for the report and the logs pipeline.
    pub logs: &'a mut Vec<LogRecord>,
    /// The invocation's metric sample: capabilities add their calls.
    pub metrics: &'a mut CapabilitySample,
}

/// Inserts each named view into `view`, when it is a JSON object.
pub(crate) fn add_views(
    view: &mut serde_json::Value,
    views: impl IntoIterator<Item = Option<(&'static str, serde_json::Value)>>,
) {
    if let serde_json::Value::Object(map) = view {
        for (name, value) in views.into_iter().flatten() {
            map.insert(name.to_string(), value);
        }
    }
}

/// Lists a host's capabilities: one `field: Type` line each. Generates the
/// host's instances ([`Capabilities`]), an app's grants (`Grants`), an
/// invocation's states (`States`), the [`Part`] accessors, and the loops
/// over all of them for each phase.
macro_rules! capabilities {
    ($($(#[doc = $doc:literal])* $field:ident: $cap:ty,)*) => {
        /// The host's capabilities, one field each.
        pub struct Capabilities {
            $($(#[doc = $doc])* pub $field: $cap,)*
        }

        /// An app's grants, one per capability.
        pub struct Grants {
            $(pub $field: std::sync::Arc<<$cap as $crate::capability::Capability>::Grant>,)*
        }

        /// One invocation's state, one part per capability.
        pub struct States {
            $(pub $field: <$cap as $crate::capability::Capability>::State,)*
        }

        $(impl $crate::capability::Part<<$cap as $crate::capability::Capability>::State>
            for $crate::host_state::HostState
        {
            fn part(&mut self) -> &mut <$cap as $crate::capability::Capability>::State {
                &mut self.caps.$field
            }
        })*

        impl Capabilities {
            /// Builds each capability from the host's resources.
            pub fn new(host: &$crate::capability::HostResources<'_>) -> anyhow::Result<Self> {
                use $crate::capability::Capability;
                Ok(Capabilities { $($field: <$cap>::new(host)?,)* })
            }

            /// Links every capability's WIT.
            pub fn link(
                linker: &mut wasmtime::component::Linker<$crate::host_state::HostState>,
            ) -> wasmtime::Result<()> {
                use $crate::capability::Capability;
                $(<$cap>::link(linker)?;)*
                Ok(())
            }

            /// Grants the app each capability it asks for, or names the
            /// first request the platform refuses.
            pub fn grant(
                &self,
                app: &$crate::capability::GrantInput<'_>,
            ) -> Result<Grants, $crate::config::ConfigError> {
                use $crate::capability::Capability;
                Ok(Grants { $($field: std::sync::Arc::new(self.$field.grant(app)?),)* })
            }
        }

        impl Capabilities {
            /// Adds each capability's part of what a reviewer compares to
            /// `view` (a JSON object).
            pub fn add_review_views(
                manifest: &$crate::config::AppManifest,
                view: &mut serde_json::Value,
            ) {
                use $crate::capability::Capability;
                $crate::capability::add_views(view, [$(<$cap>::review_view(manifest),)*]);
            }

            /// Adds each capability's part of the audited governance
            /// settings to `view` (a JSON object).
            pub fn add_rules_views(
                platform: &$crate::config::PlatformConfig,
                view: &mut serde_json::Value,
            ) {
                use $crate::capability::Capability;
                $crate::capability::add_views(view, [$(<$cap>::rules_view(platform),)*]);
            }
        }

        impl Grants {
            /// One invocation's states.
            pub fn states(&self, invocation: &$crate::capability::InvocationContext) -> States {
                use $crate::capability::Capability;
                States { $($field: <$cap>::state(&self.$field, invocation),)* }
            }
        }

        impl States {
            /// Accounts every capability's part of the invocation.
            pub fn account(&mut self, account: &mut $crate::capability::Account<'_>) {
                use $crate::capability::Capability;
                $(<$cap>::account(&mut self.$field, account);)*
            }
        }
    };
}
pub(crate) use capabilities;
