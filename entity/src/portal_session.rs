//! A plan portal session (CONTRACT 3.6): one plan only, stored hashed, idle
//! time-out one hour, at most twelve hours, revocable.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_sessions")]
pub struct Model {
    /// SHA-256 of the cookie's value, hex.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub plan_id: String,
    pub created_at: i64,
    /// Moved on as the session is used: an hour idle ends it.
    pub last_seen_at: i64,
    /// The session's hard end (twelve hours after it began).
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The product's page the portal's "back" link returns to (from the link).
    pub return_url: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
