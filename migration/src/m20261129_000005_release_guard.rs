use sea_orm_migration::prelude::*;

/// The release guard (CONTRACT 4.1): a per-plan limit, the hold, what an
/// approval lets through, and where the guard's count starts again. Held events
/// block their group like parked ones, so the queue's partial index covers them.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Plans {
    Table,
    ReleaseLimit,
    HoldSince,
    ApprovedThrough,
    ReleaseFloor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            ColumnDef::new(Plans::ReleaseLimit).integer().null().to_owned(),
            ColumnDef::new(Plans::HoldSince).big_integer().null().to_owned(),
            ColumnDef::new(Plans::ApprovedThrough).big_integer().null().to_owned(),
            ColumnDef::new(Plans::ReleaseFloor).big_integer().not_null().default(0).to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(Table::alter().table(Plans::Table).add_column_if_not_exists(&mut column).to_owned())
                .await?;
        }
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX IF NOT EXISTS inbox_events_blocking_key_seq ON inbox_events (order_key, seq) \
             WHERE status IN ('pending', 'parked', 'held')",
            "DROP INDEX IF EXISTS inbox_events_unsettled_key_seq",
            // Claims look for pending rows with no back-off, and for back-offs
            // that ran out, each through its own index (see `inbox::queue::claim`).
            "CREATE INDEX IF NOT EXISTS inbox_events_ready_seq ON inbox_events (seq) \
             WHERE status = 'pending' AND next_attempt_at IS NULL",
            "CREATE INDEX IF NOT EXISTS inbox_events_retry_at ON inbox_events (next_attempt_at) \
             WHERE status = 'pending' AND next_attempt_at IS NOT NULL",
            "DROP INDEX IF EXISTS inbox_events_pending_seq",
            // The guard's count reads only releases, never the grants beside them.
            "CREATE INDEX IF NOT EXISTS seat_audit_releases ON seat_audit (plan_id, at) \
             WHERE from_tier = 'paid' AND to_tier = 'free'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
