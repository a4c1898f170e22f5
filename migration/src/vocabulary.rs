//! Every value a status, tier, source, mode or reason column may hold, as the
//! schema guards it (migration 10). The service's enums (`seatsync::domain`)
//! are tested against these lists, so the two cannot drift apart.
pub const EVENT_STATUSES: &[&str] = &["pending", "applied", "ignored", "stale", "parked", "held", "failed"];
pub const TIERS: &[&str] = &["paid", "free"];
pub const SOURCES: &[&str] = &["manual", "directory"];
pub const PLAN_MODES: &[&str] = &["test", "enforced"];
pub const REASONS: &[&str] = &[
    "directory_user_active",
    "directory_user_inactive",
    "directory_user_deleted",
    "email_changed",
    "enforcement_started",
    "directory_deleted",
    "manual",
    "resync",
];
pub const DELIVERY_STATES: &[&str] = &["pending", "failing", "delivered", "dead", "superseded"];
pub const TARGETS: &[&str] = &["webhook", "stripe"];
