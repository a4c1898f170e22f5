use sea_orm_migration::prelude::*;

/// A delivery's trace across the hand-offs (CONTRACT 7.1, W3C `traceparent`
/// on the event and on the billing message it caused), and the plan's paid
/// seats after each audit row, so its history over time is one index lookup a
/// point (CONTRACT 3.3 `history`), whatever the audit's length.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE inbox_events ADD COLUMN traceparent VARCHAR NULL",
            "ALTER TABLE outbound_messages ADD COLUMN traceparent VARCHAR NULL",
            "ALTER TABLE seat_audit ADD COLUMN paid_after BIGINT NULL",
            // The plan's paid seats at its last mark (every committed change is
            // announced, so today that is its paid members).
            "ALTER TABLE plans ADD COLUMN paid_marked BIGINT NOT NULL DEFAULT 0",
            "UPDATE plans SET paid_marked = (SELECT COUNT(*) FROM members m WHERE m.plan_id = plans.id \
               AND m.tier = 'paid')",
            // The rows written before: a running sum of each plan's paid
            // seats from its first row (the audit records every tier change).
            "UPDATE seat_audit SET paid_after = w.paid FROM (SELECT seq, SUM(CASE WHEN to_tier = 'paid' THEN 1 ELSE 0 END \
               - CASE WHEN from_tier = 'paid' THEN 1 ELSE 0 END) OVER (PARTITION BY plan_id ORDER BY seq) AS paid \
               FROM seat_audit) w WHERE seat_audit.seq = w.seq",
            // From now on only each transaction's last row per plan has it (the
            // state between transactions): a point is its latest one.
            "CREATE INDEX IF NOT EXISTS seat_audit_history ON seat_audit (plan_id, at, seq) WHERE paid_after IS NOT NULL",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
