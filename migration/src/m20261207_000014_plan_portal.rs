use sea_orm_migration::prelude::*;

/// The customer's admin in the loop (CONTRACT 3.6, 4.1, 7.1): plan portal links
/// and sessions (stored hashed), the grant guard's limit and which guard holds
/// a plan, notices in the billing outbox beside seat messages, and who made a
/// hand change (the operator or the portal).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            // NULL: off (the default), so the help text's rule is unchanged.
            "ALTER TABLE plans ADD COLUMN grant_limit INTEGER NULL",
            // Which guard holds the plan: 'release' or 'grant' (NULL: no hold).
            "ALTER TABLE plans ADD COLUMN hold_kind VARCHAR NULL",
            // `plan.seats.updated`, or a notice whose data is `notice` (JSON).
            "ALTER TABLE outbound_messages ADD COLUMN kind VARCHAR NOT NULL DEFAULT 'plan.seats.updated'",
            "ALTER TABLE outbound_messages ADD COLUMN notice TEXT NULL",
            // A hand change's author: 'operator' or 'portal' (NULL: the directory).
            "ALTER TABLE seat_audit ADD COLUMN actor VARCHAR NULL",
            "ALTER TABLE admin_changes ADD COLUMN source VARCHAR NOT NULL DEFAULT 'admin'",
            "CREATE TABLE IF NOT EXISTS portal_links (token_hash VARCHAR NOT NULL PRIMARY KEY, \
               plan_id VARCHAR NOT NULL, return_url TEXT NULL, created_at BIGINT NOT NULL, \
               expires_at BIGINT NOT NULL, used_at BIGINT NULL)",
            "CREATE INDEX IF NOT EXISTS portal_links_plan ON portal_links (plan_id)",
            "CREATE TABLE IF NOT EXISTS portal_sessions (token_hash VARCHAR NOT NULL PRIMARY KEY, \
               plan_id VARCHAR NOT NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, \
               expires_at BIGINT NOT NULL, revoked_at BIGINT NULL, return_url TEXT NULL)",
            "CREATE INDEX IF NOT EXISTS portal_sessions_plan ON portal_sessions (plan_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        // The plan list's order (CONTRACT 3.3), bytewise on both stores: a page
        // reads what it shows.
        let order = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "CREATE INDEX IF NOT EXISTS plans_name_id ON plans (name COLLATE \"C\", id)"
            }
            _ => "CREATE INDEX IF NOT EXISTS plans_name_id ON plans (name, id)",
        };
        db.execute_unprepared(order).await?;
        Ok(())
    }
}
