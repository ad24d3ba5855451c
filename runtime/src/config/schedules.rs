//! `[schedules]` in `warden.toml`.

/// `[schedules]` in `warden.toml`: how often and how many schedules an
/// app may have. The defaults follow Cloudflare Workers' cron triggers
/// (at most once a minute); a platform that wants second-level schedules
/// lowers `min_interval` on purpose.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleRules {
    /// Shortest time between two fire times of one pattern.
    pub min_interval: super::Dur,
    /// Most `[[schedule]]` entries one app may have.
    pub max_per_app: usize,
}

impl Default for ScheduleRules {
    fn default() -> Self {
        ScheduleRules {
            min_interval: super::Dur(std::time::Duration::from_secs(60)),
            max_per_app: 10,
        }
    }
}
