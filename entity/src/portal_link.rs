//! A plan portal link (CONTRACT 3.6): single use, five minutes, stored hashed.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_links")]
pub struct Model {
    /// SHA-256 of the link's token, hex: the token itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub plan_id: String,
    pub return_url: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// When it was opened (or revoked): a link opens one session, once.
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
