//! The reconciler: claims batches of stored events from the queue and applies
//! them in each organization's arrival order, with their seat changes and audit
//! rows, one transaction per batch.
mod batch;
pub mod failure;
mod limits;
pub mod worker;

// The seat rule, the guard, enforcement and the book that decides user
// changes (`seats::book`; directories in `seats::apply`) live in `seats`;
// the reconciler names them as its own neighbours.
use crate::seats::{apply, book, guard, scope};

pub use apply::apply_command;
pub use scope::{Outcome, Scope};
pub use worker::{Reconciler, drain};
