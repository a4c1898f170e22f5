//! A customer's plan: one per WorkOS organization.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// NULL until "Configure SCIM" creates the WorkOS organization.
    #[sea_orm(unique)]
    pub organization_id: Option<String>,
    pub mode: String,
    pub test_mode_max_users: i32,
    pub enforced_at: Option<i64>,
    pub created_at: i64,
    /// Bumped by every writer: the write that serialises work per plan.
    pub lock_version: i64,
    /// The release guard's limit: NULL for the default, 0 for off.
    pub release_limit: Option<i32>,
    /// Since when events are held by the release guard (NULL: no hold).
    pub hold_since: Option<i64>,
    /// Held events up to this inbox `seq` were approved: applied without limit.
    pub approved_through: Option<i64>,
    /// The guard counts only audit rows after this `seat_audit.seq`.
    pub release_floor: i64,
    /// The last audit row an outbound message carried (CONTRACT 7).
    pub announced_seq: i64,
    /// The `sequence` of the plan's newest outbound message.
    pub billing_sequence: i64,
    /// The Stripe subscription item whose quantity follows the paid seats.
    pub stripe_subscription_item: Option<String>,
    /// The product's own id for the customer (unique when set).
    pub external_id: Option<String>,
    /// The grant guard's limit: NULL for off (the default).
    pub grant_limit: Option<i32>,
    /// Which guard holds the plan: `release` or `grant` (NULL: no hold).
    pub hold_kind: Option<String>,
    /// Paid seats as of the last audit row marked (`seat_audit.paid_after`).
    pub paid_marked: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
