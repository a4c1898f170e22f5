use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InboxEvents {
    Table,
    Seq,
    EventId,
    EventType,
    Body,
    ReceivedAt,
    Status,
    Attempts,
    NextAttemptAt,
    AppliedAt,
    Error,
    OrganizationId,
    DirectoryId,
}

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Id,
    Body,
    SignatureTimestampMs,
    ReceivedAt,
    Reason,
}

#[derive(DeriveIden)]
enum Plans {
    Table,
    Id,
    Name,
    OrganizationId,
    Mode,
    TestModeMaxUsers,
    EnforcedAt,
    CreatedAt,
    LockVersion,
}

#[derive(DeriveIden)]
enum Directories {
    Table,
    Id,
    OrganizationId,
    Deleted,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DirectoryUsers {
    Table,
    Id,
    DirectoryId,
    OrganizationId,
    Email,
    State,
    UpdatedAt,
    Deleted,
    Active,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    PlanId,
    Email,
    Tier,
    Source,
    DirectoryUserId,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SeatAudit {
    Table,
    Seq,
    PlanId,
    Email,
    FromTier,
    ToTier,
    Reason,
    EventId,
    At,
}

#[derive(DeriveIden)]
enum SyncCursors {
    Table,
    Name,
    Cursor,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InboxEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(InboxEvents::Seq))
                    .col(string_uniq(InboxEvents::EventId))
                    .col(string(InboxEvents::EventType))
                    .col(blob(InboxEvents::Body))
                    .col(big_integer(InboxEvents::ReceivedAt))
                    .col(string(InboxEvents::Status))
                    .col(integer(InboxEvents::Attempts).default(0))
                    .col(big_integer_null(InboxEvents::NextAttemptAt))
                    .col(big_integer_null(InboxEvents::AppliedAt))
                    .col(text_null(InboxEvents::Error))
                    .col(string_null(InboxEvents::OrganizationId))
                    .col(string_null(InboxEvents::DirectoryId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("inbox_events_status_seq")
                    .table(InboxEvents::Table)
                    .col(InboxEvents::Status)
                    .col(InboxEvents::Seq)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .if_not_exists()
                    .col(big_pk_auto(DeadLetters::Id))
                    .col(blob(DeadLetters::Body))
                    .col(big_integer(DeadLetters::SignatureTimestampMs))
                    .col(big_integer(DeadLetters::ReceivedAt))
                    .col(text(DeadLetters::Reason))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .if_not_exists()
                    .col(string(Plans::Id).primary_key())
                    .col(string(Plans::Name))
                    .col(string_uniq(Plans::OrganizationId))
                    .col(string(Plans::Mode))
                    .col(integer(Plans::TestModeMaxUsers))
                    .col(big_integer_null(Plans::EnforcedAt))
                    .col(big_integer(Plans::CreatedAt))
                    .col(big_integer(Plans::LockVersion).default(0))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Directories::Table)
                    .if_not_exists()
                    .col(string(Directories::Id).primary_key())
                    .col(string(Directories::OrganizationId))
                    .col(boolean(Directories::Deleted))
                    .col(big_integer(Directories::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DirectoryUsers::Table)
                    .if_not_exists()
                    .col(string(DirectoryUsers::Id).primary_key())
                    .col(string(DirectoryUsers::DirectoryId))
                    .col(string(DirectoryUsers::OrganizationId))
                    .col(string(DirectoryUsers::Email))
                    .col(string(DirectoryUsers::State))
                    .col(big_integer(DirectoryUsers::UpdatedAt))
                    .col(boolean(DirectoryUsers::Deleted))
                    .col(boolean(DirectoryUsers::Active))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("directory_users_org_active_email")
                    .table(DirectoryUsers::Table)
                    .col(DirectoryUsers::OrganizationId)
                    .col(DirectoryUsers::Active)
                    .col(DirectoryUsers::Email)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("directory_users_org_email")
                    .table(DirectoryUsers::Table)
                    .col(DirectoryUsers::OrganizationId)
                    .col(DirectoryUsers::Email)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("directory_users_directory")
                    .table(DirectoryUsers::Table)
                    .col(DirectoryUsers::DirectoryId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Members::Table)
                    .if_not_exists()
                    .col(string(Members::PlanId))
                    .col(string(Members::Email))
                    .col(string(Members::Tier))
                    .col(string(Members::Source))
                    .col(string_null(Members::DirectoryUserId))
                    .col(big_integer(Members::UpdatedAt))
                    .primary_key(Index::create().col(Members::PlanId).col(Members::Email))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SeatAudit::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SeatAudit::Seq))
                    .col(string(SeatAudit::PlanId))
                    .col(string(SeatAudit::Email))
                    .col(string_null(SeatAudit::FromTier))
                    .col(string(SeatAudit::ToTier))
                    .col(string(SeatAudit::Reason))
                    .col(string_null(SeatAudit::EventId))
                    .col(big_integer(SeatAudit::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("seat_audit_plan_seq")
                    .table(SeatAudit::Table)
                    .col(SeatAudit::PlanId)
                    .col(SeatAudit::Seq)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SyncCursors::Table)
                    .if_not_exists()
                    .col(string(SyncCursors::Name).primary_key())
                    .col(string(SyncCursors::Cursor))
                    .col(big_integer(SyncCursors::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
