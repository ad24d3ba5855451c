//! An app's risk tier, from what its manifest is granted: what decides how
//! often it is reviewed (`[lifecycle] review_every`).
//!
//! | tier | when |
//! |---|---|
//! | high | a bucket of confidential or regulated data; a connector scope that writes (a rule whose method is not GET, HEAD or OPTIONS), or one the catalog does not hold; plain egress to a host (no connector between) |
//! | medium | any connector; a bucket of internal data |
//! | low | the rest |
//!
//! The tier comes with the reasons that put the app there, so a reviewer
//! sees why it is due as often as it is.

use crate::config::{AppManifest, PlatformConfig};
use serde::Serialize;
use warden_host_apis::classes::DataClass;

/// How much an app could do wrong, for how often it is reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskTier {
    Low,
    Medium,
    High,
}

impl RiskTier {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Low => "low",
            RiskTier::Medium => "medium",
            RiskTier::High => "high",
        }
    }

    /// The longest this tier goes between periodic reviews.
    pub fn interval(
        self,
        settings: &crate::config::lifecycle::LifecycleSettings,
    ) -> std::time::Duration {
        let every = &settings.review_every;
        match self {
            RiskTier::Low => every.low.get(),
            RiskTier::Medium => every.medium.get(),
            RiskTier::High => every.high.get(),
        }
    }
}

/// The tier of `manifest` under `platform`'s catalog, and why.
pub fn tier(manifest: &AppManifest, platform: &PlatformConfig) -> (RiskTier, Vec<String>) {
    let mut high = Vec::new();
    let mut medium = Vec::new();
    for bucket in &manifest.storage {
        match bucket.class {
            DataClass::Confidential | DataClass::Regulated => high.push(format!(
                "bucket `{}` holds {} data",
                bucket.bucket, bucket.class
            )),
            DataClass::Internal => {
                medium.push(format!("bucket `{}` holds internal data", bucket.bucket))
            }
            DataClass::Public => {}
        }
    }
    for grant in &manifest.connectors {
        let Some(spec) = platform.connectors.iter().find(|c| c.name == grant.name) else {
            // What it could do is unknown here: held to the riskiest.
            high.push(format!("connector `{}` is not in the catalog", grant.name));
            continue;
        };
        for scope in &grant.scopes {
            match spec.scopes.get(scope) {
                None => high.push(format!(
                    "scope `{scope}` of connector `{}` is not in the catalog",
                    grant.name
                )),
                Some(rules) if rules.iter().any(|rule| writes(rule)) => high.push(format!(
                    "scope `{scope}` of connector `{}` writes",
                    grant.name
                )),
                Some(_) => {}
            }
        }
        medium.push(format!("uses connector `{}`", grant.name));
    }
    for host in &manifest.egress.allowed_hosts {
        high.push(format!(
            "sends to `{host}` directly (plain egress, no connector)"
        ));
    }
    if !high.is_empty() {
        (RiskTier::High, high)
    } else if !medium.is_empty() {
        (RiskTier::Medium, medium)
    } else {
        (
            RiskTier::Low,
            vec!["no connector, no egress, no stored data above public".into()],
        )
    }
}

/// Whether a scope rule (`"POST /contacts"`) may change data: any method
/// but GET, HEAD and OPTIONS, in any case (`*` included).
fn writes(rule: &str) -> bool {
    let method = rule
        .split_whitespace()
        .next()
        .unwrap_or("*")
        .to_ascii_uppercase();
    !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> PlatformConfig {
        toml::from_str(
            r#"
[[connectors]]
name = "crm"
base_url = "https://crm.example.com"
scopes = { read = ["GET /contacts/*"], write = ["GET /contacts/*", "POST /contacts"], lower = ["get /x"] }
"#,
        )
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn manifest(extra: &str) -> AppManifest {
        toml::from_str(&format!(
            "[app]\nname = \"a\"\nversion = \"1.0.0\"\ncomponent = \"a.wasm\"\n{extra}"
        ))
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn grants_decide_the_tier_and_say_why() {
        let p = platform();
        let cases = [
            ("", RiskTier::Low, "no connector"),
            (
                "[[storage]]\nbucket = \"b\"\nclass = \"public\"\n",
                RiskTier::Low,
                "no connector",
            ),
            (
                "[[storage]]\nbucket = \"b\"\nclass = \"internal\"\n",
                RiskTier::Medium,
                "bucket `b` holds internal data",
            ),
            (
                "[[connectors]]\nname = \"crm\"\nscopes = [\"read\"]\n",
                RiskTier::Medium,
                "uses connector `crm`",
            ),
            (
                "[[connectors]]\nname = \"crm\"\nscopes = [\"write\"]\n",
                RiskTier::High,
                "scope `write` of connector `crm` writes",
            ),
            (
                "[[connectors]]\nname = \"crm\"\nscopes = [\"lower\"]\n",
                RiskTier::Medium,
                "uses connector `crm`",
            ),
            (
                "[[connectors]]\nname = \"erp\"\nscopes = [\"read\"]\n",
                RiskTier::High,
                "connector `erp` is not in the catalog",
            ),
            (
                "[[connectors]]\nname = \"crm\"\nscopes = [\"admin\"]\n",
                RiskTier::High,
                "scope `admin` of connector `crm` is not in the catalog",
            ),
            (
                "[[storage]]\nbucket = \"hr\"\nclass = \"regulated\"\n",
                RiskTier::High,
                "bucket `hr` holds regulated data",
            ),
            (
                "[egress]\nallowed_hosts = [\"https://api.example.com\"]\n",
                RiskTier::High,
                "sends to `https://api.example.com`",
            ),
        ];
        for (extra, expected, why) in cases {
            let (tier, reasons) = tier(&manifest(extra), &p);
            assert_eq!(tier, expected, "{extra}");
            assert!(
                reasons.iter().any(|r| r.contains(why)),
                "{extra}: {reasons:?}"
            );
        }
    }
}
