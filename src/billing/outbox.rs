//! Writes a plan's outbound messages in the transaction that changed its seats
//! (CONTRACT 7): called once per plan just before every commit that may have
//! changed seats. It reads the plan's audit rows that no message carried yet
//! (`plans.announced_seq`), so a rolled-back change leaves none and a committed
//! one always has its message, and one transaction makes one message per plan
//! and target.
//!
//! Why that is exact: audit rows are only written under the plan's lock, which
//! the caller still holds, so every row after `announced_seq` that this
//! transaction can see is its own (earlier transactions announced theirs).
use super::{
    Targets,
    message::{SeatChange, SeatsUpdated},
};
use crate::{
    db::stmt,
    domain::{Micros, PlanId, Target},
    store::{col, outbound},
};
use sea_orm::{ConnectionTrait, DbErr};

/// What the plan row says about its billing.
struct Standing {
    announced_seq: i64,
    billing_sequence: i64,
    organization_id: Option<String>,
    mode: String,
    stripe_item: Option<String>,
}

async fn standing(c: &impl ConnectionTrait, plan: &PlanId) -> Result<Option<Standing>, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT announced_seq, billing_sequence, organization_id, mode, stripe_subscription_item \
             FROM plans WHERE id = ?",
            [plan.as_str().into()],
        ))
        .await?;
    row.map(|r| {
        Ok(Standing {
            announced_seq: col(&r, "announced_seq")?,
            billing_sequence: col(&r, "billing_sequence")?,
            organization_id: col(&r, "organization_id")?,
            mode: col(&r, "mode")?,
            stripe_item: col(&r, "stripe_subscription_item")?,
        })
    })
    .transpose()
}

/// The targets this plan's messages go to.
fn targets_of(targets: Targets, standing: &Standing) -> Vec<Target> {
    let mut out = Vec::new();
    if targets.webhook {
        out.push(Target::Webhook);
    }
    if targets.stripe && standing.stripe_item.is_some() {
        out.push(Target::Stripe);
    }
    out
}

/// Writes the message(s) for the seat changes this transaction made to `plan`,
/// if it made any. Returns how many messages were written.
pub async fn announce(c: &impl ConnectionTrait, plan: &PlanId, targets: Targets, now: Micros) -> Result<usize, DbErr> {
    let backend = c.get_database_backend();
    let Some(standing) = standing(c, plan).await? else { return Ok(0) };
    let to = targets_of(targets, &standing);
    if to.is_empty() {
        // Nobody to tell: only remember how far the audit was told, so turning
        // billing on later does not send the past.
        c.execute_raw(stmt(
            backend,
            "UPDATE plans SET announced_seq = (SELECT MAX(seq) FROM seat_audit WHERE plan_id = ?) \
             WHERE id = ? AND EXISTS (SELECT 1 FROM seat_audit WHERE plan_id = ? AND seq > ?)",
            [plan.as_str().into(), plan.as_str().into(), plan.as_str().into(), standing.announced_seq.into()],
        ))
        .await?;
        return Ok(0);
    }
    let rows = c
        .query_all_raw(stmt(
            backend,
            "SELECT seq, email, from_tier, to_tier, reason FROM seat_audit WHERE plan_id = ? AND seq > ? ORDER BY seq",
            [plan.as_str().into(), standing.announced_seq.into()],
        ))
        .await?;
    let Some(last) = rows.last() else { return Ok(0) };
    let last_seq: i64 = col(last, "seq")?;
    // Every audit row, `from` = `to` ones too (a seat taken over by hand, a
    // directory deleted): the receiver sees what the audit trail says.
    let changes = rows
        .iter()
        .map(|row| {
            Ok(SeatChange {
                email: col(row, "email")?,
                from: col(row, "from_tier")?,
                to: col(row, "to_tier")?,
                reason: col(row, "reason")?,
                audit_seq: col(row, "seq")?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    write(c, plan, &standing, &to, changes, last_seq, now).await
}

/// A message with the plan's current seats and no changes, to every target
/// that applies (`billing resend`, a Stripe item just set).
pub async fn resend(c: &impl ConnectionTrait, plan: &PlanId, targets: Targets, now: Micros) -> Result<usize, DbErr> {
    // Changes not announced yet are told first, in their own message.
    announce(c, plan, targets, now).await?;
    let Some(standing) = standing(c, plan).await? else { return Ok(0) };
    let to = targets_of(targets, &standing);
    if to.is_empty() {
        return Ok(0);
    }
    let announced = standing.announced_seq;
    write(c, plan, &standing, &to, Vec::new(), announced, now).await
}

async fn write(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    standing: &Standing,
    to: &[Target],
    changes: Vec<SeatChange>,
    last_seq: i64,
    now: Micros,
) -> Result<usize, DbErr> {
    let (paid_seats, free_seats) = seat_counts(c, plan).await?;
    let sequence = standing.billing_sequence + 1;
    let message = SeatsUpdated {
        plan_id: plan.to_string(),
        organization_id: standing.organization_id.clone(),
        mode: standing.mode.clone(),
        paid_seats,
        free_seats,
        sequence,
        changes,
    };
    let payload = serde_json::to_string(&message).map_err(|e| DbErr::Custom(format!("a message: {e}")))?;
    for target in to {
        outbound::insert(c, plan, *target, sequence, &payload, now).await?;
    }
    set_announced(c, plan, last_seq, sequence).await?;
    Ok(to.len())
}

async fn set_announced(c: &impl ConnectionTrait, plan: &PlanId, seq: i64, sequence: i64) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE plans SET announced_seq = ?, billing_sequence = ? WHERE id = ?",
        [seq.into(), sequence.into(), plan.as_str().into()],
    ))
    .await
    .map(|_| ())
}

/// Paid and free seats now, as this transaction sees them.
async fn seat_counts(c: &impl ConnectionTrait, plan: &PlanId) -> Result<(u64, u64), DbErr> {
    let rows = c
        .query_all_raw(stmt(
            c.get_database_backend(),
            "SELECT tier, COUNT(*) AS n FROM members WHERE plan_id = ? GROUP BY tier",
            [plan.as_str().into()],
        ))
        .await?;
    let (mut paid, mut free) = (0, 0);
    for row in &rows {
        let n = col::<i64>(row, "n")?.max(0) as u64;
        match col::<String>(row, "tier")?.as_str() {
            "paid" => paid = n,
            _ => free += n,
        }
    }
    Ok((paid, free))
}
