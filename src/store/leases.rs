//! Named leases in `sync_cursors` (`cursor` holds the owner, `updated_at` when
//! it was taken): one replica at a time does a job, and a crashed replica's
//! lease runs out by itself.
use crate::{db::stmt, domain::Micros};
use sea_orm::{ConnectionTrait, DbErr};
use std::time::Duration;

/// Takes `name` for `owner` unless another owner holds it and took it less than
/// `ttl` ago. Taking it again as the same owner renews it.
pub async fn take(
    c: &impl ConnectionTrait,
    name: &str,
    owner: &str,
    now: Micros,
    ttl: Duration,
) -> Result<bool, DbErr> {
    let backend = c.get_database_backend();
    c.execute_raw(stmt(
        backend,
        "INSERT INTO sync_cursors (name, cursor, updated_at) VALUES (?, '', 0) ON CONFLICT (name) DO NOTHING",
        [name.into()],
    ))
    .await?;
    let expired = now.minus(ttl);
    let taken = c
        .execute_raw(stmt(
            backend,
            "UPDATE sync_cursors SET cursor = ?, updated_at = ? WHERE name = ? AND (updated_at < ? OR cursor = ?)",
            [owner.into(), now.0.into(), name.into(), expired.0.into(), owner.into()],
        ))
        .await?
        .rows_affected();
    Ok(taken == 1)
}

/// Gives the lease back (only if `owner` still holds it).
pub async fn release(c: &impl ConnectionTrait, name: &str, owner: &str) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE sync_cursors SET updated_at = 0 WHERE name = ? AND cursor = ?",
        [name.into(), owner.into()],
    ))
    .await
    .map(|_| ())
}

/// Removes a lease that will not be needed again, if `owner` still holds it.
pub async fn forget(c: &impl ConnectionTrait, name: &str, owner: &str) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "DELETE FROM sync_cursors WHERE name = ? AND cursor = ?",
        [name.into(), owner.into()],
    ))
    .await
    .map(|_| ())
}
