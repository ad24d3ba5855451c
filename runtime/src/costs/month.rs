//! Calendar months in UTC, the period budgets and reports are kept in.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar month, UTC: `2026-12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    /// 1..=12.
    month: u32,
}

impl Month {
    /// The month holding `at`.
    pub fn of(at: SystemTime) -> Month {
        let secs = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let date = Utc
            .timestamp_opt(secs, 0)
            .single()
            .map(|t| t.date_naive())
            .unwrap_or_default();
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The month now.
    pub fn current() -> Month {
        Month::of(SystemTime::now())
    }

    /// Parses `YYYY-MM`.
    ///
    /// # Errors
    /// What is wrong with `text`, and the form to use.
    pub fn parse(text: &str) -> Result<Month, String> {
        let bad = || format!("`{text}` is not a month; write it as YYYY-MM, e.g. 2026-12");
        let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || year < 1970 {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Where the month starts and the next begins, Unix seconds.
    pub fn bounds(self) -> (u64, u64) {
        let start = |m: Month| {
            m.first_day()
                .and_hms_opt(0, 0, 0)
                .map_or(0, |t| t.and_utc().timestamp().max(0) as u64)
        };
        (start(self), start(self.next()))
    }

    /// When the next month begins, RFC 3339.
    pub fn ends_at(self) -> String {
        humantime::format_rfc3339_seconds(
            UNIX_EPOCH + std::time::Duration::from_secs(self.bounds().1),
        )
        .to_string()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Where the UTC day holding `at` starts, Unix seconds.
pub fn day_start(at: SystemTime) -> u64 {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    secs - secs % 86_400
}

/// The UTC date (`2026-12-01`) of a day that starts at `secs`.
pub fn date_of(secs: u64) -> String {
    Utc.timestamp_opt(i64::try_from(secs).unwrap_or(0), 0)
        .single()
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_bound_in_utc() {
        let december = Month::parse("2026-12").expect("parses");
        assert_eq!(december.to_string(), "2026-12");
        // 2026-12-01T00:00:00Z and 2027-01-01T00:00:00Z.
        assert_eq!(december.bounds(), (1_796_083_200, 1_798_761_600));
        assert_eq!(december.ends_at(), "2027-01-01T00:00:00Z");
        assert_eq!(
            Month::of(UNIX_EPOCH + std::time::Duration::from_secs(1_798_761_599)),
            december
        );
        assert_eq!(date_of(1_796_083_200), "2026-12-01");
        let february = Month::parse("2028-02").expect("parses");
        assert_eq!(february.bounds().1 - february.bounds().0, 29 * 86_400);
    }

    #[test]
    fn anything_but_yyyy_mm_is_refused_with_the_form() {
        for bad in ["2026-13", "2026-1", "26-12", "december", "2026-00", ""] {
            let e = Month::parse(bad).expect_err(bad);
            assert!(e.contains("YYYY-MM"), "{e}");
        }
    }
}
