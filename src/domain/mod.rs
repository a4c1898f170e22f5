//! Typed values that cross module boundaries. No raw strings past parsing.
pub mod email;
pub mod ids;
pub mod order_key;
pub mod seat;
pub mod time;

pub use email::Email;
pub use ids::{DirectoryId, DirectoryUserId, EventId, OrganizationId, PlanId};
pub use seat::{PlanMode, Reason, Seat, Source, Tier, UserState};
pub use time::Micros;
