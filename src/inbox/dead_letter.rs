//! Verified bodies that are not events, kept for inspection.
use crate::{db::stmt, domain::Micros};
use sea_orm::{ConnectionTrait, DbErr};

pub async fn keep(
    c: &impl ConnectionTrait,
    body: &[u8],
    signature_timestamp_ms: i64,
    reason: &str,
) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "INSERT INTO dead_letters (body, signature_timestamp_ms, received_at, reason) VALUES (?, ?, ?, ?)",
        [body.to_vec().into(), signature_timestamp_ms.into(), Micros::now().0.into(), reason.into()],
    ))
    .await
    .map(|_| ())
}
