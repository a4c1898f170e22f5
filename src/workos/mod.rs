//! The WorkOS API: a small client, the Events API pull (`backfill`, polling),
//! the full directory resync, and organizations with the Admin Portal link.
pub mod backfill;
pub mod client;
pub mod organizations;
pub mod resync;
pub mod schedule;

pub use client::{ApiError, WorkosClient};
