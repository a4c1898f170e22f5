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
pub use seat::{Actor, HoldKind, PlanMode, Reason, Seat, Source, Tier, UserState};
pub use secret::Secret;
pub use time::Micros;

#[cfg(test)]
mod vocabulary_tests {
    use super::*;
    use migration::vocabulary;

    fn texts<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|v| as_str(*v)).collect()
    }

    /// The values the schema allows (migration 10) are the enums' values.
    #[test]
    fn the_schema_guards_exactly_the_enums_values() {
        assert_eq!(texts(EventStatus::ALL, EventStatus::as_str), vocabulary::EVENT_STATUSES);
        assert_eq!(texts(Tier::ALL, Tier::as_str), vocabulary::TIERS);
        assert_eq!(texts(Source::ALL, Source::as_str), vocabulary::SOURCES);
        assert_eq!(texts(PlanMode::ALL, PlanMode::as_str), vocabulary::PLAN_MODES);
        assert_eq!(texts(Reason::ALL, Reason::as_str), vocabulary::REASONS);
        assert_eq!(texts(DeliveryState::ALL, DeliveryState::as_str), vocabulary::DELIVERY_STATES);
        assert_eq!(texts(Target::ALL, Target::as_str), vocabulary::TARGETS);
    }
}
