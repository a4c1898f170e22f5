//! HTTP plumbing shared by the routes: the error body, health and metrics.
pub mod error;
pub mod health;
pub mod metrics;
