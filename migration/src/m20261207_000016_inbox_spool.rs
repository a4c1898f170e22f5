use sea_orm_migration::prelude::*;

/// SQLite's intake spool (issue 40): deliveries are committed to a file of
/// their own (`<database>-inbox`) and moved from there into `inbox_events`.
/// This row says how far the move has come for one spool file, written in the
/// same transaction as the moved rows. The spool's id is in the row, so a
/// spool file made anew (after a restore) is moved from its start. Unused on
/// PostgreSQL, where intake writes `inbox_events` itself.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS inbox_spool_moves (spool_id VARCHAR NOT NULL PRIMARY KEY, \
                 moved_seq BIGINT NOT NULL)",
            )
            .await?;
        Ok(())
    }
}
