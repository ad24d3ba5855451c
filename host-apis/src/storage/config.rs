//! Storage settings: an app's buckets (`[[storage]]` in `app.toml`) and the
//! platform's per-class rules (`[storage]` in `warden.toml`).

use crate::classes::DataClass;
use crate::units::{Dur, Size};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One `[[storage]]` entry in `app.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketRequest {
    pub bucket: String,
    pub class: DataClass,
    /// Default expiry of values written without a TTL.
    pub ttl: Option<Dur>,
}

/// `[storage]` in `warden.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageRules {
    /// Largest single value.
    pub max_value_bytes: Size,
    /// Most keys one app may hold.
    pub max_keys: u64,
    /// Largest key.
    pub max_key_bytes: usize,
    /// How often `warden serve` purges expired values.
    pub purge_interval: Dur,
    pub classes: ClassRuleSpecs,
}

impl Default for StorageRules {
    fn default() -> Self {
        StorageRules {
            max_value_bytes: Size::mib(1),
            max_keys: 100_000,
            max_key_bytes: 512,
            purge_interval: Dur(Duration::from_secs(60)),
            classes: ClassRuleSpecs::default(),
        }
    }
}

/// What the platform sets per class; anything left out keeps the class's
/// built-in default (see [`ClassRule::builtin`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClassRuleSpecs {
    pub public: ClassRuleSpec,
    pub internal: ClassRuleSpec,
    pub confidential: ClassRuleSpec,
    pub regulated: ClassRuleSpec,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClassRuleSpec {
    pub max_ttl: Option<Dur>,
    pub encrypt: Option<bool>,
    pub approval: Option<bool>,
    /// Connectors that may receive data of this class (besides their own
    /// `max_class`); unset means any connector cleared for the class.
    pub connectors: Option<Vec<String>>,
}

/// The effective rule for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRule {
    pub max_ttl: Duration,
    pub encrypt: bool,
    pub approval: bool,
    pub connectors: Option<Vec<String>>,
}

const DAY: u64 = 86_400;

impl ClassRule {
    /// Safe defaults: the more sensitive the class, the shorter it is kept,
    /// confidential and regulated are encrypted, regulated needs approval.
    pub fn builtin(class: DataClass) -> ClassRule {
        let (days, encrypt, approval) = match class {
            DataClass::Public => (365, false, false),
            DataClass::Internal => (90, false, false),
            DataClass::Confidential => (30, true, false),
            DataClass::Regulated => (7, true, true),
        };
        ClassRule {
            max_ttl: Duration::from_secs(days * DAY),
            encrypt,
            approval,
            connectors: None,
        }
    }
}

impl StorageRules {
    /// These rules as they apply to an app a reviewer approved: classes
    /// that need approval are open to it; everything else is unchanged.
    pub fn approved(&self) -> StorageRules {
        let mut rules = self.clone();
        for spec in [
            &mut rules.classes.public,
            &mut rules.classes.internal,
            &mut rules.classes.confidential,
            &mut rules.classes.regulated,
        ] {
            spec.approval = Some(false);
        }
        rules
    }

    pub fn rule(&self, class: DataClass) -> ClassRule {
        let spec = match class {
            DataClass::Public => &self.classes.public,
            DataClass::Internal => &self.classes.internal,
            DataClass::Confidential => &self.classes.confidential,
            DataClass::Regulated => &self.classes.regulated,
        };
        let base = ClassRule::builtin(class);
        ClassRule {
            max_ttl: spec.max_ttl.map(|d| d.get()).unwrap_or(base.max_ttl),
            encrypt: spec.encrypt.unwrap_or(base.encrypt),
            approval: spec.approval.unwrap_or(base.approval),
            connectors: spec.connectors.clone().or(base.connectors),
        }
    }
}
