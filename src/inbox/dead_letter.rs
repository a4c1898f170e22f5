//! Verified bodies that are not events, kept for inspection. A plain insert:
//! written with the `entity` crate and sea-orm's builder (raw SQL is kept for
//! the set-based and locking statements, where the builder cannot say it).
use crate::domain::Micros;
use entity::dead_letter;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, NotSet, Set};

pub async fn keep(
    c: &impl ConnectionTrait,
    body: &[u8],
    signature_timestamp_ms: i64,
    reason: &str,
) -> Result<(), DbErr> {
    dead_letter::ActiveModel {
        id: NotSet,
        body: Set(body.to_vec()),
        signature_timestamp_ms: Set(signature_timestamp_ms),
        received_at: Set(Micros::now().0),
        reason: Set(reason.to_owned()),
    }
    .insert(c)
    .await
    .map(|_| ())
}
