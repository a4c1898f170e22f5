//! One plan's messages to one target (CONTRACT 7.1, 7.2): their numbering, the
//! newest delivered, and the lease that keeps one request in flight.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_streams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub plan_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target: String,
    /// The last `sequence` given to a message (numbered when first attempted).
    pub last_sequence: i64,
    /// `position` of the newest delivered message.
    pub delivered_position: i64,
    /// The process sending this plan's message to this target, until `lease_until`.
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
