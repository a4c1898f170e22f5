//! What a failed batch means for its events (`step`), and panics contained
//! like refusals (`process_contained`).
//!
//! An error from an event's own data (a value the database refuses) rolls the
//! batch back; the event is counted, retried after a back-off, and `failed`
//! after `MAX_ATTEMPTS`, and the batch runs again without it. A passing fault
//! (the database gone, a time-out) rolls back too and is retried with a
//! growing, jittered back-off; it never makes an event `failed`.
use super::{
    batch::{self, BatchFailure},
    limits::{BatchLimits, StepReport},
};
use crate::{
    db::{ErrorClass, classify},
    domain::{EventStatus, Micros},
    inbox::queue,
    metrics::Metrics,
};
use sea_orm::{DatabaseConnection, DbErr};
use std::time::Duration;

/// An event whose own data the database refuses this many times is `failed`.
pub const MAX_ATTEMPTS: i32 = 3;
/// Runs one batch. An error is a passing fault; the event it hit (if any) was
/// held back with a back-off.
pub async fn step(db: &DatabaseConnection, metrics: &Metrics, limits: BatchLimits) -> Result<StepReport, DbErr> {
    // SQLite's spool joins the queue in a commit of its own, before the batch:
    // a batch that fails rolls back, and its events' failures are recorded by
    // `seq`, which must then still exist.
    crate::inbox::spool::move_all(db).await?;
    let mut result = process_contained(db, metrics, limits, true).await;
    if matches!(&result, Err(BatchFailure::InBulk(_))) {
        // A batched run failed somewhere: the same batch again, one event at a
        // time, finds which event it was. A refused value is counted against
        // that event; a passing fault is recorded on it (its `error` says why
        // it waits) and counts against nothing.
        result = process_contained(db, metrics, limits, false).await;
    }
    match result {
        Ok(report) => Ok(report),
        Err(BatchFailure::Event { event, err, panicked }) => {
            let now = Micros::now();
            let (id, kind) = (&event.event_id, &event.event_type);
            match classify(&err) {
                ErrorClass::OwnData if event.attempts + 1 >= MAX_ATTEMPTS => {
                    let reason = if panicked {
                        format!("applying this event failed {MAX_ATTEMPTS} times: {err}")
                    } else {
                        format!("the database refused this event {MAX_ATTEMPTS} times: {err}")
                    };
                    queue::fail(db, event.seq, &reason, now).await?;
                    metrics.reconciled(kind, EventStatus::Failed.as_str());
                    tracing::warn!(event_id = %id, event = %kind, %reason, "event failed");
                    Ok(StepReport { retry_now: true, ..Default::default() })
                }
                ErrorClass::OwnData => {
                    let delay = crate::retry::jittered(backoff(event.attempts));
                    queue::retry_later(db, event.seq, &format!("retrying: {err}"), delay, now, true).await?;
                    let retry_in_ms = delay.as_millis() as u64;
                    tracing::warn!(event_id = %id, event = %kind, error = %err, retry_in_ms, "event refused; will retry");
                    Ok(StepReport { retry_now: true, ..Default::default() })
                }
                ErrorClass::Passing => {
                    let delay = crate::retry::jittered(backoff(event.attempts));
                    // Best effort: with the database gone this fails too.
                    // Not counted: a passing fault never brings an event nearer `failed`.
                    let recorded =
                        queue::retry_later(db, event.seq, &format!("retrying: {err}"), delay, now, false).await;
                    if let Err(e) = recorded {
                        tracing::debug!(error = %e, "could not record the retry");
                    }
                    Err(err)
                }
            }
        }
        Err(BatchFailure::InBulk(err) | BatchFailure::Database(err)) => Err(err),
    }
}

/// `batch::process`, with a panic on one event's data contained like a refusal of
/// it: counted against the event, which is `failed` after `MAX_ATTEMPTS`, so a
/// bug that one event reaches cannot stop its organization, or a restarted
/// process, for ever. A panic in a batched run is retried one event at a time
/// to find the event; a panic no event can be blamed for still ends the task
/// (and the process: `startup` supervises it).
async fn process_contained(
    db: &DatabaseConnection,
    metrics: &Metrics,
    limits: BatchLimits,
    bulk: bool,
) -> Result<StepReport, BatchFailure> {
    let current = std::sync::Mutex::new(None);
    let batch = std::panic::AssertUnwindSafe(batch::process(db, metrics, limits, bulk, &current));
    let panic = match futures_util::FutureExt::catch_unwind(batch).await {
        Ok(result) => return result,
        Err(panic) => panic,
    };
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned());
    let err = DbErr::Custom(format!("the reconciler panicked: {message}"));
    tracing::error!(error = %err, bulk, "reconciler batch panicked; rolled back");
    if bulk {
        return Err(BatchFailure::InBulk(err));
    }
    let Some(event) = current.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) else {
        std::panic::resume_unwind(panic)
    };
    // A panic while the database is gone (a driver's broken connection) is a
    // passing fault: it must not count against the event.
    if let Err(unreachable) = crate::db::ping(db).await {
        return Err(BatchFailure::Database(unreachable));
    }
    Err(BatchFailure::Event { event, err, panicked: true })
}

/// 0.5 s doubling per attempt, at most 2 minutes.
const BACKOFF: crate::retry::Backoff =
    crate::retry::Backoff { first: Duration::from_millis(500), max: Duration::from_secs(120) };

pub(super) fn backoff(attempts: i32) -> Duration {
    BACKOFF.delay(attempts.clamp(0, 8) as u32)
}
