//! The reconciler loop: claim the oldest pending event, apply it, record the
//! outcome, all in one transaction. Several processes may run it against one
//! PostgreSQL database: claims skip rows another process holds, and every seat
//! change takes its plan's lock first.
use super::apply::{Outcome, apply_command};
use crate::{
    db::stmt,
    domain::{EventId, Micros},
    events::{Envelope, translate},
    metrics::Metrics,
    seats::col,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tracing::Instrument;

/// Handle to wake the reconciler when something new is stored.
#[derive(Clone, Default)]
pub struct Reconciler {
    wake: Arc<Notify>,
}

impl Reconciler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `shutdown` resolves. A transient fault (the database) leaves the
    /// event pending with a back-off; it never becomes `failed`.
    pub async fn run(
        self,
        db: DatabaseConnection,
        metrics: Arc<Metrics>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(err) = unpark(&db).await {
                tracing::warn!(error = %err, "could not re-queue parked events");
            }
            loop {
                match step(&db, &metrics).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "reconciler step failed; retrying");
                        break;
                    }
                }
                // Stay responsive to shutdown between events.
                if futures_util::FutureExt::now_or_never(&mut shutdown).is_some() {
                    return;
                }
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
                // Other replicas' events and back-offs are found by polling.
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

/// Applies everything that can be applied now, including events another
/// reconciler holds at the moment (it waits for them). For tests and one-shot
/// commands.
pub async fn drain(db: &DatabaseConnection, metrics: &Metrics) -> Result<u64, DbErr> {
    let mut processed = 0;
    loop {
        let requeued = unpark(db).await?;
        let mut stepped = 0;
        while step(db, metrics).await? {
            stepped += 1;
        }
        processed += stepped;
        if requeued == 0 && stepped == 0 {
            // Unpark once more: another reconciler may have just created the
            // directory a parked event was waiting for.
            if !due_events_remain(db).await? && unpark(db).await? == 0 {
                return Ok(processed);
            }
            // Held by another reconciler: wait for it to commit.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn due_events_remain(c: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT seq FROM inbox_events WHERE status = 'pending' \
             AND (next_attempt_at IS NULL OR next_attempt_at <= ?) LIMIT 1",
            [Micros::now().0.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// Processes one event. Returns whether there was one.
async fn step(db: &DatabaseConnection, metrics: &Metrics) -> Result<bool, DbErr> {
    let now = Micros::now();
    let txn = db.begin().await?;
    let Some(claimed) = claim(&txn, now).await? else {
        txn.commit().await?;
        return Ok(false);
    };
    let span = tracing::info_span!("reconcile", event_id = %claimed.event_id, event = %claimed.event_type);
    async {
        match decide(&txn, &claimed, now).await {
            Ok(outcome) => {
                record(&txn, claimed.seq, &outcome, now).await?;
                txn.commit().await?;
                metrics.reconciled(&claimed.event_type, outcome.status());
                tracing::info!(status = outcome.status(), "event reconciled");
            }
            Err(Decision::Failed(reason)) => {
                record_failure(&txn, claimed.seq, &reason, now).await?;
                txn.commit().await?;
                metrics.reconciled(&claimed.event_type, "failed");
                tracing::warn!(%reason, "event failed");
            }
            Err(Decision::Transient(err)) => {
                drop(txn);
                let delay = backoff(claimed.attempts);
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "event will be retried");
                db.execute_raw(stmt(
                    db.get_database_backend(),
                    "UPDATE inbox_events SET attempts = attempts + 1, next_attempt_at = ?, error = ? WHERE seq = ?",
                    [(now.0 + delay.as_micros() as i64).into(), format!("retrying: {err}").into(), claimed.seq.into()],
                ))
                .await?;
            }
        }
        Ok::<(), DbErr>(())
    }
    .instrument(span)
    .await?;
    Ok(true)
}

enum Decision {
    Failed(String),
    Transient(DbErr),
}

async fn decide(c: &impl ConnectionTrait, claimed: &Claimed, now: Micros) -> Result<Outcome, Decision> {
    let envelope = Envelope::parse(&claimed.body).map_err(|e| Decision::Failed(e.to_string()))?;
    let command = translate(&envelope).map_err(|e| Decision::Failed(e.to_string()))?;
    apply_command(c, &command, Some(&claimed.event_id), now).await.map_err(Decision::Transient)
}

fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(0, 8) as u32;
    Duration::from_millis(500 * 2u64.pow(exp)).min(Duration::from_secs(120))
}

struct Claimed {
    seq: i64,
    event_id: EventId,
    event_type: String,
    body: Vec<u8>,
    attempts: i32,
}

async fn claim(c: &impl ConnectionTrait, now: Micros) -> Result<Option<Claimed>, DbErr> {
    let backend = c.get_database_backend();
    // The claim is a write, so on SQLite the transaction holds the write lock from
    // its first statement; on PostgreSQL SKIP LOCKED lets replicas share the queue.
    // Only the oldest pending event of each organization may be claimed, so one
    // organization's events apply in arrival order however many reconcilers run.
    let lock = if backend == DbBackend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE inbox_events SET attempts = attempts WHERE seq = (\
           SELECT e.seq FROM inbox_events e WHERE e.status = 'pending' \
           AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= ?) \
           AND NOT EXISTS (SELECT 1 FROM inbox_events o WHERE o.status = 'pending' \
             AND o.order_key = e.order_key AND o.seq < e.seq) \
           ORDER BY e.seq LIMIT 1 {lock}) \
         RETURNING seq, event_id, event_type, body, attempts"
    );
    let Some(row) = c.query_one_raw(stmt(backend, &sql, [now.0.into()])).await? else {
        return Ok(None);
    };
    Ok(Some(Claimed {
        seq: col(&row, "seq")?,
        event_id: EventId::parse(&col::<String>(&row, "event_id")?).map_err(|e| DbErr::Custom(e.to_string()))?,
        event_type: col(&row, "event_type")?,
        body: col(&row, "body")?,
        attempts: col(&row, "attempts")?,
    }))
}

async fn record(c: &impl ConnectionTrait, seq: i64, outcome: &Outcome, now: Micros) -> Result<(), DbErr> {
    let (org, dir, applied_at) = match outcome {
        Outcome::Parked { organization, directory } => (
            organization.as_ref().map(|o| o.as_str().to_owned()),
            directory.as_ref().map(|d| d.as_str().to_owned()),
            None,
        ),
        _ => (None, None, Some(now.0)),
    };
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE inbox_events SET status = ?, applied_at = ?, error = NULL, next_attempt_at = NULL, \
           organization_id = COALESCE(?, organization_id), directory_id = COALESCE(?, directory_id) WHERE seq = ?",
        [outcome.status().into(), applied_at.into(), org.into(), dir.into(), seq.into()],
    ))
    .await
    .map(|_| ())
}

async fn record_failure(c: &impl ConnectionTrait, seq: i64, reason: &str, now: Micros) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE inbox_events SET status = 'failed', applied_at = ?, error = ?, next_attempt_at = NULL WHERE seq = ?",
        [now.0.into(), reason.into(), seq.into()],
    ))
    .await
    .map(|_| ())
}

/// Parked events go back to the queue once their plan exists; they keep their
/// original sequence numbers, so they are applied in their original order.
async fn unpark(c: &impl ConnectionTrait) -> Result<u64, DbErr> {
    // Read first: an UPDATE would take SQLite's write lock even when nothing matches.
    let any = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT seq FROM inbox_events WHERE status = 'parked' LIMIT 1",
            [],
        ))
        .await?;
    if any.is_none() {
        return Ok(0);
    }
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE inbox_events SET status = 'pending' WHERE status = 'parked' AND (\
           organization_id IN (SELECT organization_id FROM plans) \
           OR (organization_id IS NULL AND directory_id IN (SELECT id FROM directories)))",
        [],
    ))
    .await
    .map(|r| r.rows_affected())
}
