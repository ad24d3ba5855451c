//! Quota limits and the pure decisions over counters.

use super::Counters;
use super::window::Window;
use crate::units::Size;
use serde::{Deserialize, Serialize};

/// `[quota]` in `app.toml` (the parts enforced today).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuotaRequest {
    /// Bytes sent plus received per day, all destinations.
    pub egress_bytes: Option<Size>,
    /// Outbound calls per day (connectors and hosts).
    pub connector_calls: Option<u64>,
    /// Invocations per minute.
    pub requests_per_minute: Option<u64>,
    /// Bytes of keys and values the app may keep in storage.
    pub storage_bytes: Option<Size>,
}

/// Effective quotas of an app. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    pub egress_bytes: Option<u64>,
    pub connector_calls: Option<u64>,
    pub requests_per_minute: Option<u64>,
    /// Where each limit came from, for a refusal that says whom to ask.
    pub sources: QuotaSources,
}

/// Who set a quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaSource {
    /// `quota.NAME` in the app's manifest.
    #[default]
    App,
    /// The platform's `quotas.defaults.NAME`: the manifest left it out.
    PlatformDefault,
    /// The platform's `quotas.maximums.NAME`: the manifest left it out
    /// and no lower default applies.
    PlatformMaximum,
    /// An operator's override (`PUT /v1/apps/{app}/quota`).
    Override,
}

impl QuotaSource {
    /// Where `quota` is set, as a refusal names it.
    pub fn where_set(self, quota: &str) -> String {
        match self {
            QuotaSource::App => format!("`quota.{quota}` in app.toml"),
            QuotaSource::PlatformDefault => {
                format!("the platform's default `quotas.defaults.{quota}` in warden.toml")
            }
            QuotaSource::PlatformMaximum => {
                format!("the platform's maximum `quotas.maximums.{quota}` in warden.toml")
            }
            QuotaSource::Override => format!(
                "an admin override of `{quota}` (PUT /v1/apps/APP/quota; `warden inspect` shows it)"
            ),
        }
    }
}

/// Where each quota of an app came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaSources {
    pub egress_bytes: QuotaSource,
    pub connector_calls: QuotaSource,
    pub requests_per_minute: QuotaSource,
    pub storage_bytes: QuotaSource,
}

impl QuotaSources {
    /// The sources of quotas resolved from `asked` (the manifest) under
    /// `rules` (as [`QuotaRules::resolve`] picks: a default below the
    /// maximum, else the maximum), with `over` (an operator's override) on
    /// top.
    pub fn of(
        asked: &QuotaRequest,
        over: Option<&QuotaRequest>,
        rules: &QuotaRules,
    ) -> QuotaSources {
        let over = over.cloned().unwrap_or_default();
        let pick = |field: fn(&QuotaRequest) -> Option<u64>| {
            if field(&over).is_some() {
                QuotaSource::Override
            } else if field(asked).is_some() {
                QuotaSource::App
            } else {
                match (field(&rules.defaults), field(&rules.maximums)) {
                    (Some(d), Some(m)) if d < m => QuotaSource::PlatformDefault,
                    (_, Some(_)) => QuotaSource::PlatformMaximum,
                    _ => QuotaSource::PlatformDefault,
                }
            }
        };
        QuotaSources {
            egress_bytes: pick(|q| q.egress_bytes.map(|s| s.bytes())),
            connector_calls: pick(|q| q.connector_calls),
            requests_per_minute: pick(|q| q.requests_per_minute),
            storage_bytes: pick(|q| q.storage_bytes.map(|s| s.bytes())),
        }
    }
}

impl QuotaRequest {
    /// This request with every field `over` sets replaced by it: how an
    /// operator's override applies on top of the manifest.
    pub fn overlay(&self, over: &QuotaRequest) -> QuotaRequest {
        QuotaRequest {
            egress_bytes: over.egress_bytes.or(self.egress_bytes),
            connector_calls: over.connector_calls.or(self.connector_calls),
            requests_per_minute: over.requests_per_minute.or(self.requests_per_minute),
            storage_bytes: over.storage_bytes.or(self.storage_bytes),
        }
    }

    /// The limits, each set where `sources` says.
    pub fn limits(&self, sources: QuotaSources) -> QuotaLimits {
        QuotaLimits {
            egress_bytes: self.egress_bytes.map(|s| s.bytes()),
            connector_calls: self.connector_calls,
            requests_per_minute: self.requests_per_minute,
            sources,
        }
    }
}

/// `[quotas]` in `warden.toml`: what an app gets for a quota its manifest
/// leaves out, and the most it may ask for. Built in: 50 MiB of storage by
/// default and 1 GiB at most, since stored bytes stay on the host's disk
/// until their TTL; the other quotas are unlimited unless the platform
/// sets them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaRules {
    pub defaults: QuotaRequest,
    pub maximums: QuotaRequest,
}

impl Default for QuotaRules {
    fn default() -> Self {
        QuotaRules {
            defaults: QuotaRequest {
                storage_bytes: Some(Size::mib(50)),
                ..QuotaRequest::default()
            },
            maximums: QuotaRequest {
                storage_bytes: Some(Size::mib(1024)),
                ..QuotaRequest::default()
            },
        }
    }
}

/// A quota asked for above the platform's maximum: field, asked, maximum.
pub type OverMaximum = (&'static str, String, String);

impl QuotaRules {
    /// The app's quotas: each field its own, else the platform default;
    /// an asked value above the maximum is refused. (A default above the
    /// maximum is lowered to it.)
    pub fn resolve(&self, asked: &QuotaRequest) -> Result<QuotaRequest, OverMaximum> {
        fn one<T: Copy + PartialOrd + ToString>(
            field: &'static str,
            asked: Option<T>,
            default: Option<T>,
            max: Option<T>,
        ) -> Result<Option<T>, OverMaximum> {
            match (asked, max) {
                (Some(a), Some(m)) if a > m => Err((field, a.to_string(), m.to_string())),
                (Some(a), _) => Ok(Some(a)),
                (None, Some(m)) => Ok(Some(match default {
                    Some(d) if d < m => d,
                    _ => m,
                })),
                (None, None) => Ok(default),
            }
        }
        let (d, m) = (&self.defaults, &self.maximums);
        Ok(QuotaRequest {
            egress_bytes: one(
                "egress_bytes",
                asked.egress_bytes,
                d.egress_bytes,
                m.egress_bytes,
            )?,
            connector_calls: one(
                "connector_calls",
                asked.connector_calls,
                d.connector_calls,
                m.connector_calls,
            )?,
            requests_per_minute: one(
                "requests_per_minute",
                asked.requests_per_minute,
                d.requests_per_minute,
                m.requests_per_minute,
            )?,
            storage_bytes: one(
                "storage_bytes",
                asked.storage_bytes,
                d.storage_bytes,
                m.storage_bytes,
            )?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error(
    "quota `{quota}` exhausted: used {used} of {limit}; resets at {resets_at} (set by {})",
    set_by.where_set(quota)
)]
pub struct QuotaExceeded {
    pub quota: &'static str,
    pub used: u64,
    pub limit: u64,
    pub resets_at: String,
    /// Who set the limit.
    pub set_by: QuotaSource,
}

pub(super) fn check_call(
    limits: &QuotaLimits,
    today: &Counters,
    bytes_out: u64,
    day: &Window,
) -> Result<(), QuotaExceeded> {
    if let Some(limit) = limits.connector_calls
        && today.calls >= limit
    {
        return Err(QuotaExceeded {
            quota: "connector_calls",
            used: today.calls,
            limit,
            resets_at: day.resets_at(),
            set_by: limits.sources.connector_calls,
        });
    }
    if let Some(limit) = limits.egress_bytes {
        let used = today.bytes_out + today.bytes_in;
        if used + bytes_out > limit {
            return Err(QuotaExceeded {
                quota: "egress_bytes",
                used,
                limit,
                resets_at: day.resets_at(),
                set_by: limits.sources.egress_bytes,
            });
        }
    }
    Ok(())
}

pub(super) fn check_invocation(
    limits: &QuotaLimits,
    minute: &Counters,
    window: &Window,
) -> Result<(), QuotaExceeded> {
    match limits.requests_per_minute {
        Some(limit) if minute.invocations >= limit => Err(QuotaExceeded {
            quota: "requests_per_minute",
            used: minute.invocations,
            limit,
            resets_at: window.resets_at(),
            set_by: limits.sources.requests_per_minute,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod source_tests {
    use super::*;

    #[test]
    fn a_refusal_names_who_set_the_limit() {
        let asked = QuotaRequest {
            requests_per_minute: Some(5),
            ..QuotaRequest::default()
        };
        let over = QuotaRequest {
            connector_calls: Some(0),
            ..QuotaRequest::default()
        };
        let rules = QuotaRules {
            maximums: QuotaRequest {
                egress_bytes: Some(Size::mib(10)),
                ..QuotaRules::default().maximums
            },
            ..QuotaRules::default()
        };
        let sources = QuotaSources::of(&asked, Some(&over), &rules);
        assert_eq!(sources.requests_per_minute, QuotaSource::App);
        assert_eq!(sources.connector_calls, QuotaSource::Override);
        assert_eq!(sources.egress_bytes, QuotaSource::PlatformMaximum);
        assert_eq!(sources.storage_bytes, QuotaSource::PlatformDefault);
        let limits = asked.overlay(&over).limits(sources);
        let err = check_call(&limits, &Counters::default(), 0, &Window::day_now())
            .expect_err("no calls allowed");
        let text = err.to_string();
        assert!(
            text.contains("an admin override of `connector_calls`"),
            "{text}"
        );
        let minute = Counters {
            invocations: 5,
            ..Counters::default()
        };
        let text = check_invocation(&limits, &minute, &Window::minute_now())
            .expect_err("over")
            .to_string();
        assert!(
            text.contains("`quota.requests_per_minute` in app.toml"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_gets_a_default_and_a_ceiling_when_the_manifest_says_nothing() {
        let rules = QuotaRules::default();
        let resolved = rules.resolve(&QuotaRequest::default());
        assert_eq!(resolved.map(|q| q.storage_bytes), Ok(Some(Size::mib(50))));
        let greedy = QuotaRequest {
            storage_bytes: Some(Size::mib(100 * 1024)),
            ..QuotaRequest::default()
        };
        let err = rules.resolve(&greedy).err();
        assert_eq!(err.map(|e| e.0), Some("storage_bytes"));
        let modest = QuotaRequest {
            storage_bytes: Some(Size::mib(200)),
            ..QuotaRequest::default()
        };
        assert_eq!(
            rules.resolve(&modest).map(|q| q.storage_bytes),
            Ok(Some(Size::mib(200)))
        );
    }

    #[test]
    fn a_maximum_without_a_default_becomes_the_default() {
        let rules = QuotaRules {
            defaults: QuotaRequest::default(),
            maximums: QuotaRequest {
                connector_calls: Some(100),
                ..QuotaRequest::default()
            },
        };
        let resolved = rules.resolve(&QuotaRequest::default());
        assert_eq!(
            resolved.map(|q| (q.connector_calls, q.egress_bytes)),
            Ok((Some(100), None))
        );
    }

    #[test]
    fn calls_are_refused_once_the_daily_count_is_reached() {
        let limits = QuotaLimits {
            connector_calls: Some(2),
            ..QuotaLimits::default()
        };
        let day = Window::day_now();
        let used = |calls| Counters {
            calls,
            ..Counters::default()
        };
        assert!(check_call(&limits, &used(1), 0, &day).is_ok());
        let err = check_call(&limits, &used(2), 0, &day).err();
        assert_eq!(
            err.as_ref().map(|e| (e.quota, e.used, e.limit)),
            Some(("connector_calls", 2, 2))
        );
        assert!(
            err.map(|e| e.to_string())
                .unwrap_or_default()
                .contains("resets at")
        );
    }

    #[test]
    fn a_call_that_would_cross_the_byte_budget_is_refused() {
        let limits = QuotaLimits {
            egress_bytes: Some(1000),
            ..QuotaLimits::default()
        };
        let day = Window::day_now();
        let used = Counters {
            bytes_out: 400,
            bytes_in: 500,
            ..Counters::default()
        };
        assert!(check_call(&limits, &used, 100, &day).is_ok());
        assert_eq!(
            check_call(&limits, &used, 101, &day).err().map(|e| e.quota),
            Some("egress_bytes")
        );
    }

    #[test]
    fn no_quota_means_no_limit() {
        let day = Window::day_now();
        let used = Counters {
            calls: u64::MAX / 2,
            ..Counters::default()
        };
        assert!(check_call(&QuotaLimits::default(), &used, 1 << 40, &day).is_ok());
        assert!(check_invocation(&QuotaLimits::default(), &used, &day).is_ok());
    }
}
