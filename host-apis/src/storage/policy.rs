//! Pure storage decisions: expiry, class flow, sizes.
//!
//! | rule                                   | decision                         |
//! |----------------------------------------|----------------------------------|
//! | expiry of a write                      | min(requested TTL, bucket TTL, class max TTL) |
//! | write into class B after reading class L, B < L | class-violation (data would be downgraded) |
//! | value over `max_value_bytes`           | too-large                        |
//! | key empty, over `max_key_bytes`, or with a NUL | too-large / invalid      |
//! | send to a connector after reading L    | allowed only if the connector's `max_class` >= L and the class rule lists it (when it lists any) |
//! | send to a plain allowed host after reading L > public | class-violation |

use crate::classes::DataClass;
use std::time::Duration;

/// The expiry a write gets: the smallest of what was asked for, the
/// bucket's default and the class's maximum. A value always expires.
pub fn effective_ttl(
    requested: Option<Duration>,
    bucket: Option<Duration>,
    class_max: Duration,
) -> Duration {
    [requested, bucket]
        .into_iter()
        .flatten()
        .fold(class_max, Duration::min)
}

/// May data labelled `label` be written into a bucket of class `bucket`?
pub fn may_write(label: DataClass, bucket: DataClass) -> bool {
    label <= bucket
}

/// May data labelled `label` go to a connector cleared up to `max_class`,
/// given the class rule's optional connector list?
pub fn may_send_to_connector(
    label: DataClass,
    max_class: DataClass,
    name: &str,
    listed: Option<&[String]>,
) -> bool {
    label <= max_class
        && (label == DataClass::Public || listed.is_none_or(|l| l.iter().any(|c| c == name)))
}

/// Plain allowed hosts are cleared for public data only.
pub fn may_send_to_host(label: DataClass) -> bool {
    label == DataClass::Public
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(3600);

    #[test]
    fn expiry_is_the_smallest_of_request_bucket_and_class() {
        assert_eq!(effective_ttl(Some(H * 5), Some(H), H * 24), H);
        assert_eq!(effective_ttl(Some(H), Some(H * 5), H * 24), H);
        assert_eq!(effective_ttl(None, None, H * 24), H * 24);
        assert_eq!(effective_ttl(Some(H * 48), None, H * 24), H * 24);
    }

    #[test]
    fn data_never_flows_into_a_lower_class_bucket() {
        assert!(may_write(DataClass::Internal, DataClass::Confidential));
        assert!(may_write(DataClass::Confidential, DataClass::Confidential));
        assert!(!may_write(DataClass::Confidential, DataClass::Internal));
        assert!(!may_write(DataClass::Regulated, DataClass::Public));
    }

    #[test]
    fn connectors_receive_only_what_they_are_cleared_for() {
        assert!(may_send_to_connector(
            DataClass::Internal,
            DataClass::Internal,
            "crm",
            None
        ));
        assert!(!may_send_to_connector(
            DataClass::Confidential,
            DataClass::Internal,
            "crm",
            None
        ));
        let listed = vec!["hr".to_string()];
        assert!(!may_send_to_connector(
            DataClass::Confidential,
            DataClass::Regulated,
            "crm",
            Some(&listed)
        ));
        assert!(may_send_to_connector(
            DataClass::Confidential,
            DataClass::Regulated,
            "hr",
            Some(&listed)
        ));
        assert!(may_send_to_host(DataClass::Public));
        assert!(!may_send_to_host(DataClass::Internal));
    }
}
