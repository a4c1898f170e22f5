//! The seat aggregate's home: who holds which seat and why.
//!
//! - `rule`: the test-mode rule (CONTRACT 4) as pure functions.
//! - `guard`: the release and grant guards (CONTRACT 4.1).
//! - `scope`: what one transaction has read and locked (`Scope`), and where
//!   a user change goes (`Scope::resolve`).
//! - `apply`: one event's command applied to the seats; directories linked
//!   and released.
//! - `book`: the one engine for user changes: runs of them, per plan, read
//!   at once, decided in memory, written back at once.
//! - `hold_preview`: what approving a hold would move, found by doing it and
//!   rolling back; and the hold's billing notice.
//! - `manual`: a seat set by hand.
//! - `enforcement`: the set-based SQL that starts and ends enforcement.
//! - `unit`: the one door for a seat change. Every transaction that may change
//!   seats locks its plans through it (the organization's group first, then
//!   the plan) and ends through it, which writes the billing outbox for every
//!   plan it locked. `tests/api/architecture.rs` fails if code elsewhere locks
//!   a plan or writes the outbox's seat messages itself.
pub mod apply;
pub mod book;
pub mod enforcement;
pub mod guard;
pub mod hold_preview;
pub mod manual;
pub mod rule;
pub mod scope;
pub mod unit;
