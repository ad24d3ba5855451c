//! SLO tallies every node shares: each node's per-app, per-10-second
//! counts and latency histogram in `slo_tallies`, so an objective's burn
//! rate is the cluster's, whichever node evaluates it.
//!
//! A node writes the whole of its own row for a bucket each time the
//! bucket grows (an upsert keyed by app, bucket and node), never a delta:
//! a write retried after an ambiguous commit, or repeated after an
//! outage, cannot count twice. Writes leave the span pipeline's thread at
//! once and are batched on the pool's runtime; a failed batch is kept and
//! retried every second, with what came meanwhile (newer values of a
//! bucket replace older ones), until the server answers. What waits when
//! the node stops is lost (telemetry, like the span store's last spans).
//! Reads sum every node's rows in the database (histograms element by
//! element), so a read costs one round trip whatever the number of nodes.

use super::{PgError, Postgres};
use crate::telemetry::tally::{Tally, TallySink, TallySource};
use crate::wait::Wait as _;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A bucket's rows are kept this long: the longest SLO window (24 h,
/// `warden inspect`) and a day more.
const KEEP_US: i64 = 2 * 86_400 * 1_000_000;

/// How long a failed write waits before it is tried again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The bucket width, as the span store keeps it.
const BUCKET_US: i64 = 10_000_000;

type Waiting = HashMap<(String, i64), Tally>;

/// Shared tallies, written under this node's id.
pub struct PgTallies {
    pg: Arc<Postgres>,
    node: String,
    waiting: Arc<Mutex<Waiting>>,
    writing: Arc<AtomicBool>,
}

/// This data directory's node id (`node.id`, random, made once): stable
/// across restarts, since the span store it tallies from is the
/// directory's.
///
/// # Errors
/// The file cannot be read or created.
pub fn node_id(data_dir: &Path) -> std::io::Result<String> {
    let bytes = crate::fsutil::read_or_create(&data_dir.join("node.id"), || {
        warden_host_apis::aead::random_key()
            .map(|k| hex::encode(&k[..16]).into_bytes())
            .map_err(std::io::Error::other)
    })?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_string())
}

impl PgTallies {
    /// Tallies for reading only (a node's admin API and SLO watcher).
    pub fn reader(pg: Arc<Postgres>) -> PgTallies {
        PgTallies::new(pg, String::new())
    }

    /// Tallies this node (`node`, see [`node_id`]) writes and reads.
    pub fn new(pg: Arc<Postgres>, node: String) -> PgTallies {
        PgTallies {
            pg,
            node,
            waiting: Arc::default(),
            writing: Arc::default(),
        }
    }

    /// Writes what waits, batch after batch, until nothing does; one
    /// writer at a time.
    fn write_waiting(&self) {
        if self.writing.swap(true, Ordering::SeqCst) {
            return;
        }
        let (pool, node) = (self.pg.pool(), self.node.clone());
        let (waiting, writing) = (self.waiting.clone(), self.writing.clone());
        self.pg.spawn(async move {
            loop {
                let batch: Waiting = std::mem::take(&mut *lock(&waiting));
                if batch.is_empty() {
                    writing.store(false, Ordering::SeqCst);
                    // A publish that came between the take and the flag
                    // found the writer busy: pick its rows up.
                    if lock(&waiting).is_empty() || writing.swap(true, Ordering::SeqCst) {
                        return;
                    }
                    continue;
                }
                if let Err(e) = upsert(&pool, &node, &batch).await {
                    tracing::warn!("SLO tallies not shared yet (retried in a second): {e}");
                    {
                        let mut waiting = lock(&waiting);
                        for (key, tally) in batch {
                            waiting.entry(key).or_insert(tally);
                        }
                    }
                    // The writer stays this task: it tries again, with
                    // whatever came meanwhile, until the server answers.
                    tokio::time::sleep(RETRY).await;
                }
            }
        });
    }
}

fn lock(waiting: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(|p| p.into_inner())
}

fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Replaces this node's rows for `batch`'s buckets, and drops rows past
/// [`KEEP_US`], in one transaction.
async fn upsert(
    pool: &deadpool_postgres::Pool,
    node: &str,
    batch: &Waiting,
) -> Result<(), PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let write = tx
        .prepare(
            "INSERT INTO slo_tallies (app, bucket, node, invocations, errors, histogram)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (app, bucket, node) DO UPDATE SET
               invocations = excluded.invocations, errors = excluded.errors, histogram = excluded.histogram",
        )
        .await?;
    for ((app, bucket), tally) in batch {
        let histogram: Vec<i64> = tally.histogram.iter().map(|n| stored(*n)).collect();
        tx.execute(
            &write,
            &[
                app,
                bucket,
                &node,
                &stored(tally.invocations),
                &stored(tally.errors),
                &histogram,
            ],
        )
        .await?;
    }
    // By the server's clock: a node whose clock runs ahead must not
    // take every node's current rows with it.
    tx.execute(
        "DELETE FROM slo_tallies WHERE bucket < floor(extract(epoch FROM now()) * 1000000 / $1::bigint)::bigint - $2::bigint",
        &[&BUCKET_US, &(KEEP_US / BUCKET_US)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

impl TallySink for PgTallies {
    fn publish(&self, merged: Vec<(String, i64, Tally)>) {
        if merged.is_empty() {
            return;
        }
        {
            let mut waiting = lock(&self.waiting);
            for (app, bucket, tally) in merged {
                waiting.insert((app, bucket), tally);
            }
        }
        self.write_waiting();
    }
}

impl TallySource for PgTallies {
    fn tally_since(&self, app: &str, since_us: i64) -> Result<Tally, String> {
        let (app, first) = (app.to_owned(), since_us.div_euclid(BUCKET_US));
        self.pg
            .call(move |client| async move {
                let row = client
                    .query_one(
                        "SELECT COALESCE(sum(invocations), 0)::bigint, COALESCE(sum(errors), 0)::bigint,
                                (SELECT array_agg(n ORDER BY i) FROM (
                                   SELECT i, sum(h)::bigint AS n
                                   FROM slo_tallies t, unnest(t.histogram) WITH ORDINALITY AS u(h, i)
                                   WHERE t.app = $1 AND t.bucket >= $2 GROUP BY i) per_bucket)
                         FROM slo_tallies WHERE app = $1 AND bucket >= $2",
                        &[&app, &first],
                    )
                    .await?;
                let histogram: Option<Vec<i64>> = row.get(2);
                Ok(Tally {
                    invocations: row.get::<_, i64>(0).max(0) as u64,
                    errors: row.get::<_, i64>(1).max(0) as u64,
                    histogram: histogram
                        .unwrap_or_default()
                        .into_iter()
                        .map(|n| n.max(0) as u64)
                        .collect(),
                })
            })
            .wait()
            .map_err(|e| e.to_string())
    }
}
