//! Operator and developer tools: signing and replaying fixture payloads.
pub mod bench;
pub mod healthcheck;
pub mod replay;
pub mod sign;
