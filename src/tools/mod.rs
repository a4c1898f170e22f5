//! Operator and developer tools: signing and replaying fixture payloads.
pub mod bench;
pub mod replay;
pub mod sign;
