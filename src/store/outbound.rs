//! The billing outbox (`outbound_messages`): written in the transaction that
//! changed the seats (`billing::outbox`), sent by `billing::delivery`. A
//! message is sent by whoever holds its lease; a replica that dies mid-send
//! lets the lease run out and another sends it again, with the same id.
use super::{col, enum_col, typed_col};
use crate::{
    db::{chunks, stmt},
    domain::{DeliveryState, Micros, PlanId, Target},
};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub plan_id: PlanId,
    pub target: Target,
    pub sequence: i64,
    pub snapshot: Snapshot,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: Micros,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: Micros,
    pub delivered_at: Option<Micros>,
}

/// What a message says: the plan after the changes, and which audit rows the
/// changes are (`audit_after < seq <= audit_through`; the audit is append-only,
/// so the range always reads the same rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub organization_id: Option<String>,
    pub mode: String,
    pub paid_seats: i64,
    pub free_seats: i64,
    pub audit_after: i64,
    pub audit_through: i64,
}

const COLUMNS: &str = "id, plan_id, target, sequence, organization_id, mode, paid_seats, free_seats, audit_after, \
                       audit_through, state, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at";
const UNSENT: &str = "state IN ('pending', 'failing')";

fn from_row(row: &QueryResult) -> Result<Message, DbErr> {
    Ok(Message {
        id: col(row, "id")?,
        plan_id: typed_col(row, "plan_id", PlanId::parse)?,
        target: enum_col(row, "target", Target::parse)?,
        sequence: col(row, "sequence")?,
        snapshot: Snapshot {
            organization_id: col(row, "organization_id")?,
            mode: col(row, "mode")?,
            paid_seats: col(row, "paid_seats")?,
            free_seats: col(row, "free_seats")?,
            audit_after: col(row, "audit_after")?,
            audit_through: col(row, "audit_through")?,
        },
        state: enum_col(row, "state", DeliveryState::parse)?,
        attempts: col(row, "attempts")?,
        next_attempt_at: Micros(col(row, "next_attempt_at")?),
        last_status: col(row, "last_status")?,
        last_error: col(row, "last_error")?,
        created_at: Micros(col(row, "created_at")?),
        delivered_at: col::<Option<i64>>(row, "delivered_at")?.map(Micros),
    })
}

/// A new message id: sortable, so the list's order is the creation order.
pub fn new_id() -> String {
    format!("msg_{}", ulid::Ulid::new())
}

/// A message to store (`billing::outbox`).
pub struct NewMessage<'a> {
    pub plan: &'a PlanId,
    pub target: Target,
    pub sequence: i64,
    pub snapshot: &'a Snapshot,
}

/// Stores messages, many to a statement; each gets a new id.
pub async fn insert_many(c: &impl ConnectionTrait, messages: &[NewMessage<'_>], now: Micros) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let size = |m: &NewMessage<'_>| m.plan.as_str().len() + 200;
    for chunk in chunks(backend, messages, 100, size) {
        let mut sql = String::from(
            "INSERT INTO outbound_messages (id, plan_id, target, sequence, organization_id, mode, paid_seats, \
             free_seats, audit_after, audit_through, state, attempts, next_attempt_at, created_at) VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 12);
        for (i, m) in chunk.iter().enumerate() {
            let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)";
            sql.push_str(if i == 0 { "" } else { ", " });
            sql.push_str(row);
            let s = m.snapshot;
            values.extend([
                new_id().into(),
                m.plan.as_str().into(),
                m.target.as_str().into(),
                m.sequence.into(),
                s.organization_id.clone().into(),
                s.mode.as_str().into(),
                s.paid_seats.into(),
                s.free_seats.into(),
                s.audit_after.into(),
                s.audit_through.into(),
                now.0.into(),
                now.0.into(),
            ]);
        }
        c.execute_raw(stmt(backend, &sql, values)).await?;
    }
    Ok(())
}

pub async fn get(c: &impl ConnectionTrait, id: &str) -> Result<Option<Message>, DbErr> {
    c.query_one_raw(stmt(
        c.get_database_backend(),
        &format!("SELECT {COLUMNS} FROM outbound_messages WHERE id = ?"),
        [id.into()],
    ))
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Messages that are due, not being sent, and first of their plan and target
/// (nothing unsent before them): at most one per plan and target.
pub async fn due_heads(
    c: &impl ConnectionTrait,
    targets: &[Target],
    now: Micros,
    limit: usize,
) -> Result<Vec<Message>, DbErr> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<String> = targets.iter().map(|t| format!("'{}'", t.as_str())).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM outbound_messages m WHERE m.{UNSENT} AND m.next_attempt_at <= ? \
         AND m.target IN ({}) AND (m.lease_until IS NULL OR m.lease_until <= ?) \
         AND NOT EXISTS (SELECT 1 FROM outbound_messages e WHERE e.plan_id = m.plan_id AND e.target = m.target \
           AND e.{UNSENT} AND e.sequence < m.sequence) \
         ORDER BY m.next_attempt_at, m.sequence LIMIT ?",
        wanted.join(", ")
    );
    c.query_all_raw(stmt(c.get_database_backend(), &sql, [now.0.into(), now.0.into(), (limit as i64).into()]))
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Takes the message for `owner` until `until`, unless someone holds it.
pub async fn lease(c: &impl ConnectionTrait, id: &str, owner: &str, now: Micros, until: Micros) -> Result<bool, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            &format!(
                "UPDATE outbound_messages SET lease_owner = ?, lease_until = ? WHERE id = ? AND {UNSENT} \
                 AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)"
            ),
            [owner.into(), until.0.into(), id.into(), now.0.into(), owner.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The unsent messages of a plan and target after the head's sequence, oldest
/// first. One being sent now (leased) reads as tried (`attempts` one more),
/// so the caller does not fold it.
pub async fn unsent_after(c: &impl ConnectionTrait, head: &Message) -> Result<Vec<Message>, DbErr> {
    c.query_all_raw(stmt(
        c.get_database_backend(),
        &format!(
            "SELECT id, plan_id, target, sequence, organization_id, mode, paid_seats, free_seats, audit_after, \
             audit_through, state, CASE WHEN lease_owner IS NULL THEN attempts ELSE attempts + 1 END AS attempts, \
             next_attempt_at, last_status, last_error, created_at, delivered_at FROM outbound_messages \
             WHERE plan_id = ? AND target = ? AND {UNSENT} AND sequence > ? ORDER BY sequence"
        ),
        [head.plan_id.as_str().into(), head.target.as_str().into(), head.sequence.into()],
    ))
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Folds the leased `head` and the messages after it into `newest`: its
/// changes start where the head's did, and it takes the head's attempts,
/// schedule and lease; the others are gone (their changes are in it). Only
/// while `owner` holds the head.
pub async fn fold(
    c: &impl ConnectionTrait,
    head: &Message,
    folded: &[&Message],
    newest: &Message,
    owner: &str,
) -> Result<bool, DbErr> {
    let backend = c.get_database_backend();
    let lease_until = c
        .query_one_raw(stmt(
            backend,
            "SELECT lease_until FROM outbound_messages WHERE id = ? AND lease_owner = ?",
            [head.id.as_str().into(), owner.into()],
        ))
        .await?
        .map(|row| col::<Option<i64>>(&row, "lease_until"))
        .transpose()?
        .flatten();
    let Some(lease_until) = lease_until else { return Ok(false) };
    c.execute_raw(stmt(
        backend,
        "UPDATE outbound_messages SET audit_after = ?, state = ?, attempts = ?, next_attempt_at = ?, \
         last_status = ?, last_error = ?, lease_owner = ?, lease_until = ? WHERE id = ?",
        [
            head.snapshot.audit_after.into(),
            head.state.as_str().into(),
            head.attempts.into(),
            head.next_attempt_at.0.into(),
            head.last_status.into(),
            head.last_error.clone().into(),
            owner.into(),
            lease_until.into(),
            newest.id.as_str().into(),
        ],
    ))
    .await?;
    for message in std::iter::once(head).chain(folded.iter().copied()) {
        c.execute_raw(stmt(backend, "DELETE FROM outbound_messages WHERE id = ?", [message.id.as_str().into()]))
            .await?;
    }
    Ok(true)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub state: DeliveryState,
    /// From now, when to try again (`Failing` only).
    pub wait: std::time::Duration,
    pub status: Option<i32>,
    pub error: Option<String>,
}

/// Records an attempt made under `owner`'s lease, and gives the lease back.
/// Times are the database's clock where it has one (`db::clock_sql`), like
/// the leases they are compared with. False when the lease was lost meanwhile
/// (another replica took over).
pub async fn record(c: &impl ConnectionTrait, id: &str, owner: &str, attempt: &Attempt) -> Result<bool, DbErr> {
    let backend = c.get_database_backend();
    let now = crate::db::clock_sql(backend).map_or_else(|| Micros::now().0.to_string(), str::to_owned);
    let delivered = if attempt.state == DeliveryState::Delivered { now.as_str() } else { "NULL" };
    let wait = i64::try_from(attempt.wait.as_micros()).unwrap_or(i64::MAX / 2);
    let sql = format!(
        "UPDATE outbound_messages SET state = ?, attempts = attempts + 1, next_attempt_at = {now} + ?, \
         last_status = ?, last_error = ?, delivered_at = {delivered}, lease_owner = NULL, lease_until = NULL \
         WHERE id = ? AND lease_owner = ?"
    );
    let values: [Value; 6] = [
        attempt.state.as_str().into(),
        wait.into(),
        attempt.status.into(),
        attempt.error.clone().into(),
        id.into(),
        owner.into(),
    ];
    Ok(c.execute_raw(stmt(backend, &sql, values)).await?.rows_affected() == 1)
}

/// An operator asked for it to be sent again now (a `dead` one too): due now;
/// a `dead` one starts the schedule again. In the same statement the caller
/// takes the lease unless someone holds it, so the delivery worker cannot
/// pick the message up between "due now" and the caller's own attempt.
/// True when the caller holds the lease after it; false when someone else
/// does, or there is no unsent (or dead) message with that id.
pub async fn retry_now(
    c: &impl ConnectionTrait,
    id: &str,
    owner: &str,
    now: Micros,
    until: Micros,
) -> Result<bool, DbErr> {
    let free = "(lease_until IS NULL OR lease_until <= ?)";
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            &format!(
                "UPDATE outbound_messages SET state = CASE WHEN state = 'pending' THEN 'pending' ELSE 'failing' END, \
                 next_attempt_at = ?, attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END, \
                 lease_owner = CASE WHEN {free} THEN ? ELSE lease_owner END, \
                 lease_until = CASE WHEN {free} THEN ? ELSE lease_until END WHERE id = ? AND state <> 'delivered' \
                 RETURNING lease_owner"
            ),
            [now.0.into(), now.0.into(), owner.into(), now.0.into(), until.0.into(), id.into()],
        ))
        .await?;
    Ok(row.map(|r| col::<Option<String>>(&r, "lease_owner")).transpose()?.flatten().as_deref() == Some(owner))
}

/// The unsent message, if it is first of its plan and target (nothing unsent
/// before it), leased or not.
pub async fn head(c: &impl ConnectionTrait, id: &str) -> Result<Option<Message>, DbErr> {
    c.query_one_raw(stmt(
        c.get_database_backend(),
        &format!(
            "SELECT {COLUMNS} FROM outbound_messages m WHERE m.id = ? AND m.{UNSENT} \
             AND NOT EXISTS (SELECT 1 FROM outbound_messages e WHERE e.plan_id = m.plan_id \
               AND e.target = m.target AND e.{UNSENT} AND e.sequence < m.sequence)"
        ),
        [id.into()],
    ))
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Gives back `owner`'s lease without recording an attempt.
pub async fn release(c: &impl ConnectionTrait, id: &str, owner: &str) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE outbound_messages SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
        [id.into(), owner.into()],
    ))
    .await?;
    Ok(())
}

/// Filters of `GET /admin/outbound`.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub plan: Option<PlanId>,
    pub state: Option<DeliveryState>,
    /// Only messages older than this one (the cursor).
    pub after: Option<String>,
}

/// A page, newest first, and whether more follow.
pub async fn page(c: &impl ConnectionTrait, filter: &Filter, limit: u64) -> Result<(Vec<Message>, bool), DbErr> {
    let mut sql = format!("SELECT {COLUMNS} FROM outbound_messages WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    if let Some(plan) = &filter.plan {
        sql.push_str(" AND plan_id = ?");
        values.push(plan.as_str().into());
    }
    if let Some(state) = filter.state {
        sql.push_str(" AND state = ?");
        values.push(state.as_str().into());
    }
    if let Some(after) = &filter.after {
        sql.push_str(" AND id < ?");
        values.push(after.as_str().into());
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    values.push((limit as i64 + 1).into());
    let rows = c.query_all_raw(stmt(c.get_database_backend(), &sql, values)).await?;
    let more = rows.len() as u64 > limit;
    let messages = rows.iter().take(limit as usize).map(from_row).collect::<Result<_, DbErr>>()?;
    Ok((messages, more))
}

/// Unsent messages by target, for `/metrics` (the partial index: only
/// messages still to send are read, however many were delivered).
pub async fn unsent_by_target(c: &impl ConnectionTrait) -> Result<Vec<(Target, i64)>, DbErr> {
    let rows = c
        .query_all_raw(stmt(
            c.get_database_backend(),
            &format!("SELECT target, COUNT(*) AS n FROM outbound_messages WHERE {UNSENT} GROUP BY target"),
            [],
        ))
        .await?;
    rows.iter().map(|r| Ok((enum_col(r, "target", Target::parse)?, col::<i64>(r, "n")?))).collect()
}

/// A plan's newest delivered message and its newest message, per target.
#[derive(Debug, Clone, Default)]
pub struct PlanDeliveries {
    pub last_delivered: Option<Message>,
    pub newest: Option<Message>,
    /// The oldest message still to send, if any.
    pub first_unsent: Option<Message>,
}

pub async fn plan_deliveries(c: &impl ConnectionTrait, plan: &PlanId, target: Target) -> Result<PlanDeliveries, DbErr> {
    // One statement, so one snapshot: read apart, a delivery finishing between
    // the reads would pair an old "last delivered" with a new "nothing unsent".
    let part = |which: &str, condition: &str, order: &str| {
        format!(
            "SELECT '{which}' AS which, {COLUMNS} FROM (SELECT {COLUMNS} FROM outbound_messages \
             WHERE plan_id = ? AND target = ? {condition} ORDER BY sequence {order} LIMIT 1) {which}"
        )
    };
    let sql = [
        part("delivered", "AND state = 'delivered'", "DESC"),
        part("newest", "", "DESC"),
        part("unsent", "AND state IN ('pending', 'failing')", "ASC"),
    ]
    .join(" UNION ALL ");
    let values: Vec<Value> = (0..3).flat_map(|_| [plan.as_str().into(), target.as_str().into()]).collect();
    let mut out = PlanDeliveries::default();
    for row in c.query_all_raw(stmt(c.get_database_backend(), &sql, values)).await? {
        let message = Some(from_row(&row)?);
        match col::<String>(&row, "which")?.as_str() {
            "delivered" => out.last_delivered = message,
            "newest" => out.newest = message,
            _ => out.first_unsent = message,
        }
    }
    Ok(out)
}

/// Delivered messages created before the cutoff, except each plan and
/// target's newest delivered one (it says what billing was last told).
const PRUNABLE: &str = "FROM outbound_messages o WHERE o.state = 'delivered' AND o.created_at < ? \
     AND EXISTS (SELECT 1 FROM outbound_messages n WHERE n.plan_id = o.plan_id AND n.target = o.target \
       AND n.state = 'delivered' AND n.sequence > o.sequence)";

/// Retention: what `prune_delivered` would delete.
pub async fn count_prunable(c: &impl ConnectionTrait, before: Micros) -> Result<u64, DbErr> {
    super::count(c, &format!("SELECT COUNT(*) AS n {PRUNABLE}"), [before.0.into()]).await
}

/// Retention: deletes up to `limit` old delivered messages (`PRUNABLE`).
pub async fn prune_delivered(c: &impl ConnectionTrait, before: Micros, limit: i64) -> Result<u64, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            &format!(
                "DELETE FROM outbound_messages WHERE id IN (SELECT o.id {PRUNABLE} ORDER BY o.id LIMIT ?) \
                 AND state = 'delivered'"
            ),
            [before.0.into(), limit.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}
