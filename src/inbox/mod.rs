//! The durable inbox: every verified event is stored, under a unique key on its
//! id, before the 200 is sent. Writes from concurrent deliveries share commits.
//! On SQLite they go to a spool file of their own first (`spool`), so intake
//! never waits for the reconciler's write lock; PostgreSQL stores directly.
pub mod dead_letter;
pub mod event;
pub mod groups;
pub mod queue;
pub mod retention;
pub mod rows;
pub mod spool;
pub mod sqlite_lane;
pub mod status;
pub mod writer;

pub use event::{NewEvent, Stored};
pub use writer::{Inbox, InboxError};

use std::sync::Arc;
use tokio::sync::Notify;

/// Rung when the inbox stores something new (or an operator frees events); the
/// reconciler waits on it. A ring with nobody waiting is kept for the next wait.
#[derive(Clone, Default)]
pub struct Arrivals(Arc<Notify>);

impl Arrivals {
    pub fn ring(&self) {
        self.0.notify_one();
    }

    pub async fn wait(&self) {
        self.0.notified().await;
    }
}
