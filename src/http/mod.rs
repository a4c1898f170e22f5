//! HTTP plumbing shared by the routes: the error body, reading bodies within a
//! deadline, the client's address and the request span. Nothing here knows the
//! application's state (the probes are in `probes`).
pub mod admission;
pub mod body;
pub mod body_deadline;
pub mod client_address;
pub mod error;
pub mod refusals;
pub mod request_span;
pub mod warn_budget;
