//! A customer's plan: one per WorkOS organization.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    #[sea_orm(unique)]
    pub organization_id: String,
    pub mode: String,
    pub test_mode_max_users: i32,
    pub enforced_at: Option<i64>,
    pub created_at: i64,
    /// Bumped by every writer: the write that serialises work per plan.
    pub lock_version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
