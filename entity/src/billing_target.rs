//! A billing target some `serve` was configured with (CONTRACT 7): every seat
//! change writes messages for it, whatever process made the change.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_targets")]
pub struct Model {
    /// `webhook` or `stripe`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub target: String,
    pub configured_at: i64,
    /// When each plan's current seats had been sent to it once; null until then.
    pub backfilled_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
