//! The billing outbox (`outbound_messages`): written in the transaction that
//! changed the seats (`billing::outbox`), sent by `billing::delivery`. A
//! message is sent by whoever holds its lease; a replica that dies mid-send
//! lets the lease run out and another sends it again, with the same id.
use super::{col, enum_col, typed_col};
use crate::{
    db::stmt,
    domain::{DeliveryState, Micros, PlanId, Target},
};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub plan_id: PlanId,
    pub target: Target,
    pub sequence: i64,
    /// The body's `data` (JSON of `billing::message::SeatsUpdated`).
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: Micros,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: Micros,
    pub delivered_at: Option<Micros>,
}

const COLUMNS: &str = "id, plan_id, target, sequence, payload, state, attempts, next_attempt_at, last_status, \
                       last_error, created_at, delivered_at";
const UNSENT: &str = "state IN ('pending', 'failing')";

fn from_row(row: &QueryResult) -> Result<Message, DbErr> {
    Ok(Message {
        id: col(row, "id")?,
        plan_id: typed_col(row, "plan_id", PlanId::parse)?,
        target: enum_col(row, "target", Target::parse)?,
        sequence: col(row, "sequence")?,
        payload: col(row, "payload")?,
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

pub async fn insert(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    target: Target,
    sequence: i64,
    payload: &str,
    now: Micros,
) -> Result<String, DbErr> {
    let id = new_id();
    c.execute_raw(stmt(
        c.get_database_backend(),
        "INSERT INTO outbound_messages (id, plan_id, target, sequence, payload, state, attempts, next_attempt_at, \
         created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
        [
            id.as_str().into(),
            plan.as_str().into(),
            target.as_str().into(),
            sequence.into(),
            payload.into(),
            now.0.into(),
            now.0.into(),
        ],
    ))
    .await?;
    Ok(id)
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

/// The unsent messages of a plan and target after `sequence`, oldest first.
pub async fn unsent_after(c: &impl ConnectionTrait, head: &Message) -> Result<Vec<Message>, DbErr> {
    c.query_all_raw(stmt(
        c.get_database_backend(),
        &format!(
            "SELECT {COLUMNS} FROM outbound_messages WHERE plan_id = ? AND target = ? AND {UNSENT} \
             AND sequence > ? ORDER BY sequence"
        ),
        [head.plan_id.as_str().into(), head.target.as_str().into(), head.sequence.into()],
    ))
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Folds the leased `head` and the messages after it into `newest`: it takes
/// the merged payload, the head's attempts and schedule, and the lease; the
/// others are gone (their changes are in it). Only while `owner` holds the head.
pub async fn fold(
    c: &impl ConnectionTrait,
    head: &Message,
    folded: &[&Message],
    newest: &Message,
    payload: &str,
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
        "UPDATE outbound_messages SET payload = ?, state = ?, attempts = ?, next_attempt_at = ?, last_status = ?, \
         last_error = ?, lease_owner = ?, lease_until = ? WHERE id = ?",
        [
            payload.into(),
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
    pub next_attempt_at: Micros,
    pub status: Option<i32>,
    pub error: Option<String>,
    pub at: Micros,
}

/// Records an attempt made under `owner`'s lease, and gives the lease back.
/// False when the lease was lost meanwhile (another replica took over).
pub async fn record(c: &impl ConnectionTrait, id: &str, owner: &str, attempt: &Attempt) -> Result<bool, DbErr> {
    let delivered: Value = (attempt.state == DeliveryState::Delivered).then_some(attempt.at.0).into();
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            "UPDATE outbound_messages SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_status = ?, \
             last_error = ?, delivered_at = ?, lease_owner = NULL, lease_until = NULL \
             WHERE id = ? AND lease_owner = ?",
            [
                attempt.state.as_str().into(),
                attempt.next_attempt_at.0.into(),
                attempt.status.into(),
                attempt.error.clone().into(),
                delivered,
                id.into(),
                owner.into(),
            ],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An operator asked for it to be sent again now (a `dead` one too): due now;
/// a `dead` one starts the schedule again.
pub async fn retry_now(c: &impl ConnectionTrait, id: &str, now: Micros) -> Result<bool, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            "UPDATE outbound_messages SET state = CASE WHEN state = 'pending' THEN 'pending' ELSE 'failing' END, \
             next_attempt_at = ?, attempts = CASE WHEN state = 'dead' THEN 0 ELSE attempts END WHERE id = ?",
            [now.0.into(), id.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
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
    let backend = c.get_database_backend();
    let one = |condition: &'static str, order: &'static str| {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbound_messages WHERE plan_id = ? AND target = ? {condition} \
             ORDER BY sequence {order} LIMIT 1"
        );
        let values: [Value; 2] = [plan.as_str().into(), target.as_str().into()];
        async move { c.query_one_raw(stmt(backend, &sql, values)).await?.as_ref().map(from_row).transpose() }
    };
    Ok(PlanDeliveries {
        last_delivered: one("AND state = 'delivered'", "DESC").await?,
        newest: one("", "DESC").await?,
        first_unsent: one("AND state IN ('pending', 'failing')", "ASC").await?,
    })
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
