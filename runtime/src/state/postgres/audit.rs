//! The audit log in PostgreSQL: one hash chain that every node appends to.
//!
//! Appends from every node serialize on the head row's lock
//! (`SELECT … FOR UPDATE`): each takes the last sequence number and hash,
//! seals its entries after them and moves the head, in one transaction,
//! so the chain has no gap and no fork whatever the nodes do at once. On
//! each node appends are group-committed: a task drains every event
//! waiting at that moment and appends them in one transaction, so under
//! load one round trip carries many entries and audit writes do not limit
//! request throughput; an idle node commits one at once. An append returns
//! only after its transaction committed.
//!
//! Entries are stored as the exact JSON lines the file log holds, so
//! `warden audit verify` runs the same check on either: an edited,
//! dropped or reordered entry breaks the chain, and a cut tail disagrees
//! with the head.

use super::{PgError, Postgres};
use crate::audit::forward::Position;
use crate::audit::{AuditBackend, AuditEntry, AuditError, AuditEvent, VerifyReport};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most entries one transaction carries.
const BATCH: usize = 256;

type Reply = oneshot::Sender<Result<AuditEntry, AuditError>>;

/// The shared audit log.
pub struct PgAudit {
    pg: Arc<Postgres>,
    queue: mpsc::UnboundedSender<(AuditEvent, Reply)>,
    location: String,
}

fn backend(e: PgError) -> AuditError {
    AuditError::Backend(e.to_string())
}

impl PgAudit {
    /// The log in `pg`'s database; `location` names it in messages.
    pub fn new(pg: Arc<Postgres>, location: String) -> PgAudit {
        let (queue, waiting) = mpsc::unbounded_channel();
        // The committer holds the pool, not `pg`: it ends when the last
        // sender goes, and never drops the runtime it runs on.
        pg.spawn(commit_loop(pg.pool(), waiting));
        PgAudit {
            pg,
            queue,
            location,
        }
    }
}

/// Appends what is waiting, as many at a time as are there, until every
/// sender is gone.
async fn commit_loop(
    pool: deadpool_postgres::Pool,
    mut waiting: mpsc::UnboundedReceiver<(AuditEvent, Reply)>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while waiting.recv_many(&mut batch, BATCH).await > 0 {
        let (events, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        match append_all(&pool, events).await {
            Ok(entries) => {
                for (reply, entry) in replies.into_iter().zip(entries) {
                    let _ = reply.send(Ok(entry));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(AuditError::Backend(e.to_string())));
                }
            }
        }
    }
}

/// Seals `events` after the head, stores them and moves the head, in one
/// transaction.
async fn append_all(
    pool: &deadpool_postgres::Pool,
    events: Vec<AuditEvent>,
) -> Result<Vec<AuditEntry>, PgError> {
    let mut client = pool.get().await?;
    {
        let tx = client.transaction().await?;
        let head = tx
            .query_one(
                "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
        let (mut seq, mut prev): (i64, String) = (head.get(0), head.get(1));
        let insert = tx
            .prepare("INSERT INTO audit_log (seq, app, line) VALUES ($1, $2, $3)")
            .await?;
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            let entry = AuditEntry::seal(seq as u64 + 1, prev, event);
            let line = serde_json::to_string(&entry)
                .map_err(|e| PgError::Server(format!("an entry does not serialize: {e}")))?;
            seq = entry.seq as i64;
            prev = entry.hash.clone();
            tx.execute(&insert, &[&seq, &entry.app, &line]).await?;
            entries.push(entry);
        }
        tx.execute(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &[&seq, &prev],
        )
        .await?;
        tx.commit().await?;
        Ok(entries)
    }
}

#[async_trait::async_trait]
impl AuditBackend for PgAudit {
    async fn append(&self, event: AuditEvent) -> Result<AuditEntry, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((event, reply))
            .map_err(|_| AuditError::Interrupted("the audit committer stopped".into()))?;
        answer
            .await
            .map_err(|_| AuditError::Interrupted("the audit committer stopped".into()))?
    }

    async fn read(&self) -> Result<(Vec<AuditEntry>, VerifyReport), AuditError> {
        let (lines, head) = self
            .pg
            .call(|mut client| async move {
                // One snapshot for the lines and the head.
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await?;
                let lines: Vec<String> = tx
                    .query("SELECT line FROM audit_log ORDER BY seq", &[])
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let head = tx
                    .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
                    .await?;
                let head: (i64, String) = (head.get(0), head.get(1));
                tx.commit().await?;
                Ok((lines, head))
            })
            .await
            .map_err(backend)?;
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        let report = crate::audit::verify::verify(&text, Some((head.0.max(0) as u64, head.1)));
        Ok((crate::audit::parse_entries(&text), report))
    }

    async fn revision(&self) -> Result<u64, AuditError> {
        self.pg
            .call(|client| async move {
                let row = client
                    .query_one("SELECT seq FROM audit_head WHERE id = 1", &[])
                    .await?;
                Ok(row.get::<_, i64>(0).max(0) as u64)
            })
            .await
            .map_err(backend)
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn entries_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let lines: Vec<String> = self
            .pg
            .call(move |client| async move {
                let rows = client
                    .query(
                        "SELECT line FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                        &[&(after.min(i64::MAX as u64) as i64), &(limit as i64)],
                    )
                    .await?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            })
            .await
            .map_err(backend)?;
        Ok(lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    async fn last_seq(&self) -> Result<u64, AuditError> {
        self.revision().await
    }

    async fn forwarded(&self, sink: &str) -> Result<Option<Position>, AuditError> {
        let sink = sink.to_string();
        self.pg
            .call(move |client| async move {
                let row = client
                    .query_opt(
                        "SELECT seq, hash, \
                         to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                         FROM audit_forward WHERE sink = $1",
                        &[&sink],
                    )
                    .await?;
                Ok(row.map(|r| Position {
                    seq: r.get::<_, i64>(0).max(0) as u64,
                    hash: r.get(1),
                    at: r.get(2),
                }))
            })
            .await
            .map_err(backend)
    }

    async fn set_forwarded(&self, sink: &str, at: &Position) -> Result<(), AuditError> {
        let sink = sink.to_string();
        let seq = at.seq.min(i64::MAX as u64) as i64;
        let hash = at.hash.clone();
        self.pg
            .call(move |client| async move {
                client
                    .execute(
                        "INSERT INTO audit_forward (sink, seq, hash) VALUES ($1, $2, $3) \
                         ON CONFLICT (sink) DO UPDATE \
                         SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, updated_at = now() \
                         WHERE audit_forward.seq < EXCLUDED.seq",
                        &[&sink, &seq, &hash],
                    )
                    .await?;
                Ok(())
            })
            .await
            .map_err(backend)
    }
}
