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
            "CREATE INDEX IF NOT EXISTS seat_audit_plan_at ON seat_audit (plan_id, at)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
