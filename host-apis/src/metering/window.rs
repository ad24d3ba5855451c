//! UTC day and minute windows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    start: u64,
    length: u64,
}

impl Window {
    fn containing(at: SystemTime, length: u64) -> Window {
        let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Window {
            start: secs - secs % length,
            length,
        }
    }

    pub fn day_at(at: SystemTime) -> Window {
        Window::containing(at, 86_400)
    }

    pub fn day_now() -> Window {
        Window::day_at(SystemTime::now())
    }

    pub fn minute_now() -> Window {
        Window::containing(SystemTime::now(), 60)
    }

    /// A compact id for in-memory maps: start and kind in one number.
    pub fn id(&self) -> u64 {
        (self.start << 1) | u64::from(self.length == 86_400)
    }

    pub fn from_id(id: u64) -> Window {
        Window {
            start: id >> 1,
            length: if id & 1 == 1 { 86_400 } else { 60 },
        }
    }

    /// Stable key: `d:<start>` or `m:<start>` (Unix seconds).
    pub fn key(&self) -> String {
        let kind = if self.length == 86_400 { "d" } else { "m" };
        format!("{kind}:{}", self.start)
    }

    /// Whether the window holds the present moment.
    pub fn is_current(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        (self.start..self.start + self.length).contains(&now)
    }

    /// When the window ends, RFC 3339.
    pub fn resets_at(&self) -> String {
        let end = UNIX_EPOCH + Duration::from_secs(self.start + self.length);
        humantime::format_rfc3339_seconds(end).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_window_resets_at_the_next_utc_midnight() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_281_000); // 2025-11-27T22:03:20Z
        let day = Window::day_at(at);
        assert_eq!(day.resets_at(), "2025-11-28T00:00:00Z");
        assert_eq!(day.key(), "d:1764201600");
        assert_eq!(Window::from_id(day.id()), day);
        let minute = Window::minute_now();
        assert_eq!(Window::from_id(minute.id()), minute);
    }
}
