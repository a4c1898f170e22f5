//! The reconciler: claims batches of stored events from the queue and applies
//! them in each organization's arrival order, with their seat changes and audit
//! rows, one transaction per batch.
pub mod apply;
pub mod approval;
mod batch;
pub mod bulk;
pub mod failure;
mod limits;
pub mod worker;

// The seat rule, the guard and enforcement live in `seats`; the engine
// names them as its own neighbours.
use crate::seats::{enforcement, guard, rule};

pub use apply::{Outcome, Scope, apply_command, settle_email};
pub use worker::{Reconciler, drain};
