//! The durable inbox: every verified event is stored, under a unique key on its
//! id, before the 200 is sent. Writes from concurrent deliveries share commits.
pub mod dead_letter;
pub mod queue;
pub mod retention;
pub mod status;
pub mod writer;

pub use writer::{Inbox, InboxError, NewEvent, Stored};
