//! Operator and developer tools: signing and replaying fixture payloads.
pub mod replay;
pub mod sign;
