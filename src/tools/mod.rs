//! Operator and developer tools: signing and replaying fixture payloads.
pub mod check_config;
pub mod fake_workos;
pub mod healthcheck;
pub mod replay;
pub mod sign;
