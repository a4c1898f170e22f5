//! WorkOS events: the typed envelope and payloads (`workos`), and their pure
//! translation into domain commands (`translate`).
pub mod translate;
pub mod workos;

pub use translate::{Command, DirectoryUserChange, TranslateError, translate, user_change};
pub use workos::{Envelope, InvalidEvent};

/// The event types the reconciler acts on. Everything else is stored as `ignored`.
pub const ACTIONABLE: &[&str] =
    &["dsync.activated", "dsync.deleted", "dsync.user.created", "dsync.user.updated", "dsync.user.deleted"];

pub fn is_actionable(event_type: &str) -> bool {
    ACTIONABLE.contains(&event_type)
}
