//! The reconciler: claims batches of stored events from the queue and applies
//! them in each organization's arrival order, with their seat changes and audit
//! rows, one transaction per batch.
pub mod apply;
pub mod approval;
mod batch;
pub mod bulk;
pub mod enforcement;
pub mod failure;
pub mod guard;
mod limits;
pub mod rule;
pub mod worker;

pub use apply::{Outcome, Scope, apply_command, settle_email};
pub use worker::{Reconciler, drain};
