//! Data classes: how sensitive a piece of data is, in a total order.
//!
//! `public < internal < confidential < regulated`. A destination cleared
//! for class C may receive data of class C and below. The default for a
//! destination is `public`: clearing it for more is an explicit decision.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DataClass {
    #[default]
    Public,
    Internal,
    Confidential,
    Regulated,
}

impl DataClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Public => "public",
            DataClass::Internal => "internal",
            DataClass::Confidential => "confidential",
            DataClass::Regulated => "regulated",
        }
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_ordered_from_public_to_regulated() {
        assert!(DataClass::Public < DataClass::Internal);
        assert!(DataClass::Internal < DataClass::Confidential);
        assert!(DataClass::Confidential < DataClass::Regulated);
        assert_eq!(DataClass::default(), DataClass::Public);
    }
}

/// The data label of one invocation: the highest class it has read.
/// Shared between the capabilities of the invocation (storage raises it,
/// egress checks it); it only ever goes up.
#[derive(Debug, Clone, Default)]
pub struct Label(std::sync::Arc<std::sync::atomic::AtomicU8>);

impl Label {
    pub fn get(&self) -> DataClass {
        match self.0.load(std::sync::atomic::Ordering::Acquire) {
            0 => DataClass::Public,
            1 => DataClass::Internal,
            2 => DataClass::Confidential,
            _ => DataClass::Regulated,
        }
    }

    pub fn raise(&self, class: DataClass) {
        self.0
            .fetch_max(class as u8, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn a_label_only_goes_up() {
        let label = Label::default();
        assert_eq!(label.get(), DataClass::Public);
        label.raise(DataClass::Confidential);
        label.raise(DataClass::Internal);
        assert_eq!(label.get(), DataClass::Confidential);
        label.clone().raise(DataClass::Regulated);
        assert_eq!(label.get(), DataClass::Regulated);
    }
}
