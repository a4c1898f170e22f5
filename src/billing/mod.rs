//! Seat changes pushed out to billing (CONTRACT 7). So far: the Standard
//! Webhooks signature of an outbound message (`signature.rs`) and its secret.
pub mod signature;
