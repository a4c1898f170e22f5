use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// A plan may exist before its WorkOS organization does ("Configure SCIM"
/// creates it): `plans.organization_id` becomes nullable, still unique.
#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "id, name, organization_id, mode, test_mode_max_users, enforced_at, created_at, \
                       lock_version, release_limit, hold_since, approved_through, release_floor";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("ALTER TABLE plans ALTER COLUMN organization_id DROP NOT NULL").await?;
            }
            _ => {
                // SQLite cannot drop NOT NULL in place: the table is rebuilt with
                // the same columns (no other table refers to it by a foreign key).
                db.execute_unprepared(
                    "CREATE TABLE plans_new ( \"id\" varchar NOT NULL PRIMARY KEY, \"name\" varchar NOT NULL, \
                     \"organization_id\" varchar NULL UNIQUE, \"mode\" varchar NOT NULL, \
                     \"test_mode_max_users\" integer NOT NULL, \"enforced_at\" integer NULL, \
                     \"created_at\" integer NOT NULL, \"lock_version\" integer NOT NULL DEFAULT 0, \
                     \"release_limit\" integer NULL, \"hold_since\" integer NULL, \
                     \"approved_through\" integer NULL, \"release_floor\" integer NOT NULL DEFAULT 0)",
                )
                .await?;
                db.execute_unprepared(&format!("INSERT INTO plans_new ({COLUMNS}) SELECT {COLUMNS} FROM plans"))
                    .await?;
                db.execute_unprepared("DROP TABLE plans").await?;
                db.execute_unprepared("ALTER TABLE plans_new RENAME TO plans").await?;
            }
        }
        Ok(())
    }
}
