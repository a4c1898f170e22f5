use sea_orm_migration::prelude::*;

/// An approval covers exactly the events held at that moment (CONTRACT 3.3):
/// each one is marked, instead of a `seq` bound that could also let through an
/// event that was never held.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InboxEvents {
    Table,
    Approved,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(InboxEvents::Table)
                    .add_column_if_not_exists(ColumnDef::new(InboxEvents::Approved).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }
}
