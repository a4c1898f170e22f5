//! `POST /webhooks/workos`: size limit, signature, parse, durable inbox.
pub mod handler;
pub mod signature;

pub use handler::receive;
