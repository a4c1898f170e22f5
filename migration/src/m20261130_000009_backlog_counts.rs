use sea_orm_migration::prelude::*;

/// `/metrics` counts the backlog by status (pending, parked, held, failed),
/// never the settled history: each count reads one small partial index, so
/// its cost follows the backlog, not the millions of applied events. Pending
/// and parked rows have theirs already; held and failed get one each.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX IF NOT EXISTS inbox_events_held_seq ON inbox_events (seq) WHERE status = 'held'",
            "CREATE INDEX IF NOT EXISTS inbox_events_failed_seq ON inbox_events (seq) WHERE status = 'failed'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
