//! Every verified event, stored before the 200 is sent.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox_events")]
pub struct Model {
    /// Arrival order; the reconciler claims in this order.
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub event_id: String,
    pub event_type: String,
    pub body: Vec<u8>,
    pub received_at: i64,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<i64>,
    pub applied_at: Option<i64>,
    pub error: Option<String>,
    pub organization_id: Option<String>,
    pub directory_id: Option<String>,
    /// The organization (or, lacking one, the directory) the event is about.
    pub order_key: Option<String>,
    /// Held when an operator approved: applied without the release guard's limit.
    pub approved: bool,
    /// The intake span's W3C context, when traces are exported.
    pub traceparent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
