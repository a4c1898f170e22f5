//! The audit trail of seat changes: append-only, ordered by `seq`.
use super::{
    col,
    directory::{ACTIVE_ELSEWHERE, IN_DIRECTORY},
    enum_col,
    members::{self, SWITCH_TO_PAID},
    organization_value,
};
use crate::{
    db::{chunks, stmt},
    domain::{Actor, DirectoryId, Email, EventId, Micros, OrganizationId, PlanId, Reason, Tier},
};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub email: String,
    pub from: Option<Tier>,
    pub to: Tier,
    pub reason: Reason,
    pub event_id: Option<String>,
    pub at: Micros,
    /// Who made a hand change (None: the directory or the rule).
    pub actor: Option<Actor>,
}

pub struct Change<'a> {
    pub plan: &'a PlanId,
    pub email: &'a Email,
    pub from: Option<Tier>,
    pub to: Tier,
    pub reason: Reason,
    pub event_id: Option<&'a EventId>,
    pub at: Micros,
    /// Who made a hand change (None: the directory or the rule).
    pub actor: Option<Actor>,
}

/// The plan's newest audit row (0 when it has none).
pub async fn last_seq(c: &impl ConnectionTrait, plan: &PlanId) -> Result<i64, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT COALESCE(MAX(seq), 0) AS seq FROM seat_audit WHERE plan_id = ?",
            [plan.as_str().into()],
        ))
        .await?;
    Ok(row.map(|r| col::<i64>(&r, "seq")).transpose()?.unwrap_or(0))
}

pub async fn record(c: &impl ConnectionTrait, change: &Change<'_>) -> Result<(), DbErr> {
    record_many(c, std::slice::from_ref(change)).await
}

/// Appends several changes in one statement, keeping their order.
pub async fn record_many(c: &impl ConnectionTrait, changes: &[Change<'_>]) -> Result<(), DbErr> {
    let size = |c: &Change<'_>| c.plan.as_str().len() + c.email.as_str().len() + 80;
    for chunk in chunks(c.get_database_backend(), changes, 200, size) {
        let mut sql = String::from(
            "INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at, actor) VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
        for (i, change) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, ?, ?, ?)" } else { ", (?, ?, ?, ?, ?, ?, ?, ?)" });
            values.extend([
                change.plan.as_str().into(),
                change.email.as_str().into(),
                change.from.map(|t| t.as_str().to_owned()).into(),
                change.to.as_str().into(),
                change.reason.as_str().into(),
                change.event_id.map(|e| e.as_str().to_owned()).into(),
                change.at.0.into(),
                change.actor.map(Actor::as_str).into(),
            ]);
        }
        c.execute_raw(stmt(c.get_database_backend(), &sql, values)).await?;
    }
    Ok(())
}

/// A plan's rows with `after < seq <= through`, oldest first (a billing
/// message's changes).
pub async fn range(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    after: i64,
    through: i64,
) -> Result<Vec<AuditEntry>, DbErr> {
    let rows = c
        .query_all_raw(stmt(
            c.get_database_backend(),
            "SELECT seq, email, from_tier, to_tier, reason, event_id, at, actor FROM seat_audit \
             WHERE plan_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
            [plan.as_str().into(), after.into(), through.into()],
        ))
        .await?;
    rows.iter().map(entry).collect()
}

fn entry(row: &QueryResult) -> Result<AuditEntry, DbErr> {
    Ok(AuditEntry {
        seq: col(row, "seq")?,
        email: col(row, "email")?,
        from: col::<Option<String>>(row, "from_tier")?.as_deref().and_then(Tier::parse),
        to: enum_col(row, "to_tier", Tier::parse)?,
        reason: enum_col(row, "reason", Reason::parse)?,
        event_id: col(row, "event_id")?,
        at: Micros(col(row, "at")?),
        actor: col::<Option<String>>(row, "actor")?.as_deref().and_then(Actor::parse),
    })
}

/// Seats the directory turned paid (the grant guard's count, CONTRACT 4.1):
/// rows to paid from free or from nothing, with one of `reasons`, after `since`
/// and after the plan's floor.
pub async fn granted_since(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    since: Micros,
    floor: i64,
    reasons: &[Reason],
) -> Result<u64, DbErr> {
    let reasons: Vec<String> = reasons.iter().map(|r| format!("'{}'", r.as_str())).collect();
    super::count(
        c,
        &format!(
            "SELECT COUNT(*) AS n FROM seat_audit WHERE plan_id = ? AND at > ? AND to_tier = 'paid' \
             AND (from_tier IS NULL OR from_tier = 'free') AND seq > ? AND reason IN ({})",
            reasons.join(", ")
        ),
        [plan.as_str().into(), since.0.into(), floor.into()],
    )
    .await
}

/// When the plan's audit begins (None: no row yet).
pub async fn first_at(c: &impl ConnectionTrait, plan: &PlanId) -> Result<Option<Micros>, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT at FROM seat_audit WHERE plan_id = ? ORDER BY seq LIMIT 1",
            [plan.as_str().into()],
        ))
        .await?;
    Ok(row.map(|r| col::<i64>(&r, "at")).transpose()?.map(Micros))
}

/// The plan's paid seats as they stood at `at`: the newest row at or before
/// it that records them (each transaction's last row does). One lookup of the
/// `seat_audit_history` index, whatever the audit's length.
pub async fn paid_at(c: &impl ConnectionTrait, plan: &PlanId, at: Micros) -> Result<u64, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT paid_after FROM seat_audit WHERE plan_id = ? AND at <= ? AND paid_after IS NOT NULL \
             ORDER BY at DESC, seq DESC LIMIT 1",
            [plan.as_str().into(), at.0.into()],
        ))
        .await?;
    Ok(row.map(|r| col::<i64>(&r, "paid_after")).transpose()?.map_or(0, |n| n.max(0) as u64))
}

/// One page, oldest first, after the `after` sequence number. Returns the entries
/// and whether more follow.
pub async fn page(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    after: i64,
    limit: u64,
) -> Result<(Vec<AuditEntry>, bool), DbErr> {
    let rows = c
        .query_all_raw(stmt(
            c.get_database_backend(),
            "SELECT seq, email, from_tier, to_tier, reason, event_id, at, actor FROM seat_audit \
             WHERE plan_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            [plan.as_str().into(), after.into(), (limit as i64 + 1).into()],
        ))
        .await?;
    let more = rows.len() as u64 > limit;
    let entries = rows.iter().take(limit as usize).map(entry).collect::<Result<_, DbErr>>()?;
    Ok((entries, more))
}

/// The enforcement switch's rows, written before the seats change so they
/// describe the seats as they were: every active directory user not paid yet
/// (to paid), then every paid member who is not one (to free). The same sets as
/// `members::enforce` changes.
pub async fn record_enforcement(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    org: Option<&OrganizationId>,
    event: Option<&EventId>,
    now: Micros,
) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let (plan, org, event): (Value, Value, Value) = (plan.as_str().into(), organization_value(org), event_value(event));
    c.execute_raw(stmt(
        backend,
        &format!(
            "INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at) \
             SELECT ?, a.email, m.tier, 'paid', 'enforcement_started', ?, ? {SWITCH_TO_PAID} ORDER BY a.email"
        ),
        [plan.clone(), event.clone(), now.0.into(), org.clone(), true.into(), plan.clone()],
    ))
    .await?;
    c.execute_raw(stmt(
        backend,
        &format!(
            "INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at) \
             SELECT m.plan_id, m.email, 'paid', 'free', 'enforcement_started', ?, ? {} ORDER BY m.email",
            members::switch_to_free()
        ),
        [event, now.0.into(), plan, org, true.into()],
    ))
    .await
    .map(|_| ())
}

/// `dsync.deleted`'s rows (`from = to`): members the directory stood behind and
/// no other directory of the organization does. The set `members::release_directory`
/// turns manual.
pub async fn record_directory_release(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    org: Option<&OrganizationId>,
    dir: &DirectoryId,
    event: Option<&EventId>,
    now: Micros,
) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        &format!(
            "INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at) \
             SELECT m.plan_id, m.email, m.tier, m.tier, 'directory_deleted', ?, ? FROM members m \
             WHERE m.plan_id = ? AND {IN_DIRECTORY} AND NOT {ACTIVE_ELSEWHERE} ORDER BY m.email"
        ),
        [
            event_value(event),
            now.0.into(),
            plan.as_str().into(),
            dir.as_str().into(),
            false.into(),
            organization_value(org),
            dir.as_str().into(),
            true.into(),
        ],
    ))
    .await
    .map(|_| ())
}

fn event_value(event: Option<&EventId>) -> Value {
    event.map(|e| e.as_str().to_owned()).into()
}

/// Paid seats released to free after `since` and after the plan's release floor
/// (the last approval), for the given reasons: the release guard's count.
pub async fn released_since(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    since: Micros,
    floor: i64,
    reasons: &[Reason],
) -> Result<u64, DbErr> {
    let reasons: Vec<String> = reasons.iter().map(|r| format!("'{}'", r.as_str())).collect();
    // `from_tier = 'paid' AND to_tier = 'free'` word for word: the partial index.
    super::count(
        c,
        &format!(
            "SELECT COUNT(*) AS n FROM seat_audit WHERE plan_id = ? AND at > ? \
             AND from_tier = 'paid' AND to_tier = 'free' AND seq > ? AND reason IN ({})",
            reasons.join(", ")
        ),
        [plan.as_str().into(), since.0.into(), floor.into()],
    )
    .await
}
