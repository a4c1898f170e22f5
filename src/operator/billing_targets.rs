//! Registering the billing targets a `serve` is configured with (CONTRACT 7);
//! which exist is kept in the database (`billing::outbox::registered`). Every seat change writes messages for them,
//! whatever process made the change (a shell command, a replica without the
//! billing variables); `serve` delivers to the targets it is configured with.
//! A target met for the first time gets each plan's current seats once, not
//! the history.
use crate::{
    billing::{Targets, outbox},
    db::stmt,
    domain::{Micros, PlanId, Target},
    seats::unit::PlanChange,
    store::plans,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

/// Registers the targets this `serve` is configured with. A target new to
/// the database is registered first (from then on every seat change writes
/// its messages), then each plan that has no message for it yet is sent its
/// current seats, under the plan's lock, one plan per transaction; then the
/// target is marked backfilled. Interrupted, the next start carries on.
/// Returns how many plans were sent their seats.
pub async fn register(db: &DatabaseConnection, configured: Targets, now: Micros) -> Result<usize, DbErr> {
    let mut sent = 0;
    for target in configured.list() {
        let backend = db.get_database_backend();
        db.execute_raw(stmt(
            backend,
            "INSERT INTO billing_targets (target, configured_at) VALUES (?, ?) ON CONFLICT (target) DO NOTHING",
            [target.as_str().into(), now.0.into()],
        ))
        .await?;
        let pending = db
            .query_one_raw(stmt(
                backend,
                "SELECT 1 AS one FROM billing_targets WHERE target = ? AND backfilled_at IS NULL",
                [target.as_str().into()],
            ))
            .await?
            .is_some();
        if !pending {
            continue;
        }
        for plan in plans::list(db).await? {
            sent += backfill(db, &plan.id, target, now).await?;
        }
        db.execute_raw(stmt(
            backend,
            "UPDATE billing_targets SET backfilled_at = ? WHERE target = ? AND backfilled_at IS NULL",
            [now.0.into(), target.as_str().into()],
        ))
        .await?;
        tracing::info!(
            billing_target = target.as_str(),
            plans = sent,
            "billing: a new target; each plan's current seats sent once"
        );
    }
    Ok(sent)
}

/// One plan's current seats to a new target, unless it has a message for it.
async fn backfill(db: &DatabaseConnection, plan: &PlanId, target: Target, now: Micros) -> Result<usize, DbErr> {
    // Read under the plan's lock: an item set meanwhile is seen here.
    let Some(change) = PlanChange::begin(db, plan).await? else { return Ok(0) };
    let txn = change.txn();
    if target == Target::Stripe && change.plan().stripe_subscription_item.is_none() {
        return Ok(0);
    }
    let has_one = txn
        .query_one_raw(stmt(
            txn.get_database_backend(),
            "SELECT 1 AS one FROM outbound_messages WHERE plan_id = ? AND target = ? LIMIT 1",
            [plan.as_str().into(), target.as_str().into()],
        ))
        .await?
        .is_some();
    let written = if has_one { 0 } else { outbox::resend(txn, plan, Some(target), now).await? };
    change.commit(now).await?;
    Ok(written.min(1))
}
