use sea_orm_migration::prelude::*;

/// Events of one organization are applied in arrival order even with several
/// reconcilers: the claim takes only the oldest pending event of each key.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InboxEvents {
    Table,
    OrderKey,
    Status,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(InboxEvents::Table)
                    .add_column_if_not_exists(ColumnDef::new(InboxEvents::OrderKey).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("inbox_events_status_order_key_seq")
                    .table(InboxEvents::Table)
                    .col(InboxEvents::Status)
                    .col(InboxEvents::OrderKey)
                    .col(InboxEvents::Seq)
                    .to_owned(),
            )
            .await
    }
}
