use crate::vocabulary::DELIVERY_STATES;
use sea_orm_migration::prelude::*;

/// Billing that never depends on who made the change, and never goes back
/// (CONTRACT 7, 7.1, 7.2):
/// - `billing_targets`: the targets some `serve` was configured with. Every
///   seat change writes messages for these, whatever process made it; a target
///   met for the first time gets each plan's current seats once (`backfilled_at`
///   is set when that is done).
/// - `billing_streams`: one row per plan and target: the contract's `sequence`
///   (numbered when a message is first attempted, from 1 with no gap), the
///   position of the newest delivered message (an older Stripe message is
///   superseded, never sent), and the lease that keeps one request in flight.
/// - `outbound_messages.position`: the plan's order of messages (what
///   `sequence` was); `sequence` is 0 until the message is first attempted.
///   `schedule_from`: the attempts made before an operator's retry, so a retry
///   starts the schedule again while `attempts` counts every attempt.
///   The per-message lease columns go: the stream's lease replaces them.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == sea_orm::DbBackend::Postgres;
        let mut statements: Vec<String> = vec![
            "CREATE TABLE IF NOT EXISTS billing_targets (target VARCHAR NOT NULL PRIMARY KEY, \
             configured_at BIGINT NOT NULL, backfilled_at BIGINT NULL)"
                .into(),
            "CREATE TABLE IF NOT EXISTS billing_streams (plan_id VARCHAR NOT NULL, target VARCHAR NOT NULL, \
             last_sequence BIGINT NOT NULL DEFAULT 0, delivered_position BIGINT NOT NULL DEFAULT 0, \
             lease_owner VARCHAR NULL, lease_until BIGINT NULL, PRIMARY KEY (plan_id, target))"
                .into(),
            "ALTER TABLE outbound_messages ADD COLUMN position BIGINT NOT NULL DEFAULT 0".into(),
            "ALTER TABLE outbound_messages ADD COLUMN schedule_from INTEGER NOT NULL DEFAULT 0".into(),
            "UPDATE outbound_messages SET position = sequence".into(),
            // The old unique index first: several never-attempted messages of
            // one plan and target all become 0 just below.
            "DROP INDEX IF EXISTS outbound_plan_target_sequence".into(),
            "DROP INDEX IF EXISTS outbound_unsent_plan".into(),
            // A message never attempted has no number yet.
            "UPDATE outbound_messages SET sequence = 0 WHERE attempts = 0 AND state = 'pending'".into(),
            "CREATE UNIQUE INDEX IF NOT EXISTS outbound_plan_target_position \
             ON outbound_messages (plan_id, target, position)"
                .into(),
            "CREATE UNIQUE INDEX IF NOT EXISTS outbound_plan_target_sequence \
             ON outbound_messages (plan_id, target, sequence) WHERE sequence > 0"
                .into(),
            "CREATE INDEX IF NOT EXISTS outbound_unsent_plan ON outbound_messages (plan_id, target, position) \
             WHERE state IN ('pending', 'failing')"
                .into(),
            "ALTER TABLE outbound_messages DROP COLUMN lease_owner".into(),
            "ALTER TABLE outbound_messages DROP COLUMN lease_until".into(),
            // Streams and targets as the messages written so far show them: a
            // target with messages was configured before the upgrade.
            "INSERT INTO billing_streams (plan_id, target, last_sequence, delivered_position) \
             SELECT plan_id, target, MAX(sequence), COALESCE(MAX(CASE WHEN state = 'delivered' THEN position END), 0) \
             FROM outbound_messages GROUP BY plan_id, target"
                .into(),
            "INSERT INTO billing_targets (target, configured_at, backfilled_at) \
             SELECT DISTINCT target, 0, 0 FROM outbound_messages"
                .into(),
        ];
        // `superseded` joins the states the schema accepts.
        let values = DELIVERY_STATES.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ");
        let name = "outbound_messages_state_known";
        if postgres {
            statements.push(format!("ALTER TABLE outbound_messages DROP CONSTRAINT IF EXISTS {name}"));
            statements.push(format!("ALTER TABLE outbound_messages ADD CONSTRAINT {name} CHECK (state IN ({values}))"));
        } else {
            for (on, when) in [("insert", "INSERT".to_owned()), ("update", "UPDATE OF state".to_owned())] {
                statements.push(format!("DROP TRIGGER IF EXISTS {name}_{on}"));
                statements.push(format!(
                    "CREATE TRIGGER {name}_{on} BEFORE {when} ON outbound_messages \
                     WHEN NEW.state NOT IN ({values}) \
                     BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {name}'); END"
                ));
            }
        }
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}
