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
            .await?;
        // An approval given before the upgrade and not yet applied keeps its
        // events: those of the plan's groups up to its `seq` bound.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE inbox_events SET approved = true WHERE status IN ('pending', 'parked', 'held') \
                 AND EXISTS (SELECT 1 FROM plans p WHERE p.approved_through IS NOT NULL \
                   AND inbox_events.seq <= p.approved_through \
                   AND (inbox_events.order_key = 'org:' || p.organization_id \
                     OR inbox_events.order_key IN (SELECT 'dir:' || d.id FROM directories d \
                       WHERE d.organization_id = p.organization_id)))",
            )
            .await
            .map(|_| ())
    }
}
