//! The schema itself refuses a status, tier, source, mode or reason outside
//! its vocabulary (migration 10), whatever code writes it: a CHECK constraint
//! on PostgreSQL, a trigger on SQLite.
use crate::both_stores;
use crate::helpers::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Iterable, Statement};
use std::collections::BTreeSet;

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<u64, String> {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| e.to_string())
}

async fn a_value_outside_its_vocabulary_is_refused_by_the_database(store: Store) {
    let database = TestDatabase::create(store).await;
    let db = migrated(&database).await;
    let plan = "INSERT INTO plans (id, name, organization_id, mode, test_mode_max_users, created_at) \
                VALUES ('plan_schema', 'Schema', 'org_schema', '{mode}', 10, 0)";
    assert!(exec(&db, &plan.replace("{mode}", "gold")).await.is_err(), "a plan mode outside test/enforced");
    assert_eq!(exec(&db, &plan.replace("{mode}", "test")).await, Ok(1));
    assert!(exec(&db, "UPDATE plans SET mode = 'paused' WHERE id = 'plan_schema'").await.is_err());

    let member = "INSERT INTO members (plan_id, email, tier, source, directory_user_id, updated_at) \
                  VALUES ('plan_schema', 'ada@example.com', '{tier}', '{source}', NULL, 0)";
    let with = |tier: &str, source: &str| member.replace("{tier}", tier).replace("{source}", source);
    assert!(exec(&db, &with("gold", "manual")).await.is_err(), "a tier outside paid/free");
    assert!(exec(&db, &with("paid", "scim")).await.is_err(), "a source outside manual/directory");
    assert_eq!(exec(&db, &with("paid", "manual")).await, Ok(1));
    assert!(exec(&db, "UPDATE members SET tier = 'PAID' WHERE email = 'ada@example.com'").await.is_err());

    let audit = "INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at) \
                 VALUES ('plan_schema', 'ada@example.com', {from}, 'paid', '{reason}', NULL, 0)";
    let row = |from: &str, reason: &str| audit.replace("{from}", from).replace("{reason}", reason);
    assert!(exec(&db, &row("NULL", "because")).await.is_err(), "a reason outside the audit's");
    assert!(exec(&db, &row("'platinum'", "manual")).await.is_err(), "a from tier outside paid/free");
    assert_eq!(exec(&db, &row("NULL", "manual")).await, Ok(1), "no from tier: a new member");

    let event = "INSERT INTO inbox_events (event_id, event_type, body, received_at, status, order_key) \
                 VALUES ('event_schema', 'dsync.user.created', '{}', 0, '{status}', NULL)";
    assert!(exec(&db, &event.replace("{status}", "done")).await.is_err(), "a status outside the queue's");
    assert_eq!(exec(&db, &event.replace("{status}", "pending")).await, Ok(1));
    assert!(exec(&db, "UPDATE inbox_events SET status = 'finished' WHERE event_id = 'event_schema'").await.is_err());
    assert_eq!(exec(&db, "UPDATE inbox_events SET status = 'applied' WHERE event_id = 'event_schema'").await, Ok(1));
}

/// The columns of `table` as the migrations left it.
async fn table_columns(db: &DatabaseConnection, table: &str) -> BTreeSet<String> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!(
            "SELECT column_name AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        _ => format!("SELECT name FROM pragma_table_info('{table}')"),
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

/// An entity's table and columns, as the `entity` crate declares them.
fn declared<E: EntityTrait>() -> (String, BTreeSet<String>) {
    let columns = E::Column::iter().map(|c| sea_orm::IdenStatic::as_str(&c).to_owned()).collect();
    (E::default().table_name().to_owned(), columns)
}

async fn every_entity_matches_its_migrated_table(store: Store) {
    let database = TestDatabase::create(store).await;
    let db = migrated(&database).await;
    let entities = [
        declared::<entity::billing_stream::Entity>(),
        declared::<entity::billing_target::Entity>(),
        declared::<entity::dead_letter::Entity>(),
        declared::<entity::directory::Entity>(),
        declared::<entity::directory_user::Entity>(),
        declared::<entity::inbox_event::Entity>(),
        declared::<entity::member::Entity>(),
        declared::<entity::outbound_message::Entity>(),
        declared::<entity::plan::Entity>(),
        declared::<entity::portal_link::Entity>(),
        declared::<entity::portal_session::Entity>(),
        declared::<entity::seat_audit::Entity>(),
        declared::<entity::sync_cursor::Entity>(),
    ];
    for (table, columns) in entities {
        assert_eq!(table_columns(&db, &table).await, columns, "the entity for {table} and its table differ");
    }
}

both_stores!(a_value_outside_its_vocabulary_is_refused_by_the_database, every_entity_matches_its_migrated_table);

/// Upgrading a database whose receiver was down, with several messages of one
/// plan still waiting, never tried (migration 11 drops the old unique index
/// on their numbers before it clears them).
async fn the_billing_streams_migration_upgrades_a_backlog_of_waiting_messages(store: Store) {
    use migration::MigratorTrait;
    let database = TestDatabase::create(store).await;
    let db = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&database.url).unwrap()).await.unwrap();
    migration::Migrator::up(&db, Some(10)).await.unwrap();
    exec(
        &db,
        "INSERT INTO plans (id, name, organization_id, mode, test_mode_max_users, created_at) \
               VALUES ('plan_up', 'Up', 'org_up', 'test', 10, 0)",
    )
    .await
    .unwrap();
    for (id, sequence, state, attempts) in
        [("msg_a", 1, "delivered", 1), ("msg_b", 2, "pending", 0), ("msg_c", 3, "pending", 0)]
    {
        let sql = format!(
            "INSERT INTO outbound_messages (id, plan_id, target, sequence, organization_id, mode, paid_seats, free_seats, \
             audit_after, audit_through, state, attempts, next_attempt_at, created_at) \
             VALUES ('{id}', 'plan_up', 'webhook', {sequence}, 'org_up', 'test', 1, 0, 0, 1, '{state}', {attempts}, 0, 0)"
        );
        exec(&db, &sql).await.unwrap();
    }
    seatsync::db::migrate(&db).await.expect("the upgrade applies");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, position, sequence FROM outbound_messages ORDER BY id",
        ))
        .await
        .unwrap();
    let got: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "position").unwrap(), r.try_get("", "sequence").unwrap()))
        .collect();
    assert_eq!(got, [("msg_a".into(), 1, 1), ("msg_b".into(), 2, 0), ("msg_c".into(), 3, 0)]);
}

both_stores!(the_billing_streams_migration_upgrades_a_backlog_of_waiting_messages);
