//! Typed values that cross module boundaries. No raw strings past parsing.

/// A closed set of values stored as text: `as_str` for SQL and JSON, `parse`
/// at the boundary, `ALL` for listing.
macro_rules! string_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod email;
pub mod event_status;
pub mod ids;
pub mod order_key;
pub mod outbound;
pub mod seat;
pub mod secret;
pub mod text;
pub mod time;

pub use email::Email;
pub use event_status::EventStatus;
pub use ids::{DirectoryId, DirectoryUserId, EventId, OrganizationId, PlanId};
pub use outbound::{DeliveryState, Target};
pub use seat::{PlanMode, Reason, Seat, Source, Tier, UserState};
pub use secret::Secret;
pub use time::Micros;
