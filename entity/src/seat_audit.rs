//! One row per seat change, append-only.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "seat_audit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub plan_id: String,
    pub email: String,
    pub from_tier: Option<String>,
    pub to_tier: String,
    pub reason: String,
    pub event_id: Option<String>,
    pub at: i64,
    /// Who made a hand change: `operator` or `portal` (NULL: the directory).
    pub actor: Option<String>,
    /// The plan's paid seats after this row (written before the commit).
    pub paid_after: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
