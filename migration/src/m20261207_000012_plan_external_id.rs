use sea_orm_migration::prelude::*;

/// The product's own id for a plan's customer (CONTRACT 3.3, 7.1): optional,
/// unique, and carried in every billing message (kept with the message, like
/// its organization, so a retry sends the same body).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE plans ADD COLUMN external_id VARCHAR NULL",
            // NULLs never collide: plans without one are not limited.
            "CREATE UNIQUE INDEX IF NOT EXISTS plans_external_id ON plans (external_id)",
            "ALTER TABLE outbound_messages ADD COLUMN external_id VARCHAR NULL",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
