use sea_orm_migration::{prelude::*, schema::*};

/// Every admin action that changes something, append-only (CONTRACT 3.3):
/// when, the client address, the route, the plan, the values before and
/// after. Never pruned with the inbox.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminChanges {
    Table,
    Seq,
    At,
    Client,
    Method,
    Route,
    Path,
    PlanId,
    Status,
    Before,
    After,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminChanges::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AdminChanges::Seq))
                    .col(big_integer(AdminChanges::At))
                    .col(string(AdminChanges::Client))
                    .col(string(AdminChanges::Method))
                    .col(string(AdminChanges::Route))
                    .col(string(AdminChanges::Path))
                    .col(string_null(AdminChanges::PlanId))
                    .col(integer(AdminChanges::Status))
                    .col(text_null(AdminChanges::Before))
                    .col(text_null(AdminChanges::After))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX IF NOT EXISTS admin_changes_plan ON admin_changes (plan_id, seq)")
            .await?;
        Ok(())
    }
}
