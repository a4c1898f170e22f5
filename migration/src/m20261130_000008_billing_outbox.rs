use sea_orm_migration::{prelude::*, schema::*};

/// Seat changes pushed out to billing (CONTRACT 7): an outbox written in the
/// transaction that changes the seats. Each plan counts its messages
/// (`billing_sequence`) and remembers the last audit row a message carried
/// (`announced_seq`); history from before the upgrade is never sent. A message
/// names its changes as a range of the plan's (append-only) audit rows and
/// keeps the counts after them: a small row, however many changes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Plans {
    Table,
    AnnouncedSeq,
    BillingSequence,
    StripeSubscriptionItem,
}

#[derive(DeriveIden)]
enum OutboundMessages {
    Table,
    Id,
    PlanId,
    Target,
    Sequence,
    OrganizationId,
    Mode,
    PaidSeats,
    FreeSeats,
    AuditAfter,
    AuditThrough,
    State,
    Attempts,
    NextAttemptAt,
    LastStatus,
    LastError,
    CreatedAt,
    DeliveredAt,
    LeaseOwner,
    LeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            ColumnDef::new(Plans::AnnouncedSeq).big_integer().not_null().default(0).to_owned(),
            ColumnDef::new(Plans::BillingSequence).big_integer().not_null().default(0).to_owned(),
            ColumnDef::new(Plans::StripeSubscriptionItem).string().null().to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(Table::alter().table(Plans::Table).add_column_if_not_exists(&mut column).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(OutboundMessages::Table)
                    .if_not_exists()
                    .col(string(OutboundMessages::Id).primary_key())
                    .col(string(OutboundMessages::PlanId))
                    .col(string(OutboundMessages::Target))
                    .col(big_integer(OutboundMessages::Sequence))
                    .col(string_null(OutboundMessages::OrganizationId))
                    .col(string(OutboundMessages::Mode))
                    .col(big_integer(OutboundMessages::PaidSeats))
                    .col(big_integer(OutboundMessages::FreeSeats))
                    .col(big_integer(OutboundMessages::AuditAfter))
                    .col(big_integer(OutboundMessages::AuditThrough))
                    .col(string(OutboundMessages::State))
                    .col(integer(OutboundMessages::Attempts).default(0))
                    .col(big_integer(OutboundMessages::NextAttemptAt))
                    .col(integer_null(OutboundMessages::LastStatus))
                    .col(text_null(OutboundMessages::LastError))
                    .col(big_integer(OutboundMessages::CreatedAt))
                    .col(big_integer_null(OutboundMessages::DeliveredAt))
                    .col(string_null(OutboundMessages::LeaseOwner))
                    .col(big_integer_null(OutboundMessages::LeaseUntil))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in [
            "UPDATE plans SET announced_seq = (SELECT COALESCE(MAX(seq), 0) FROM seat_audit WHERE plan_id = plans.id)",
            // One plan per Stripe item: two would race on its quantity.
            "CREATE UNIQUE INDEX IF NOT EXISTS plans_stripe_item ON plans (stripe_subscription_item)",
            // A plan's messages to one target, in order; one message per sequence.
            "CREATE UNIQUE INDEX IF NOT EXISTS outbound_plan_target_sequence \
             ON outbound_messages (plan_id, target, sequence)",
            // The delivery worker looks only at messages still to send.
            "CREATE INDEX IF NOT EXISTS outbound_unsent_due ON outbound_messages (next_attempt_at) \
             WHERE state IN ('pending', 'failing')",
            "CREATE INDEX IF NOT EXISTS outbound_unsent_plan ON outbound_messages (plan_id, target, sequence) \
             WHERE state IN ('pending', 'failing')",
            // The list, newest first, and retention's delivered rows.
            "CREATE INDEX IF NOT EXISTS outbound_created ON outbound_messages (created_at, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
