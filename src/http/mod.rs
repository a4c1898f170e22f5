//! HTTP plumbing shared by the routes: the error body, health, metrics and
//! the request span.
pub mod body;
pub mod body_deadline;
pub mod client_address;
pub mod error;
pub mod health;
pub mod metrics;
pub mod request_span;
