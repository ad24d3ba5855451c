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
