//! The reconciler: claims stored events in arrival order and applies each, with
//! its seat changes and audit rows, in one transaction.
pub mod apply;
pub mod enforcement;
pub mod rule;
pub mod worker;

pub use apply::{Outcome, apply_command, settle_email};
pub use worker::{Reconciler, drain};
