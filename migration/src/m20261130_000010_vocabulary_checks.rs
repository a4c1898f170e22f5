use crate::vocabulary::{DELIVERY_STATES, EVENT_STATUSES, PLAN_MODES, REASONS, SOURCES, TARGETS, TIERS};
use sea_orm_migration::prelude::*;

/// The schema guards every status, tier, source, mode and reason column: a
/// value outside its vocabulary is refused by the database whatever code
/// writes it (as River's and Oban's job states are). PostgreSQL gets `CHECK`
/// constraints; SQLite cannot add one to an existing table without rebuilding
/// it, so it gets the same check as triggers on insert and update.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, column, values)`; a NULL passes (only `seat_audit.from_tier` has one).
const GUARDED: &[(&str, &str, &[&str])] = &[
    ("inbox_events", "status", EVENT_STATUSES),
    ("members", "tier", TIERS),
    ("members", "source", SOURCES),
    ("plans", "mode", PLAN_MODES),
    ("seat_audit", "from_tier", TIERS),
    ("seat_audit", "to_tier", TIERS),
    ("seat_audit", "reason", REASONS),
    ("outbound_messages", "state", DELIVERY_STATES),
    ("outbound_messages", "target", TARGETS),
    ("outbound_messages", "mode", PLAN_MODES),
];

fn listed(values: &[&str]) -> String {
    values.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (table, column, values) in GUARDED {
            let values = listed(values);
            let name = format!("{table}_{column}_known");
            let statements = match manager.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    vec![format!("ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} IN ({values}))")]
                }
                _ => ["INSERT", "UPDATE"]
                    .iter()
                    .map(|on| {
                        let when = if *on == "UPDATE" { format!("UPDATE OF {column}") } else { "INSERT".to_owned() };
                        format!(
                            "CREATE TRIGGER IF NOT EXISTS {name}_{} BEFORE {when} ON {table} \
                             WHEN NEW.{column} NOT IN ({values}) \
                             BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {name}'); END",
                            on.to_lowercase()
                        )
                    })
                    .collect(),
            };
            for sql in statements {
                db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }
}
