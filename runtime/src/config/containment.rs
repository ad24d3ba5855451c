//! `[containment]` in `warden.toml`: rules that kill a misbehaving app
//! automatically (see `crate::containment`). Every rule is off unless set.

use serde::{Deserialize, Serialize};
use warden_host_apis::units::Size;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ContainmentRules {
    pub max_denials_per_minute: Option<u64>,
    pub max_dlp_blocks_per_minute: Option<u64>,
    pub max_egress_bytes_per_minute: Option<Size>,
    pub kill_on_secret_in_output: bool,
    /// Kill an app whose egress departs from its learned baseline
    /// (`[anomaly]`): its kill drops its OAuth tokens and withholds its
    /// credentials. Without it an anomaly is alerted only.
    pub contain_anomalies: bool,
    /// Where alerts are posted (JSON), e.g. a chat or paging hook.
    pub alert_webhook: Option<String>,
}

impl ContainmentRules {
    /// Whether any rule is set (none: nothing to check per invocation).
    pub fn any(&self) -> bool {
        self.max_denials_per_minute.is_some()
            || self.max_dlp_blocks_per_minute.is_some()
            || self.max_egress_bytes_per_minute.is_some()
            || self.kill_on_secret_in_output
    }
}
