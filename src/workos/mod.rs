//! The WorkOS API: a small client, the Events API pull (`backfill`, polling) and
//! the full directory resync.
pub mod backfill;
pub mod client;
pub mod resync;
pub mod schedule;

pub use client::{ApiError, WorkosClient};
