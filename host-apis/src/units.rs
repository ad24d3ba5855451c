//! Human-friendly sizes and durations, parsed once at load time.
//!
//! | written            | means                       |
//! |--------------------|-----------------------------|
//! | `65536` (integer)  | 65536 bytes                 |
//! | `"64MiB"`, `"64 MiB"` | 64 × 2^20 bytes          |
//! | `"100MB"`          | 100 × 10^6 bytes            |
//! | `"2s"`, `"1500ms"`, `"1h"`, `"1m 30s"` | durations |
//!
//! A size or duration that does not parse is an error that quotes the value
//! and shows an accepted form; nothing is guessed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A byte count, written as an integer or a string such as `"64MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

impl Size {
    pub fn bytes(self) -> u64 {
        self.0
    }

    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    pub const fn mib(n: u64) -> Size {
        Size(n * 1024 * 1024)
    }

    pub const fn kib(n: u64) -> Size {
        Size(n * 1024)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if let Ok(n) = trimmed.parse::<u64>() {
            return Ok(Size(n));
        }
        trimmed
            .parse::<bytesize::ByteSize>()
            .map(|b| Size(b.as_u64()))
            .map_err(|_| {
                format!("`{s}` is not a size; write it like \"64MiB\", \"512KiB\" or 1048576")
            })
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a size such as \"64MiB\" or a number of bytes")
        })? {
            Raw::Int(n) => Ok(Size(n)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A duration written as a string such as `"2s"` or `"250ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for Dur {
    /// As people write durations: whole days, hours, minutes, seconds and
    /// milliseconds, largest first (`90d`, `1h 30m`, `250ms`) — never
    /// humantime's 30.44-day months (`2months 29days 2h 52m 48s` for 90d).
    /// Below a millisecond, microseconds or nanoseconds. Parses back to
    /// the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u128); 5] = [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ];
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if !nanos.is_multiple_of(1_000_000) {
            return if nanos.is_multiple_of(1_000) {
                write!(f, "{}us", nanos / 1_000)
            } else {
                write!(f, "{nanos}ns")
            };
        }
        let mut left = nanos / 1_000_000;
        let mut parts = Vec::new();
        for (unit, size) in UNITS {
            if left >= size {
                parts.push(format!("{}{unit}", left / size));
                left %= size;
            }
        }
        f.write_str(&parts.join(" "))
    }
}

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim()).map(Dur).map_err(|_| {
            format!("`{s}` is not a duration; write it like \"2s\", \"250ms\" or \"1h\"")
        })
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a duration string such as \"2s\" or \"250ms\"")
        })?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// An amount of money in millionths of its currency, how the usage
/// counters add charges up exactly (`0.1 + 0.2` in floating point is not
/// `0.3`; 100 000 + 200 000 millionths is 300 000). Negative, NaN and
/// infinite amounts are 0: prices are checked when the config loads.
pub fn micros(amount: f64) -> u64 {
    if amount.is_finite() && amount > 0.0 {
        (amount * 1_000_000.0).round() as u64
    } else {
        0
    }
}

/// The amount `micros` millionths stand for.
pub fn from_micros(micros: u64) -> f64 {
    micros as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_shown_as_people_write_them_and_parse_back() {
        for (text, shown) in [
            ("90d", "90d"),
            ("1h 30m", "1h 30m"),
            ("90m", "1h 30m"),
            ("250ms", "250ms"),
            ("2s", "2s"),
            ("1m 30s", "1m 30s"),
            ("0s", "0s"),
            ("1500us", "1500us"),
            ("8h", "8h"),
        ] {
            let d: Dur = text.parse().unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(d.to_string(), shown, "{text}");
            assert_eq!(shown.parse::<Dur>().ok(), Some(d), "{shown} parses back");
        }
    }

    #[test]
    fn sizes_accept_binary_and_decimal_units_and_plain_bytes() {
        assert_eq!("64MiB".parse::<Size>(), Ok(Size::mib(64)));
        assert_eq!("64 MiB".parse::<Size>(), Ok(Size::mib(64)));
        assert_eq!("512KiB".parse::<Size>(), Ok(Size::kib(512)));
        assert_eq!("100MB".parse::<Size>(), Ok(Size(100_000_000)));
        assert_eq!("4096".parse::<Size>(), Ok(Size(4096)));
    }

    #[test]
    fn a_size_that_does_not_parse_says_what_to_write() {
        let err = "lots".parse::<Size>().unwrap_err();
        assert!(err.contains("`lots`") && err.contains("64MiB"), "{err}");
    }

    #[test]
    fn durations_accept_human_forms() {
        assert_eq!("2s".parse::<Dur>(), Ok(Dur(Duration::from_secs(2))));
        assert_eq!("250ms".parse::<Dur>(), Ok(Dur(Duration::from_millis(250))));
        assert_eq!("1m 30s".parse::<Dur>(), Ok(Dur(Duration::from_secs(90))));
        assert!("soon".parse::<Dur>().unwrap_err().contains("\"2s\""));
    }

    #[test]
    fn sizes_display_in_binary_units() {
        assert_eq!(Size::mib(64).to_string(), "64.0 MiB");
    }
}
