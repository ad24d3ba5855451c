//! Egress settings: the platform's network rules (`[egress]` in
//! `warden.toml`) and an app's plain-host requests (`[egress]` in
//! `app.toml`).

use crate::units::{Dur, Size};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[egress]` in `warden.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EgressRules {
    /// Non-public ranges apps may reach anyway (e.g. an internal API).
    /// Empty: loopback, private, link-local, metadata ... are all blocked.
    pub allow_cidrs: Vec<IpNet>,
    /// Time to establish TCP (and TLS).
    pub connect_timeout: Dur,
    /// Time from sending the request to the response head.
    pub first_byte_timeout: Dur,
    /// Time for the whole exchange, body included.
    pub total_timeout: Dur,
    /// Largest response body; longer responses are cut and fail.
    pub max_response_bytes: Size,
    /// Largest response head (status line and headers).
    pub max_header_bytes: Size,
    /// Largest request body an app may send.
    pub max_request_bytes: Size,
}

impl Default for EgressRules {
    fn default() -> Self {
        EgressRules {
            allow_cidrs: Vec::new(),
            connect_timeout: Dur(Duration::from_secs(5)),
            first_byte_timeout: Dur(Duration::from_secs(10)),
            total_timeout: Dur(Duration::from_secs(30)),
            max_response_bytes: Size::mib(10),
            max_header_bytes: Size::kib(64),
            max_request_bytes: Size::mib(10),
        }
    }
}

/// `[egress]` in `app.toml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EgressRequest {
    /// `scheme://host[:port]` entries; see [`super::hosts`].
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}
