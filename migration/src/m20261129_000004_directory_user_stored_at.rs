use sea_orm_migration::prelude::*;

/// When seatsync last wrote a directory user (its own clock, unlike WorkOS's
/// `updated_at`): a resync leaves alone users written after its listing began.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DirectoryUsers {
    Table,
    StoredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DirectoryUsers::Table)
                    .add_column_if_not_exists(
                        ColumnDef::new(DirectoryUsers::StoredAt).big_integer().not_null().default(0),
                    )
                    .to_owned(),
            )
            .await
    }
}
