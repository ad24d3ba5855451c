//! Usage counters in PostgreSQL: every node adds its deltas to the same
//! rows, so usage reports and the totals a meter reads when a window
//! starts add up across nodes. Rows are upserted in key order in one
//! transaction, so two nodes flushing at once never wait for each other
//! in a cycle. Quota units are leased from one row per app, quota and
//! window, under its row lock.

use super::{PgError, Postgres};
use std::sync::{Arc, LazyLock};
use warden_host_apis::metering::{
    COUNTER_NAMES, Counters, DayUsage, UsageBackend, UsageError, counter_columns, day_key_range,
    day_of_key,
};

pub struct PgUsage {
    pg: Arc<Postgres>,
}

impl PgUsage {
    pub fn new(pg: Arc<Postgres>) -> PgUsage {
        PgUsage { pg }
    }
}

fn backend(e: PgError) -> UsageError {
    UsageError::Backend(e.to_string())
}

fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn counted(n: i64) -> u64 {
    n.max(0) as u64
}

/// The statements naming every counter, built once from [`COUNTER_NAMES`].
static GET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM usage_counters WHERE app = $1 AND scope = $2 AND period = $3",
        counter_columns()
    )
});
/// Periods compare as bytes (`COLLATE "C"`), whatever the database's
/// collation: see [`day_key_range`].
static DAYS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT app, scope, period, {} FROM usage_counters
         WHERE period COLLATE \"C\" >= $1 AND period COLLATE \"C\" < $2",
        counter_columns()
    )
});
static ADD: LazyLock<String> = LazyLock::new(|| {
    let numbered: Vec<String> = (4..4 + COUNTER_NAMES.len())
        .map(|i| format!("${i}"))
        .collect();
    let sums: Vec<String> = COUNTER_NAMES
        .iter()
        .map(|c| format!("{c} = usage_counters.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO usage_counters (app, scope, period, {}) VALUES ($1, $2, $3, {})
         ON CONFLICT (app, scope, period) DO UPDATE SET {}",
        counter_columns(),
        numbered.join(", "),
        sums.join(", ")
    )
});

/// The counters of a row from column `first` on.
fn counters_at(row: &tokio_postgres::Row, first: usize) -> Counters {
    Counters::from_values(std::array::from_fn(|i| counted(row.get(first + i))))
}

#[async_trait::async_trait]
impl UsageBackend for PgUsage {
    async fn get(&self, app: &str, scope: &str, window: &str) -> Result<Counters, UsageError> {
        let (app, scope, window) = (app.to_owned(), scope.to_owned(), window.to_owned());
        self.pg
            .call(move |client| async move {
                let stmt = client.prepare_cached(&GET).await?;
                let row = client.query_opt(&stmt, &[&app, &scope, &window]).await?;
                Ok(row.map(|r| counters_at(&r, 0)).unwrap_or_default())
            })
            .await
            .map_err(backend)
    }

    /// Adds the batch once: its name is recorded in the same transaction,
    /// and a batch already recorded (sent again after a lost answer) adds
    /// nothing.
    async fn add_all(
        &self,
        app: &str,
        batch: &str,
        rows: &[((String, String), Counters)],
    ) -> Result<(), UsageError> {
        let (app, batch) = (app.to_owned(), batch.to_owned());
        let mut rows = rows.to_vec();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        self.pg
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                let new = tx
                    .execute(
                        "INSERT INTO usage_batches (batch) VALUES ($1) ON CONFLICT DO NOTHING",
                        &[&batch],
                    )
                    .await?;
                if new == 0 {
                    return Ok(());
                }
                tx.execute(
                    "DELETE FROM usage_batches WHERE added_at < now() - interval '1 day'",
                    &[],
                )
                .await?;
                let upsert = tx.prepare(&ADD).await?;
                for ((scope, window), c) in &rows {
                    let values = c.values().map(stored);
                    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                        vec![&app, scope, window];
                    params.extend(
                        values
                            .iter()
                            .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
                    );
                    tx.execute(&upsert, &params).await?;
                }
                tx.commit().await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn lease(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        limit: u64,
    ) -> Result<u64, UsageError> {
        let key = [app, quota, window].map(str::to_owned);
        self.pg
            .call(move |mut client| async move {
                let tx = client.transaction().await?;
                // The row is made if missing, then locked: nodes leasing
                // at once take turns, each seeing what the last handed out.
                tx.execute(
                    "INSERT INTO quota_leases (app, quota, period) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&key[0], &key[1], &key[2]],
                )
                .await?;
                let granted: i64 = tx
                    .query_one(
                        "SELECT granted FROM quota_leases WHERE app = $1 AND quota = $2 AND period = $3 FOR UPDATE",
                        &[&key[0], &key[1], &key[2]],
                    )
                    .await?
                    .get(0);
                let units = warden_host_apis::metering::lease_size(limit, counted(granted));
                // The windows before this one are over: their rows go.
                tx.execute(
                    "DELETE FROM quota_leases WHERE app = $1 AND quota = $2 AND period < $3",
                    &[&key[0], &key[1], &key[2]],
                )
                .await?;
                if units > 0 {
                    tx.execute(
                        "UPDATE quota_leases SET granted = granted + $4 WHERE app = $1 AND quota = $2 AND period = $3",
                        &[&key[0], &key[1], &key[2], &stored(units)],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(units)
            })
            .await
            .map_err(backend)
    }

    async fn give_back(
        &self,
        app: &str,
        quota: &str,
        window: &str,
        units: u64,
    ) -> Result<(), UsageError> {
        let key = [app, quota, window].map(str::to_owned);
        self.pg
            .call(move |client| async move {
                client
                    .execute(
                        "UPDATE quota_leases SET granted = GREATEST(0, granted - $4) WHERE app = $1 AND quota = $2 AND period = $3",
                        &[&key[0], &key[1], &key[2], &stored(units)],
                    )
                    .await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn days(&self, from: u64, to: u64) -> Result<Vec<DayUsage>, UsageError> {
        let (low, high) = day_key_range(from, to);
        self.pg
            .call(move |client| async move {
                let stmt = client.prepare_cached(&DAYS).await?;
                let rows = client.query(&stmt, &[&low, &high]).await?;
                Ok(rows
                    .iter()
                    .filter_map(|r| {
                        Some(DayUsage {
                            day: day_of_key(r.get(2))?,
                            app: r.get(0),
                            scope: r.get(1),
                            counters: counters_at(r, 3),
                        })
                    })
                    .collect())
            })
            .await
            .map_err(backend)
    }
}
