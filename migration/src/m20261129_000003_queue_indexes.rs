use sea_orm_migration::prelude::*;

/// The reconciler's queue reads only unsettled rows, through partial indexes, so
/// the cost of a claim does not grow with the settled history or the backlog,
/// and needs no planner statistics: `pending` by arrival, and each ordering
/// group's unsettled (`pending` or `parked`) rows by arrival.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Same text on SQLite and PostgreSQL: both have partial indexes.
        for sql in [
            "CREATE INDEX IF NOT EXISTS inbox_events_pending_seq ON inbox_events (seq) WHERE status = 'pending'",
            "CREATE INDEX IF NOT EXISTS inbox_events_unsettled_key_seq ON inbox_events (order_key, seq) \
             WHERE status IN ('pending', 'parked')",
            "CREATE INDEX IF NOT EXISTS inbox_events_parked_seq ON inbox_events (seq) WHERE status = 'parked'",
            // Replaced by the partial indexes above; every insert and every
            // status change paid for them.
            "DROP INDEX IF EXISTS inbox_events_status_order_key_seq",
            "DROP INDEX IF EXISTS inbox_events_status_seq",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
