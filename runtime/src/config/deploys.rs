//! `[deploys]` in `warden.toml`: what one deploy may cost the host.
//!
//! | key                          | default | what it bounds                                           |
//! |------------------------------|---------|----------------------------------------------------------|
//! | `compile_timeout`            | 5m      | compiling one component (the deploy is refused past it)  |
//! | `max_parallel_compiles`      | 1       | components compiling at once; others wait their turn     |
//! | `max_concurrent`             | 4       | deploys in progress at once; more get 429                |
//! | `max_concurrent_per_creator` | 1       | deploys in progress of one caller; more get 429          |
//! | `keep_versions`              | 5       | versions per app whose files are kept besides the active and pending ones |

use super::units::Dur;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploySettings {
    pub compile_timeout: Dur,
    pub max_parallel_compiles: usize,
    pub max_concurrent: usize,
    pub max_concurrent_per_creator: usize,
    pub keep_versions: usize,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            // A Python or JavaScript component is 10-20 MiB of interpreter:
            // on a loaded two-core machine its first compile outlasted a
            // minute. Five still bound a compile bomb.
            compile_timeout: Dur(Duration::from_secs(300)),
            max_parallel_compiles: 1,
            max_concurrent: 4,
            max_concurrent_per_creator: 1,
            keep_versions: 5,
        }
    }
}

impl DeploySettings {
    /// The first setting that is zero (which would refuse every deploy).
    pub(crate) fn zero_field(&self) -> Option<&'static str> {
        [
            ("compile_timeout", self.compile_timeout.get().is_zero()),
            ("max_parallel_compiles", self.max_parallel_compiles == 0),
            ("max_concurrent", self.max_concurrent == 0),
            (
                "max_concurrent_per_creator",
                self.max_concurrent_per_creator == 0,
            ),
        ]
        .into_iter()
        .find(|(_, zero)| *zero)
        .map(|(field, _)| field)
    }
}
