//! Periodic reviews in the embedded registry (`app_reviews` in
//! `registry.db`): who looked at an app again, when, at which version and
//! tier, and what they said (see `crate::lifecycle`).

use super::RegistryDb;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One periodic review of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodicReview {
    pub app: String,
    /// The version live when it was reviewed.
    pub version: String,
    /// The app's risk tier then (`low`, `medium`, `high`).
    pub tier: String,
    /// Who reviewed it (a principal's name).
    pub reviewer: String,
    pub note: String,
    /// RFC 3339, UTC.
    pub at: String,
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS app_reviews (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  app TEXT NOT NULL, version TEXT NOT NULL, tier TEXT NOT NULL,
  reviewer TEXT NOT NULL, note TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS app_reviews_app ON app_reviews(app, seq);
";

impl RegistryDb {
    pub(crate) fn record_review(&self, review: &PeriodicReview) -> rusqlite::Result<()> {
        self.conn()?.execute(
            "INSERT INTO app_reviews (app, version, tier, reviewer, note, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![review.app, review.version, review.tier, review.reviewer, review.note, review.at],
        )?;
        Ok(())
    }

    /// Each app's latest periodic review.
    pub(crate) fn last_reviews(&self) -> rusqlite::Result<BTreeMap<String, PeriodicReview>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT app, version, tier, reviewer, note, at FROM app_reviews
             WHERE seq IN (SELECT max(seq) FROM app_reviews GROUP BY app)",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PeriodicReview {
                app: r.get(0)?,
                version: r.get(1)?,
                tier: r.get(2)?,
                reviewer: r.get(3)?,
                note: r.get(4)?,
                at: r.get(5)?,
            })
        })?;
        rows.map(|r| r.map(|review| (review.app.clone(), review)))
            .collect()
    }
}
