//! The contract's rule as an in-memory model, and the property that the
//! service agrees with it (issue 35, item 10).
mod check;
pub mod rule_model;
