//! WorkOS events: the typed envelope and payloads (`payload`), and their pure
//! translation into domain commands (`translate`).
pub mod payload;
pub mod translate;

pub use payload::{Envelope, InvalidEvent};
pub use translate::{Command, DirectoryUserChange, EventKind, TranslateError, translate, user_change};

/// The event types the reconciler acts on, from `EventKind`. Everything else is
/// stored as `ignored`.
pub fn actionable() -> impl Iterator<Item = &'static str> {
    EventKind::ALL.into_iter().map(EventKind::as_str)
}

pub fn is_actionable(event_type: &str) -> bool {
    EventKind::parse(event_type).is_some()
}
