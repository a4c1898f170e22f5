//! The reconciler: claims batches of stored events from the queue and applies
//! them in each organization's arrival order, with their seat changes and audit
//! rows, one transaction per batch.
mod batch;
pub mod failure;
mod limits;
pub mod worker;

// The seat rule, the guard, enforcement and the two engines that apply
// events to seats (`seats::apply`, one at a time; `seats::bulk`, runs in
// memory) live in `seats`; the reconciler names them as its own neighbours.
use crate::seats::{apply, bulk, guard};

pub use apply::{Outcome, Scope, apply_command, settle_email};
pub use worker::{Reconciler, drain};
