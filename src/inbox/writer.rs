//! Group commit: one task takes every delivery waiting and stores them in one
//! transaction, so a burst costs one fsync per batch rather than per request.
//! Deduplication is the database's: `ON CONFLICT (event_id) DO NOTHING`.
use crate::{
    db::stmt,
    domain::{EventId, Micros},
    reconcile::Reconciler,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

/// Most deliveries stored in one transaction.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: EventId,
    pub event_type: String,
    pub body: Vec<u8>,
    /// `pending` for types the reconciler acts on, `ignored` for the rest.
    pub status: &'static str,
    /// See `Envelope::order_key`.
    pub order_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Accepted,
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the inbox could not store the event")]
    Database(#[source] std::sync::Arc<DbErr>),
    #[error("the inbox writer has stopped")]
    Stopped,
}

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<Stored, InboxError>>,
}

#[derive(Clone)]
pub struct Inbox {
    jobs: mpsc::Sender<Job>,
}

impl Inbox {
    /// Starts the writer task. It ends when every `Inbox` clone is dropped.
    pub fn start(db: DatabaseConnection, reconciler: Reconciler) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let task = tokio::spawn(write_loop(db, rx, reconciler));
        (Self { jobs }, task)
    }

    pub async fn store(&self, event: NewEvent) -> Result<Stored, InboxError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { event, reply }).await.map_err(|_| InboxError::Stopped)?;
        answer.await.map_err(|_| InboxError::Stopped)?
    }
}

async fn write_loop(db: DatabaseConnection, mut rx: mpsc::Receiver<Job>, reconciler: Reconciler) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let events: Vec<&NewEvent> = batch.iter().map(|job| &job.event).collect();
        let result = store_batch(&db, &events).await;
        match result {
            Ok(outcomes) => {
                if outcomes.contains(&Stored::Accepted) {
                    reconciler.wake();
                }
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, batch = batch.len(), "inbox batch failed; nothing in it was stored");
                let err = std::sync::Arc::new(err);
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(InboxError::Database(err.clone())));
                }
            }
        }
    }
}

/// Stores a batch in one transaction; all or nothing.
pub async fn store_batch(db: &DatabaseConnection, events: &[&NewEvent]) -> Result<Vec<Stored>, DbErr> {
    let txn = db.begin().await?;
    let outcomes = insert_events(&txn, events).await?;
    txn.commit().await?;
    Ok(outcomes)
}

/// Inserts events in the caller's transaction; an id already stored is a duplicate.
pub async fn insert_events(c: &impl ConnectionTrait, events: &[&NewEvent]) -> Result<Vec<Stored>, DbErr> {
    let now = Micros::now();
    // Insert in id order: two replicas storing overlapping batches (WorkOS
    // retries) then wait on each other in one direction only, never deadlock.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|a, b| events[*a].event_id.cmp(&events[*b].event_id));
    let mut outcomes = vec![Stored::Duplicate; events.len()];
    for index in order {
        let event = events[index];
        let inserted = c
            .execute_raw(stmt(
                c.get_database_backend(),
                "INSERT INTO inbox_events (event_id, event_type, body, received_at, status, attempts, order_key) \
                 VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (event_id) DO NOTHING",
                [
                    event.event_id.as_str().into(),
                    event.event_type.as_str().into(),
                    event.body.clone().into(),
                    now.0.into(),
                    event.status.into(),
                    event.order_key.clone().into(),
                ],
            ))
            .await?
            .rows_affected();
        if inserted == 1 {
            outcomes[index] = Stored::Accepted;
        }
    }
    Ok(outcomes)
}
