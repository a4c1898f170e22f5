//! Writes plans' outbound messages in the transaction that changed their seats
//! (CONTRACT 7): called once, just before every commit that may have changed
//! seats, with the plans the transaction locked. Which targets get a message
//! is read from the database (`outbox::registered`), never from the settings of
//! the process making the change: a shell command writes what `serve` would. A message carries each
//! plan's audit rows that no message carried yet (after `plans.announced_seq`),
//! so a rolled-back change leaves none and a committed one always has its
//! message, and one transaction makes one message per plan and target.
//!
//! Why that is exact: audit rows are only written under the plan's lock, which
//! the caller still holds, so every row after `announced_seq` that this
//! transaction can see is its own (earlier transactions announced theirs).
//! A batch touches many plans, so the reads and the inserts cover them all in
//! a few statements, whatever their number.
use super::{Targets, notice::Notice};
use crate::{
    db::stmt,
    domain::{Micros, PlanId, Target},
    store::{
        col,
        outbound::{self, Snapshot},
        typed_col,
    },
};
use sea_orm::{ConnectionTrait, DbErr, Value};
use std::collections::HashMap;

/// What a plan row says about its billing.
struct PlanBilling {
    announced_seq: i64,
    billing_sequence: i64,
    organization_id: Option<String>,
    external_id: Option<String>,
    mode: String,
    stripe_item: Option<String>,
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn ids(plans: &[PlanId]) -> Vec<Value> {
    plans.iter().map(|p| p.as_str().into()).collect()
}

async fn read_plan_billings(c: &impl ConnectionTrait, plans: &[PlanId]) -> Result<HashMap<PlanId, PlanBilling>, DbErr> {
    let sql = format!(
        "SELECT id, announced_seq, billing_sequence, organization_id, external_id, mode, stripe_subscription_item \
         FROM plans WHERE id IN ({})",
        placeholders(plans.len())
    );
    let rows = c.query_all_raw(stmt(c.get_database_backend(), &sql, ids(plans))).await?;
    rows.iter()
        .map(|r| {
            Ok((
                typed_col(r, "id", PlanId::parse)?,
                PlanBilling {
                    announced_seq: col(r, "announced_seq")?,
                    billing_sequence: col(r, "billing_sequence")?,
                    organization_id: col(r, "organization_id")?,
                    external_id: col(r, "external_id")?,
                    mode: col(r, "mode")?,
                    stripe_item: col(r, "stripe_subscription_item")?,
                },
            ))
        })
        .collect()
}

/// The targets a plan's messages go to.
fn targets_of(targets: Targets, billing: &PlanBilling) -> Vec<Target> {
    let mut out = Vec::new();
    if targets.webhook {
        out.push(Target::Webhook);
    }
    if targets.stripe && billing.stripe_item.is_some() {
        out.push(Target::Stripe);
    }
    out
}

/// Writes the message(s) for the seat changes this transaction made to each
/// of `plans`, if it made any. Returns how many messages were written.
/// The targets are read under the plans' locks: a target registered
/// meanwhile either is seen here or sends these plans' seats itself
/// (`operator::billing_targets::register` takes each plan's lock).
pub async fn announce(c: &impl ConnectionTrait, plans: &[PlanId], now: Micros) -> Result<usize, DbErr> {
    announce_traced(c, plans, now, &HashMap::new()).await
}

/// `announce`, each plan's message carrying the trace of the change that
/// last touched it (`traces`), else the current span's (CONTRACT 7.1).
pub async fn announce_traced(
    c: &impl ConnectionTrait,
    plans: &[PlanId],
    now: Micros,
    traces: &HashMap<PlanId, String>,
) -> Result<usize, DbErr> {
    if plans.is_empty() {
        return Ok(0);
    }
    announce_to(c, plans, registered(c).await?, now, traces).await
}

/// `announce` with the registered targets already read (in this transaction).
async fn announce_to(
    c: &impl ConnectionTrait,
    plans: &[PlanId],
    targets: Targets,
    now: Micros,
    traces: &HashMap<PlanId, String>,
) -> Result<usize, DbErr> {
    let backend = c.get_database_backend();
    if !targets.any() {
        // Nobody to tell: only remember how far the audit was told, so turning
        // billing on later does not send the past. Plans without new rows are
        // not touched (nor waited for).
        // The plans' marks move on by this transaction's changes (read from
        // its own audit rows, never by counting members).
        let sql = format!(
            "UPDATE plans SET paid_marked = paid_marked + (SELECT COALESCE(SUM(CASE WHEN a.to_tier = 'paid' THEN 1 \
               ELSE 0 END - CASE WHEN a.from_tier = 'paid' THEN 1 ELSE 0 END), 0) FROM seat_audit a \
               WHERE a.plan_id = plans.id AND a.seq > plans.announced_seq), \
             announced_seq = (SELECT MAX(seq) FROM seat_audit WHERE plan_id = plans.id) \
             WHERE id IN ({}) AND EXISTS (SELECT 1 FROM seat_audit a WHERE a.plan_id = plans.id \
               AND a.seq > plans.announced_seq) RETURNING announced_seq, paid_marked",
            placeholders(plans.len())
        );
        let mut marks = Vec::new();
        for row in c.query_all_raw(stmt(backend, &sql, ids(plans))).await? {
            marks.push((col::<i64>(&row, "announced_seq")?, col::<i64>(&row, "paid_marked")?));
        }
        mark_paid_after(c, &marks).await?;
        return Ok(0);
    }
    let plan_billings = read_plan_billings(c, plans).await?;
    if plan_billings.is_empty() {
        return Ok(0);
    }
    // Each plan's newest audit row past its bound: ranges of the (plan, seq)
    // index, never a plan's whole history, and no row is read itself (the
    // message names its changes as a range; the deliverer reads them).
    let mut values: Vec<Value> = Vec::with_capacity(plan_billings.len() * 2);
    let mut ranges = Vec::with_capacity(plan_billings.len());
    for (plan, billing) in &plan_billings {
        ranges.push("(plan_id = ? AND seq > ?)");
        values.extend([plan.as_str().into(), billing.announced_seq.into()]);
    }
    let sql =
        format!("SELECT plan_id, MAX(seq) AS last FROM seat_audit WHERE {} GROUP BY plan_id", ranges.join(" OR "));
    let mut last: HashMap<PlanId, i64> = HashMap::new();
    for row in c.query_all_raw(stmt(backend, &sql, values)).await? {
        last.insert(typed_col(&row, "plan_id", PlanId::parse)?, col(&row, "last")?);
    }
    if last.is_empty() {
        return Ok(0);
    }
    // In the caller's order: messages are written in a stable order.
    let changed: Vec<PlanId> = plans.iter().filter(|p| last.contains_key(*p)).cloned().collect();
    let counts = seat_counts(c, &changed).await?;
    remember_paid(c, &last, &counts).await?;
    let current = crate::telemetry::trace_context::current();
    let mut messages = Vec::new();
    for plan in &changed {
        let (Some(billing), Some(last_seq)) = (plan_billings.get(plan), last.get(plan)) else { continue };
        let (paid, free) = counts.get(plan).copied().unwrap_or_default();
        let traceparent = traces.get(plan).cloned().or_else(|| current.clone());
        let to = targets_of(targets, billing);
        messages.push(Outgoing { plan, billing, to, last_seq: *last_seq, paid, free, traceparent });
    }
    write(c, messages, now).await
}

/// One plan's message, ready to store.
struct Outgoing<'a> {
    plan: &'a PlanId,
    billing: &'a PlanBilling,
    to: Vec<Target>,
    /// The changes are the audit rows after `billing.announced_seq` through this.
    last_seq: i64,
    paid: u64,
    free: u64,
    traceparent: Option<String>,
}

/// A message with the plan's current seats and no changes, to every
/// registered target that applies, or only to `only` (`billing resend`, a
/// Stripe item just set, a target met for the first time). The caller holds
/// the plan's lock.
pub async fn resend(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    only: Option<Target>,
    now: Micros,
) -> Result<usize, DbErr> {
    let plans = std::slice::from_ref(plan);
    let registered = registered(c).await?;
    // Changes not announced yet are told first, in their own message.
    announce_to(c, plans, registered, now, &HashMap::new()).await?;
    let mut targets = registered;
    if let Some(only) = only {
        targets = Targets {
            webhook: targets.webhook && only == Target::Webhook,
            stripe: targets.stripe && only == Target::Stripe,
        };
    }
    let plan_billings = read_plan_billings(c, plans).await?;
    let Some(billing) = plan_billings.get(plan) else { return Ok(0) };
    let (paid, free) = seat_counts(c, plans).await?.get(plan).copied().unwrap_or_default();
    let outgoing = Outgoing {
        plan,
        billing,
        to: targets_of(targets, billing),
        last_seq: billing.announced_seq,
        paid,
        free,
        traceparent: crate::telemetry::trace_context::current(),
    };
    write(c, vec![outgoing], now).await
}

/// A notice (CONTRACT 7.1) to the webhook target, if one is registered, after
/// the plan's seat message for any change not told yet: in the same order, and
/// the same `sequence`, as the plan's seat messages. The caller holds the
/// plan's lock, in the transaction that caused it. Returns how many were written.
pub async fn notify(c: &impl ConnectionTrait, plan: &PlanId, notice: &Notice, now: Micros) -> Result<usize, DbErr> {
    let plans = std::slice::from_ref(plan);
    let registered = registered(c).await?;
    announce_to(c, plans, registered, now, &HashMap::new()).await?;
    if !registered.webhook {
        return Ok(0);
    }
    let plan_billings = read_plan_billings(c, plans).await?;
    let Some(billing) = plan_billings.get(plan) else { return Ok(0) };
    let (paid, free) = seat_counts(c, plans).await?.get(plan).copied().unwrap_or_default();
    let position = billing.billing_sequence + 1;
    let snapshot = Snapshot {
        organization_id: billing.organization_id.clone(),
        external_id: billing.external_id.clone(),
        mode: billing.mode.clone(),
        paid_seats: i64::try_from(paid).unwrap_or(i64::MAX),
        free_seats: i64::try_from(free).unwrap_or(i64::MAX),
        // No changes of its own: the seat message before it carried them.
        audit_after: billing.announced_seq,
        audit_through: billing.announced_seq,
    };
    let stored = notice.stored();
    move_on(c, &[(plan, billing.announced_seq, position)]).await?;
    let traceparent = crate::telemetry::trace_context::current();
    let message = outbound::NewMessage {
        plan,
        target: Target::Webhook,
        position,
        snapshot: &snapshot,
        notice: Some((notice.type_name(), stored.as_str())),
        traceparent: traceparent.as_deref(),
    };
    outbound::insert_many(c, std::slice::from_ref(&message), now).await?;
    Ok(1)
}

/// A message's plan, targets, position, snapshot and trace, ready to store.
type StoredMessage<'a> = (&'a PlanId, &'a [Target], i64, Snapshot, Option<&'a str>);

/// Inserts the messages (one statement for many) and moves each plan's
/// `announced_seq` and `billing_sequence` (the plan's message positions) on.
async fn write(c: &impl ConnectionTrait, messages: Vec<Outgoing<'_>>, now: Micros) -> Result<usize, DbErr> {
    let mut snapshots: Vec<StoredMessage<'_>> = Vec::new();
    let mut moved: Vec<(&PlanId, i64, i64)> = Vec::with_capacity(messages.len());
    for m in &messages {
        let position = m.billing.billing_sequence + if m.to.is_empty() { 0 } else { 1 };
        if !m.to.is_empty() {
            let snapshot = Snapshot {
                organization_id: m.billing.organization_id.clone(),
                external_id: m.billing.external_id.clone(),
                mode: m.billing.mode.clone(),
                paid_seats: i64::try_from(m.paid).unwrap_or(i64::MAX),
                free_seats: i64::try_from(m.free).unwrap_or(i64::MAX),
                audit_after: m.billing.announced_seq,
                audit_through: m.last_seq,
            };
            snapshots.push((m.plan, &m.to, position, snapshot, m.traceparent.as_deref()));
        }
        moved.push((m.plan, m.last_seq, position));
    }
    move_on(c, &moved).await?;
    let rows: Vec<outbound::NewMessage<'_>> = snapshots
        .iter()
        .flat_map(|(plan, to, position, snapshot, traceparent)| {
            to.iter().map(move |target| outbound::NewMessage {
                plan,
                target: *target,
                position: *position,
                snapshot,
                notice: None,
                traceparent: *traceparent,
            })
        })
        .collect();
    outbound::insert_many(c, &rows, now).await?;
    Ok(rows.len())
}

/// Sets each plan's `announced_seq` and `billing_sequence`, all in one statement.
async fn move_on(c: &impl ConnectionTrait, moved: &[(&PlanId, i64, i64)]) -> Result<(), DbErr> {
    if moved.is_empty() {
        return Ok(());
    }
    let mut values: Vec<Value> = Vec::with_capacity(moved.len() * 5);
    let mut seqs = String::new();
    let mut sequences = String::new();
    for (plan, seq, _) in moved {
        seqs.push_str(" WHEN ? THEN CAST(? AS BIGINT)");
        values.extend([plan.as_str().into(), (*seq).into()]);
    }
    for (plan, _, sequence) in moved {
        sequences.push_str(" WHEN ? THEN CAST(? AS BIGINT)");
        values.extend([plan.as_str().into(), (*sequence).into()]);
    }
    values.extend(moved.iter().map(|(plan, _, _)| plan.as_str().into()));
    let sql = format!(
        "UPDATE plans SET announced_seq = CASE id{seqs} END, billing_sequence = CASE id{sequences} END \
         WHERE id IN ({})",
        placeholders(moved.len())
    );
    c.execute_raw(stmt(c.get_database_backend(), &sql, values)).await.map(|_| ())
}

/// Each plan's last audit row of this transaction records the plan's paid
/// seats after it (`seat_audit.paid_after`): the state between transactions,
/// which `GET /admin/plans/{id}/history` reads one index lookup a point.
/// `marks`: (the row's `seq`, the paid seats), one statement for them all.
async fn mark_paid_after(c: &impl ConnectionTrait, marks: &[(i64, i64)]) -> Result<(), DbErr> {
    if marks.is_empty() {
        return Ok(());
    }
    let mut values: Vec<Value> = Vec::with_capacity(marks.len() * 3);
    let mut cases = String::new();
    for (seq, paid) in marks {
        cases.push_str(" WHEN ? THEN CAST(? AS BIGINT)");
        values.extend([(*seq).into(), (*paid).into()]);
    }
    values.extend(marks.iter().map(|(seq, _)| Value::from(*seq)));
    let sql =
        format!("UPDATE seat_audit SET paid_after = CASE seq{cases} END WHERE seq IN ({})", placeholders(marks.len()));
    c.execute_raw(stmt(c.get_database_backend(), &sql, values)).await.map(|_| ())
}

/// With the counts already read (billing on): marks the audit and keeps each
/// plan's `paid_marked` equal to them.
async fn remember_paid(
    c: &impl ConnectionTrait,
    last: &HashMap<PlanId, i64>,
    counts: &HashMap<PlanId, (u64, u64)>,
) -> Result<(), DbErr> {
    if last.is_empty() {
        return Ok(());
    }
    let paid = |plan: &PlanId| i64::try_from(counts.get(plan).map_or(0, |(paid, _)| *paid)).unwrap_or(i64::MAX);
    let marks: Vec<(i64, i64)> = last.iter().map(|(plan, seq)| (*seq, paid(plan))).collect();
    mark_paid_after(c, &marks).await?;
    let mut values: Vec<Value> = Vec::with_capacity(last.len() * 3);
    let mut cases = String::new();
    for plan in last.keys() {
        cases.push_str(" WHEN ? THEN CAST(? AS BIGINT)");
        values.extend([plan.as_str().into(), paid(plan).into()]);
    }
    values.extend(last.keys().map(|plan| Value::from(plan.as_str())));
    let sql = format!("UPDATE plans SET paid_marked = CASE id{cases} END WHERE id IN ({})", placeholders(last.len()));
    c.execute_raw(stmt(c.get_database_backend(), &sql, values)).await.map(|_| ())
}

/// A plan's paid and free seats now, as this transaction sees them.
pub async fn seat_counts_of(c: &impl ConnectionTrait, plan: &PlanId) -> Result<(u64, u64), DbErr> {
    Ok(seat_counts(c, std::slice::from_ref(plan)).await?.get(plan).copied().unwrap_or_default())
}

/// Paid and free seats now, as this transaction sees them, per plan.
async fn seat_counts(c: &impl ConnectionTrait, plans: &[PlanId]) -> Result<HashMap<PlanId, (u64, u64)>, DbErr> {
    let sql = format!(
        "SELECT plan_id, tier, COUNT(*) AS n FROM members WHERE plan_id IN ({}) GROUP BY plan_id, tier",
        placeholders(plans.len())
    );
    let rows = c.query_all_raw(stmt(c.get_database_backend(), &sql, ids(plans))).await?;
    let mut out: HashMap<PlanId, (u64, u64)> = HashMap::new();
    for row in &rows {
        let n = col::<i64>(row, "n")?.max(0) as u64;
        let counts = out.entry(typed_col(row, "plan_id", PlanId::parse)?).or_default();
        match col::<String>(row, "tier")?.as_str() {
            "paid" => counts.0 = n,
            _ => counts.1 += n,
        }
    }
    Ok(out)
}

/// The targets some `serve` was configured with (`operator::billing_targets::register`), as
/// the database says: every seat change writes messages for these.
pub async fn registered(c: &impl ConnectionTrait) -> Result<Targets, DbErr> {
    let rows = c.query_all_raw(stmt(c.get_database_backend(), "SELECT target FROM billing_targets", [])).await?;
    let mut targets = Targets::default();
    for row in &rows {
        match Target::parse(&col::<String>(row, "target")?) {
            Some(Target::Webhook) => targets.webhook = true,
            Some(Target::Stripe) => targets.stripe = true,
            None => {}
        }
    }
    Ok(targets)
}
