//! Group commit: one task takes every delivery waiting and stores them in one
//! transaction, so a burst costs one fsync per batch rather than per request.
//! Deduplication is the database's: `ON CONFLICT (event_id) DO NOTHING`.
use crate::{
    db::{ErrorClass, classify},
    domain::{EventStatus, Micros},
    faults::Faults,
    inbox::Arrivals,
    inbox::event::{NewEvent, Stored, outcomes_of},
    inbox::rows::{QueueRow, insert_rows},
    inbox::sqlite_lane::SqliteLane,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

/// Most deliveries stored in one transaction.
const MAX_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the inbox could not store the event")]
    Database(#[source] std::sync::Arc<DbErr>),
    #[error("the inbox writer has stopped")]
    Stopped,
    /// The writer is behind: its queue is full, or it did not answer in time.
    /// The sender is told to retry now rather than wait in a growing queue (a
    /// delivery stored after all is a duplicate on the retry, which is harmless).
    #[error("the inbox writer is behind")]
    Behind,
    /// The database did not answer the last batch, a moment ago: refused at
    /// once instead of each delivery waiting out the pool's timeout again
    /// (WorkOS asks for fast answers and retries).
    #[error("the database did not answer a moment ago")]
    DatabaseDown,
}

/// How long after a batch the database did not answer deliveries are refused
/// at once. After it, the next batch tries the database again.
const DOWN_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// When the database last failed a whole batch for a passing reason (ms since
/// the epoch; 0 once a batch succeeds).
#[derive(Clone, Default)]
struct Health(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Health {
    fn down(&self) {
        self.0.store(Micros::now().0 / 1000, std::sync::atomic::Ordering::Relaxed);
    }

    fn up(&self) {
        self.0.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    fn refusing(&self) -> bool {
        let since = self.0.load(std::sync::atomic::Ordering::Relaxed);
        since != 0 && Micros::now().0 / 1000 - since < DOWN_FOR.as_millis() as i64
    }
}

/// How long a delivery waits for the writer's answer before 503.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest one batch's commit may take on PostgreSQL (`db::bounded`).
const STORE_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<Stored, InboxError>>,
}

#[derive(Clone)]
pub struct Inbox {
    jobs: mpsc::Sender<Job>,
    health: Health,
}

impl Inbox {
    /// Starts the writer task. It ends when every `Inbox` clone is dropped.
    pub fn start(
        db: DatabaseConnection,
        url: &crate::db::DatabaseUrl,
        arrivals: Arrivals,
        faults: Faults,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let health = Health::default();
        let lane = crate::inbox::sqlite_lane::file_of(&db, url).and_then(|path| {
            SqliteLane::start(path, faults)
                .inspect_err(|err| tracing::warn!(error = %err, "no SQLite inbox thread; storing through the pool"))
                .ok()
        });
        // With a lane, deliveries go to the spool and the mover carries them
        // to the queue; the mover ends when the writer does.
        let lane = lane.map(|lane| {
            let (ring, rung) = mpsc::channel(1);
            tokio::spawn(crate::inbox::spool::keep_moving(db.clone(), rung, arrivals.clone()));
            Lane { lane, mover: ring }
        });
        let task = tokio::spawn(write_loop(db, rx, arrivals, faults, health.clone(), lane));
        (Self { jobs, health }, task)
    }

    pub async fn store(&self, event: NewEvent) -> Result<Stored, InboxError> {
        if self.health.refusing() {
            return Err(InboxError::DatabaseDown);
        }
        let (reply, answer) = oneshot::channel();
        self.jobs.try_send(Job { event, reply }).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => InboxError::Behind,
            mpsc::error::TrySendError::Closed(_) => InboxError::Stopped,
        })?;
        match tokio::time::timeout(ANSWER_WITHIN, answer).await {
            Ok(answered) => answered.map_err(|_| InboxError::Stopped)?,
            Err(_) => Err(InboxError::Behind),
        }
    }
}

/// SQLite's lane into the spool, and the bell of the mover that empties it.
struct Lane {
    lane: SqliteLane,
    mover: mpsc::Sender<()>,
}

async fn write_loop(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Job>,
    arrivals: Arrivals,
    faults: Faults,
    health: Health,
    lane: Option<Lane>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (events, replies): (Vec<NewEvent>, Vec<_>) = batch.drain(..).map(|job| (job.event, job.reply)).unzip();
        if health.refusing() {
            // Queued before the database failed the last batch: refused at once too.
            for reply in replies {
                let _ = reply.send(Err(InboxError::DatabaseDown));
            }
            continue;
        }
        faults.inbox_writer();
        let started = std::time::Instant::now();
        let (events, stored) = match &lane {
            Some(lane) => match lane.lane.store(events).await {
                Some(answer) => answer,
                None => {
                    // The thread died (a panic): this task ends too, and the
                    // server stops rather than answer half alive.
                    tracing::error!("the SQLite inbox thread stopped");
                    for reply in replies {
                        let _ = reply.send(Err(InboxError::Stopped));
                    }
                    return;
                }
            },
            _ => {
                // A delivery waits at most ANSWER_WITHIN anyway; the commit
                // itself is bounded so a hung node cannot hold the writer.
                let batch: Vec<&NewEvent> = events.iter().collect();
                let work = store_batch_with(&db, &batch, faults);
                let stored = crate::db::within(db.get_database_backend(), STORE_WITHIN, work).await;
                (events, stored)
            }
        };
        let took_us = started.elapsed().as_micros() as u64;
        tracing::debug!(events = events.len(), took_us, "inbox batch stored");
        let outcomes: Vec<Result<Stored, DbErr>> = match stored {
            Ok(outcomes) => {
                health.up();
                outcomes.into_iter().map(Ok).collect()
            }
            // A value the database refuses must not fail the deliveries stored
            // beside it: store them one by one, so only that one is refused.
            Err(err) if events.len() > 1 && classify(&err) == ErrorClass::OwnData => {
                tracing::warn!(error = %err, batch = events.len(), "inbox batch refused; storing one by one");
                let mut outcomes = Vec::with_capacity(events.len());
                for event in &events {
                    let outcome = match &lane {
                        Some(lane) => match lane.lane.store(vec![event.clone()]).await {
                            Some((_, stored)) => stored.map(|o| o[0]),
                            None => Err(DbErr::Custom("the SQLite inbox thread stopped".into())),
                        },
                        None => store_batch(&db, &[event]).await.map(|o| o[0]),
                    };
                    outcomes.push(outcome);
                }
                outcomes
            }
            Err(err) => {
                if classify(&err) == ErrorClass::Passing {
                    health.down();
                }
                vec![Err(err); 1]
            }
        };
        if outcomes.len() != replies.len() {
            // One error for the whole batch: nothing in it was stored.
            let err = outcomes.into_iter().next().and_then(Result::err).unwrap_or(DbErr::Custom("no outcome".into()));
            tracing::error!(error = %err, batch = replies.len(), "inbox batch failed; nothing in it was stored");
            let err = std::sync::Arc::new(err);
            for reply in replies {
                let _ = reply.send(Err(InboxError::Database(err.clone())));
            }
            continue;
        }
        if outcomes.iter().any(|o| matches!(o, Ok(Stored::Accepted))) {
            match &lane {
                // Full: a ring is already waiting, and it moves this batch too.
                Some(lane) => _ = lane.mover.try_send(()),
                None => arrivals.ring(),
            }
        }
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome.map_err(|e| InboxError::Database(std::sync::Arc::new(e))));
        }
    }
}

/// Stores a batch in one transaction; all or nothing.
pub async fn store_batch(db: &DatabaseConnection, events: &[&NewEvent]) -> Result<Vec<Stored>, DbErr> {
    store_batch_with(db, events, Faults::default()).await
}

async fn store_batch_with(db: &DatabaseConnection, events: &[&NewEvent], faults: Faults) -> Result<Vec<Stored>, DbErr> {
    let txn = db.begin().await?;
    let outcomes = insert_events(&txn, events).await?;
    faults.before_commit(events.iter().map(|e| e.body.as_slice())).await;
    txn.commit().await?;
    Ok(outcomes)
}

/// Inserts events in the caller's transaction; an id already stored is a duplicate.
/// One multi-row statement per chunk: the ids it returns are the ones inserted.
///
/// Every storer (the webhook's writer, the Events API poller, `backfill`, on
/// any replica) comes through here, and first takes its groups' storing locks
/// (`queue::lock_for_storing`): no claim takes a group while an event of it may
/// still commit, so a group is applied in the order its events were stored
/// even when a later `seq` commits first (CONTRACT 4, "Arrival order").
pub async fn insert_events(c: &impl ConnectionTrait, events: &[&NewEvent]) -> Result<Vec<Stored>, DbErr> {
    let now = Micros::now();
    // SQLite: the write lock before any read. A transaction that has read
    // first cannot wait for the lock: it fails at once with "database is
    // locked" whenever the reconciler or the mover is mid-commit.
    crate::db::write_first(c).await?;
    // SQLite: what the spool holds was stored first, so it takes its `seq`
    // first. The spool's snapshot is fixed at the first read of this
    // transaction, so this ends.
    if crate::inbox::spool::attached(c).await? {
        while crate::inbox::spool::move_into_queue(c, crate::inbox::spool::MOVE_AT_MOST).await? > 0 {}
    }
    let pending = |keys: &[Option<String>]| -> Vec<String> {
        (0..events.len())
            .filter(|i| events[*i].status == EventStatus::Pending)
            .filter_map(|i| keys[i].clone())
            .collect()
    };
    // The payloads' own keys first: a legacy event's directory group is locked
    // before its directory is looked up, so a directory that becomes known
    // meanwhile waits for this event to commit (`queue::wait_for_storers`).
    let own: Vec<Option<String>> = events.iter().map(|e| e.order_key.clone()).collect();
    crate::inbox::queue::lock_for_storing(c, &pending(&own)).await?;
    let keys = group_keys(c, events).await?;
    if keys != own {
        crate::inbox::queue::lock_for_storing(c, &pending(&keys)).await?;
    }
    // Insert in id order: two replicas storing overlapping batches (WorkOS
    // retries) then wait on each other in one direction only, never deadlock.
    // Arrival order (`seq`) among one batch's events is then id order; they
    // arrived together, and each organization's are still stored in one step.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|a, b| events[*a].event_id.cmp(&events[*b].event_id));
    order.dedup_by(|a, b| events[*a].event_id == events[*b].event_id);
    let rows: Vec<QueueRow> = order
        .into_iter()
        .map(|index| {
            let event = events[index];
            QueueRow {
                event_id: event.event_id.as_str().to_owned(),
                event_type: event.event_type.clone(),
                body: event.body.clone(),
                received_at: now,
                status: event.status,
                order_key: keys[index].clone(),
                traceparent: event.traceparent.clone(),
            }
        })
        .collect();
    let inserted = insert_rows(c, &rows).await?;
    Ok(outcomes_of(events, |id| inserted.contains(id)))
}

/// Each event's group: its payload's key, except that a legacy payload without
/// an organization belongs to its directory's organization once the directory
/// is known (CONTRACT 4).
async fn group_keys(c: &impl ConnectionTrait, events: &[&NewEvent]) -> Result<Vec<Option<String>>, DbErr> {
    crate::inbox::groups::known_groups(c, events.iter().map(|e| e.order_key.clone()).collect()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_refused_at_once_only_after_the_database_failed_a_batch_and_until_one_succeeds() {
        let health = Health::default();
        assert!(!health.refusing());
        health.down();
        assert!(health.refusing());
        health.up();
        assert!(!health.refusing());
        // Long ago: tried again.
        health.0.store(1, std::sync::atomic::Ordering::Relaxed);
        assert!(!health.refusing());
    }
}
