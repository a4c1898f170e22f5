//! The reconciler loop: claim a batch of groups from the queue, apply their
//! events in arrival order in one transaction, record every outcome, commit
//! once. Several processes may run it against one PostgreSQL database: groups are
//! claimed under locks, and every seat change takes its plan's lock first.
//!
//! Faults: an error from an event's own data (a value the database refuses)
//! rolls the batch back; the event is counted, retried after a back-off, and
//! `failed` after `MAX_ATTEMPTS`, and the batch runs again without it. A passing
//! fault (the database gone, a time-out) rolls back too and is retried with a
//! growing, jittered back-off; it never makes an event `failed`.
use super::apply::{Outcome, Scope, apply_command};
use crate::{
    db::{Fault, classify},
    domain::{EventId, Micros},
    events::{Envelope, translate},
    inbox::queue::{self, ClaimLimits, QueuedEvent},
    metrics::Metrics,
};
use sea_orm::{DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use std::{
    hash::{BuildHasher, RandomState},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::Notify;
use tracing::Instrument;

/// An event whose own data the database refuses this many times is `failed`.
pub const MAX_ATTEMPTS: i32 = 3;
/// How often parked events are checked against new plans and directories, as a
/// safety net behind the targeted unparks.
const UNPARK_SWEEP_EVERY: Duration = Duration::from_secs(5);

/// How big a batch may grow.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub claim: ClaimLimits,
    /// A batch stops taking new events after this long, so the transaction
    /// (and on SQLite the one connection the webhook also needs) is short.
    pub time_budget: Duration,
}

impl BatchLimits {
    pub fn for_backend(backend: DbBackend) -> Self {
        match backend {
            // One connection is shared with the inbox writer: short batches keep
            // webhook latency low while a backlog is applied.
            DbBackend::Sqlite => {
                Self { claim: ClaimLimits { groups: 64, events: 256 }, time_budget: Duration::from_millis(6) }
            }
            _ => Self { claim: ClaimLimits { groups: 64, events: 512 }, time_budget: Duration::from_millis(200) },
        }
    }
}

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

    /// Runs until `shutdown` resolves, finishing the batch in hand.
    pub async fn run(
        self,
        db: DatabaseConnection,
        metrics: Arc<Metrics>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let limits = BatchLimits::for_backend(db.get_database_backend());
        let mut failures: u32 = 0;
        let mut last_sweep: Option<Instant> = None;
        loop {
            if last_sweep.is_none_or(|t| t.elapsed() >= UNPARK_SWEEP_EVERY) {
                match queue::unpark_ready(&db).await {
                    Ok(_) => last_sweep = Some(Instant::now()),
                    Err(err) => tracing::warn!(error = %err, "could not re-queue parked events"),
                }
            }
            let pause = match step(&db, &metrics, limits).await {
                Ok(report) if report.applied > 0 || report.retry_now => {
                    failures = 0;
                    None
                }
                Ok(_) => {
                    failures = 0;
                    Some(Duration::from_millis(500))
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let delay = jittered(backoff(failures as i32));
                    tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "reconciler batch failed; retrying");
                    Some(delay)
                }
            };
            match pause {
                // Stay responsive to shutdown between batches.
                None => {
                    if futures_util::FutureExt::now_or_never(&mut shutdown).is_some() {
                        return;
                    }
                }
                Some(pause) => tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.wake.notified() => {}
                    // Other replicas' events and back-offs are found by polling.
                    _ = tokio::time::sleep(pause) => {}
                },
            }
        }
    }
}

/// Applies everything that can be applied now, including events another
/// reconciler holds at the moment (it waits for them). Events held back by a
/// retry back-off are left. For tests and one-shot commands.
pub async fn drain(db: &DatabaseConnection, metrics: &Metrics) -> Result<u64, DbErr> {
    let limits = BatchLimits::for_backend(db.get_database_backend());
    let mut applied = 0;
    queue::unpark_ready(db).await?;
    loop {
        let report = step(db, metrics, limits).await?;
        applied += report.applied as u64;
        if report.applied > 0 || report.retry_now {
            continue;
        }
        if report.held_elsewhere {
            // Held by another reconciler: wait for it to commit.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        // Another reconciler may have just created what a parked event waits for.
        if queue::unpark_ready(db).await? == 0 {
            return Ok(applied);
        }
    }
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct StepReport {
    /// Events given an outcome (applied, ignored, stale, parked or failed).
    pub applied: usize,
    /// An event's own data failed the batch; it was counted and the rest should
    /// run again at once.
    pub retry_now: bool,
    /// Due groups were held by another reconciler.
    pub held_elsewhere: bool,
}

/// Runs one batch. An error is a passing fault; the event it hit (if any) was
/// held back with a back-off.
pub async fn step(db: &DatabaseConnection, metrics: &Metrics, limits: BatchLimits) -> Result<StepReport, DbErr> {
    match run_batch(db, metrics, limits).await {
        Ok(report) => Ok(report),
        Err(BatchError { event: Some(event), err }) => {
            let now = Micros::now();
            let (id, kind) = (&event.event_id, &event.event_type);
            match classify(&err) {
                Fault::OwnData if event.attempts + 1 >= MAX_ATTEMPTS => {
                    let reason = format!("the database refused this event {MAX_ATTEMPTS} times: {err}");
                    queue::fail(db, event.seq, &reason, now).await?;
                    metrics.reconciled(kind, "failed");
                    tracing::warn!(event_id = %id, event = %kind, %reason, "event failed");
                    Ok(StepReport { retry_now: true, ..Default::default() })
                }
                Fault::OwnData => {
                    let delay = jittered(backoff(event.attempts));
                    queue::retry_later(db, event.seq, &format!("retrying: {err}"), delay, now).await?;
                    let retry_in_ms = delay.as_millis() as u64;
                    tracing::warn!(event_id = %id, event = %kind, error = %err, retry_in_ms, "event refused; will retry");
                    Ok(StepReport { retry_now: true, ..Default::default() })
                }
                Fault::Passing => {
                    let delay = jittered(backoff(event.attempts));
                    // Best effort: with the database gone this fails too.
                    if let Err(e) = queue::retry_later(db, event.seq, &format!("retrying: {err}"), delay, now).await {
                        tracing::debug!(error = %e, "could not record the retry");
                    }
                    Err(err)
                }
            }
        }
        Err(BatchError { event: None, err }) => Err(err),
    }
}

struct BatchError {
    /// The event being applied when it failed, if the failure was not in the
    /// claim or the commit.
    event: Option<QueuedEvent>,
    err: DbErr,
}

impl From<DbErr> for BatchError {
    fn from(err: DbErr) -> Self {
        Self { event: None, err }
    }
}

async fn run_batch(db: &DatabaseConnection, metrics: &Metrics, limits: BatchLimits) -> Result<StepReport, BatchError> {
    let started = Instant::now();
    let now = Micros::now();
    let txn = db.begin().await?;
    let claim = match queue::claim(&txn, now, limits.claim).await {
        Ok(claim) => claim,
        Err(err) => {
            let _ = txn.rollback().await;
            return Err(err.into());
        }
    };
    let mut report = StepReport { held_elsewhere: claim.held_elsewhere, ..Default::default() };
    if claim.groups.is_empty() {
        txn.commit().await?;
        return Ok(report);
    }
    let mut scope = Scope::default();
    let mut settled: Vec<(i64, &'static str)> = Vec::new();
    let mut tally: Vec<(String, &'static str)> = Vec::new();
    'groups: for group in &claim.groups {
        for event in &group.events {
            if !event.due {
                // Its retry back-off runs: the group waits, in order.
                continue 'groups;
            }
            if report.applied > 0 && started.elapsed() >= limits.time_budget {
                break 'groups;
            }
            let span = tracing::info_span!("reconcile", event_id = %event.event_id, event = %event.event_type);
            let decision = decide(&txn, &mut scope, event, now).instrument(span.clone()).await;
            report.applied += 1;
            match decision {
                Ok(Outcome::Parked) => {
                    if let Err(err) = queue::park_from(&txn, group.key.as_deref(), event.seq).await {
                        let _ = txn.rollback().await;
                        return Err(BatchError { event: Some(event.clone()), err });
                    }
                    if !event.parked {
                        tally.push((event.event_type.clone(), "parked"));
                        span.in_scope(|| tracing::info!(status = "parked", "event reconciled"));
                    }
                    // The rest of the group waits behind it.
                    continue 'groups;
                }
                Ok(outcome) => {
                    settled.push((event.seq, outcome.status()));
                    tally.push((event.event_type.clone(), outcome.status()));
                    span.in_scope(|| tracing::debug!(status = outcome.status(), "event reconciled"));
                }
                Err(Decision::Failed(reason)) => {
                    if let Err(err) = queue::fail(&txn, event.seq, &reason, now).await {
                        let _ = txn.rollback().await;
                        return Err(BatchError { event: Some(event.clone()), err });
                    }
                    tally.push((event.event_type.clone(), "failed"));
                    span.in_scope(|| tracing::warn!(%reason, "event failed"));
                }
                Err(Decision::Database(err)) => {
                    let _ = txn.rollback().await;
                    return Err(BatchError { event: Some(event.clone()), err });
                }
            }
        }
    }
    if let Err(err) = queue::settle(&txn, &settled, now).await {
        let _ = txn.rollback().await;
        return Err(err.into());
    }
    txn.commit().await?;
    for (event_type, status) in &tally {
        metrics.reconciled(event_type, status);
    }
    tracing::debug!(events = report.applied, took_ms = started.elapsed().as_millis() as u64, "batch committed");
    Ok(report)
}

enum Decision {
    /// The event itself is unusable (not an event, no email, …): final.
    Failed(String),
    Database(DbErr),
}

async fn decide(
    c: &sea_orm::DatabaseTransaction,
    scope: &mut Scope,
    event: &QueuedEvent,
    now: Micros,
) -> Result<Outcome, Decision> {
    let envelope = Envelope::parse(&event.body).map_err(|e| Decision::Failed(e.to_string()))?;
    let event_id = EventId::parse(&event.event_id).map_err(|e| Decision::Failed(e.to_string()))?;
    let command = translate(&envelope).map_err(|e| Decision::Failed(e.to_string()))?;
    apply_command(c, scope, &command, Some(&event_id), now).await.map_err(Decision::Database)
}

/// 0.5 s doubling per attempt, at most 2 minutes.
fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(0, 8) as u32;
    Duration::from_millis(500 * 2u64.pow(exp)).min(Duration::from_secs(120))
}

/// Between half and all of `delay`, so replicas that failed together do not
/// retry together.
fn jittered(delay: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
    delay.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_two_minutes_and_jitter_stays_within_half() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(50), Duration::from_secs(120));
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(10), "{d:?}");
        }
    }
}
