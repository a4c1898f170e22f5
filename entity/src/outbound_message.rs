//! The billing outbox (CONTRACT 7): one row per message to one target, written
//! in the transaction that changed the seats, sent by the delivery worker.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbound_messages")]
pub struct Model {
    /// `msg_…`: the `webhook-id`, the same on every retry.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub plan_id: String,
    /// `webhook` or `stripe`.
    pub target: String,
    /// The contract's `sequence`: counts the plan's messages to this target
    /// from 1, given when the message is first attempted; 0 until then.
    pub sequence: i64,
    pub organization_id: Option<String>,
    /// The plan's `external_id` when the message was written.
    pub external_id: Option<String>,
    /// The plan's mode after the changes.
    pub mode: String,
    /// Absolute counts after the changes.
    pub paid_seats: i64,
    pub free_seats: i64,
    /// The changes: the plan's audit rows with `audit_after < seq <= audit_through`.
    pub audit_after: i64,
    pub audit_through: i64,
    /// `pending`, `failing`, `delivered`, `dead` or `superseded`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    /// The plan's order of messages (all targets): grows by one with each.
    pub position: i64,
    /// `attempts` before the last operator retry: the schedule counts from it.
    pub schedule_from: i32,
    /// `plan.seats.updated`, or a notice type (`plan.hold.started`, …).
    pub kind: String,
    /// A notice's own data (JSON); NULL for a seat message.
    pub notice: Option<String>,
    /// The W3C context of the change that wrote it, when traces are exported.
    pub traceparent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
