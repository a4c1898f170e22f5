//! The newest state held for each directory user.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "directory_users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub directory_id: String,
    pub organization_id: String,
    pub email: String,
    pub state: String,
    /// The user's own `updated_at` from WorkOS, in microseconds.
    pub updated_at: i64,
    pub deleted: bool,
    /// `state = active`, not deleted, directory live: what the rule counts.
    pub active: bool,
    /// When seatsync last wrote this row, by its own clock (microseconds).
    pub stored_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
