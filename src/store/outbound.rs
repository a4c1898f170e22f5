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
    /// The plan's order of messages, over all targets.
    pub position: i64,
    /// The contract's `sequence` (per plan and target, from 1): given when
    /// the message is first attempted.
    pub sequence: Option<i64>,
    pub snapshot: Snapshot,
    pub state: DeliveryState,
    /// Every attempt, an operator's retries included.
    pub attempts: i32,
    /// `attempts` before the last operator retry: the schedule counts from it.
    pub schedule_from: i32,
    pub next_attempt_at: Micros,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: Micros,
    pub delivered_at: Option<Micros>,
    /// `plan.seats.updated`, or a notice's type.
    pub kind: String,
    /// A notice's own data (JSON); None for a seat message.
    pub notice: Option<String>,
    /// The W3C context of the change that wrote it, when traces were exported.
    pub traceparent: Option<String>,
}

impl Message {
    /// A seat message (not a notice): only these are merged.
    pub fn is_seats(&self) -> bool {
        self.notice.is_none()
    }
}

/// What a message says: the plan after the changes, and which audit rows the
/// changes are (`audit_after < seq <= audit_through`; the audit is append-only,
/// so the range always reads the same rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub organization_id: Option<String>,
    /// The plan's `external_id` when the message was written.
    pub external_id: Option<String>,
    pub mode: String,
    pub paid_seats: i64,
    pub free_seats: i64,
    pub audit_after: i64,
    pub audit_through: i64,
}

const COLUMNS: &str = "id, plan_id, target, position, sequence, organization_id, external_id, mode, paid_seats, free_seats, \
                       audit_after, audit_through, state, attempts, schedule_from, next_attempt_at, last_status, \
                       last_error, created_at, delivered_at, kind, notice, traceparent";
const UNSENT: &str = "state IN ('pending', 'failing')";

fn from_row(row: &QueryResult) -> Result<Message, DbErr> {
    Ok(Message {
        id: col(row, "id")?,
        plan_id: typed_col(row, "plan_id", PlanId::parse)?,
        target: enum_col(row, "target", Target::parse)?,
        position: col(row, "position")?,
        sequence: Some(col::<i64>(row, "sequence")?).filter(|n| *n > 0),
        snapshot: Snapshot {
            organization_id: col(row, "organization_id")?,
            external_id: col(row, "external_id")?,
            mode: col(row, "mode")?,
            paid_seats: col(row, "paid_seats")?,
            free_seats: col(row, "free_seats")?,
            audit_after: col(row, "audit_after")?,
            audit_through: col(row, "audit_through")?,
        },
        state: enum_col(row, "state", DeliveryState::parse)?,
        attempts: col(row, "attempts")?,
        schedule_from: col(row, "schedule_from")?,
        next_attempt_at: Micros(col(row, "next_attempt_at")?),
        last_status: col(row, "last_status")?,
        last_error: col(row, "last_error")?,
        created_at: Micros(col(row, "created_at")?),
        delivered_at: col::<Option<i64>>(row, "delivered_at")?.map(Micros),
        kind: col(row, "kind")?,
        notice: col(row, "notice")?,
        traceparent: col(row, "traceparent")?,
    })
}

/// The type of a seat message; notices have their own (`billing::notice`).
pub const SEATS_KIND: &str = "plan.seats.updated";

/// A new message id: sortable, so the list's order is the creation order.
pub fn new_id() -> String {
    format!("msg_{}", ulid::Ulid::new())
}

/// A message to store (`billing::outbox`).
pub struct NewMessage<'a> {
    pub plan: &'a PlanId,
    pub target: Target,
    /// The plan's order of messages.
    pub position: i64,
    pub snapshot: &'a Snapshot,
    /// A notice: its type and stored data; None for a seat message.
    pub notice: Option<(&'static str, &'a str)>,
    /// The change's W3C context, when traces are exported.
    pub traceparent: Option<&'a str>,
}

/// Stores messages, many to a statement; each gets a new id and no number
/// yet. Each plan and target gets its stream row (numbering, lease) if new.
pub async fn insert_many(c: &impl ConnectionTrait, messages: &[NewMessage<'_>], now: Micros) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let size = |m: &NewMessage<'_>| m.plan.as_str().len() + 200;
    for chunk in chunks(backend, messages, 100, size) {
        let mut sql = String::from(
            "INSERT INTO outbound_messages (id, plan_id, target, position, sequence, organization_id, external_id, \
             mode, paid_seats, free_seats, audit_after, audit_through, state, attempts, next_attempt_at, created_at, \
             kind, notice, traceparent) VALUES ",
        );
        let mut streams = String::from("INSERT INTO billing_streams (plan_id, target) VALUES ");
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 16);
        let mut stream_values: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
        for (i, m) in chunk.iter().enumerate() {
            let comma = if i == 0 { "" } else { ", " };
            sql.push_str(comma);
            sql.push_str("(?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)");
            streams.push_str(comma);
            streams.push_str("(?, ?)");
            let s = m.snapshot;
            values.extend([
                new_id().into(),
                m.plan.as_str().into(),
                m.target.as_str().into(),
                m.position.into(),
                s.organization_id.clone().into(),
                s.external_id.clone().into(),
                s.mode.as_str().into(),
                s.paid_seats.into(),
                s.free_seats.into(),
                s.audit_after.into(),
                s.audit_through.into(),
                now.0.into(),
                now.0.into(),
                m.notice.map_or(SEATS_KIND, |(kind, _)| kind).into(),
                m.notice.map(|(_, data)| data.to_owned()).into(),
                m.traceparent.map(str::to_owned).into(),
            ]);
            stream_values.extend([m.plan.as_str().into(), m.target.as_str().into()]);
        }
        streams.push_str(" ON CONFLICT (plan_id, target) DO NOTHING");
        c.execute_raw(stmt(backend, &streams, stream_values)).await?;
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

/// The stream's lease is free (or run out): nobody is sending to it.
const STREAM_FREE: &str = "EXISTS (SELECT 1 FROM billing_streams s WHERE s.plan_id = m.plan_id \
     AND s.target = m.target AND (s.lease_until IS NULL OR s.lease_until <= ?))";
/// Nothing unsent comes before it in its plan and target.
const FIRST_UNSENT: &str = "NOT EXISTS (SELECT 1 FROM outbound_messages e WHERE e.plan_id = m.plan_id \
     AND e.target = m.target AND e.state IN ('pending', 'failing') AND e.position < m.position)";

/// Messages that are due, first of their plan and target, and whose plan and
/// target nobody is sending to: at most one per plan and target.
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
         AND m.target IN ({}) AND {STREAM_FREE} AND {FIRST_UNSENT} ORDER BY m.next_attempt_at, m.position LIMIT ?",
        wanted.join(", ")
    );
    c.query_all_raw(stmt(c.get_database_backend(), &sql, [now.0.into(), now.0.into(), (limit as i64).into()]))
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Takes a plan and target's stream for `owner` until `until`, unless someone
/// else holds it: one request in flight per plan and target, whichever path
/// sends (the worker, an operator's retry, another replica). One conditional
/// update of one row, so two takers cannot both win.
pub async fn lease(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    target: Target,
    owner: &str,
    now: Micros,
    until: Micros,
) -> Result<bool, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            "UPDATE billing_streams SET lease_owner = ?, lease_until = ? WHERE plan_id = ? AND target = ? \
             AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)",
            [owner.into(), until.0.into(), plan.as_str().into(), target.as_str().into(), now.0.into(), owner.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends `owner`'s lease on a stream; false when it is not `owner`'s any
/// more (it ran out and someone else took it, or was given back).
pub async fn renew(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    target: Target,
    owner: &str,
    until: Micros,
) -> Result<bool, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            "UPDATE billing_streams SET lease_until = ? WHERE plan_id = ? AND target = ? AND lease_owner = ?",
            [until.0.into(), plan.as_str().into(), target.as_str().into(), owner.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives back `owner`'s lease on a stream without recording an attempt.
pub async fn release(c: &impl ConnectionTrait, plan: &PlanId, target: Target, owner: &str) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE billing_streams SET lease_owner = NULL, lease_until = NULL \
         WHERE plan_id = ? AND target = ? AND lease_owner = ?",
        [plan.as_str().into(), target.as_str().into(), owner.into()],
    ))
    .await?;
    Ok(())
}

/// A plan and target's stream: how far numbering and delivery got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stream {
    pub last_sequence: i64,
    /// `position` of the newest delivered message (0: none).
    pub delivered_position: i64,
}

pub async fn stream(c: &impl ConnectionTrait, plan: &PlanId, target: Target) -> Result<Stream, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT last_sequence, delivered_position FROM billing_streams WHERE plan_id = ? AND target = ?",
            [plan.as_str().into(), target.as_str().into()],
        ))
        .await?;
    row.map(|r| {
        Ok(Stream { last_sequence: col(&r, "last_sequence")?, delivered_position: col(&r, "delivered_position")? })
    })
    .transpose()
    .map(Option::unwrap_or_default)
}

/// The first unsent message of a plan and target, due or not.
pub async fn head(c: &impl ConnectionTrait, plan: &PlanId, target: Target) -> Result<Option<Message>, DbErr> {
    c.query_one_raw(stmt(
        c.get_database_backend(),
        &format!(
            "SELECT {COLUMNS} FROM outbound_messages m WHERE m.plan_id = ? AND m.target = ? AND m.{UNSENT} \
             ORDER BY m.position LIMIT 1"
        ),
        [plan.as_str().into(), target.as_str().into()],
    ))
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The unsent messages of a plan and target after the head, oldest first.
pub async fn unsent_after(c: &impl ConnectionTrait, head: &Message) -> Result<Vec<Message>, DbErr> {
    c.query_all_raw(stmt(
        c.get_database_backend(),
        &format!(
            "SELECT {COLUMNS} FROM outbound_messages WHERE plan_id = ? AND target = ? AND {UNSENT} \
             AND position > ? ORDER BY position"
        ),
        [head.plan_id.as_str().into(), head.target.as_str().into(), head.position.into()],
    ))
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Folds the never-attempted `head` and `folded` into `newest` (never
/// attempted either): its changes start where the head's did, and it is due
/// when the head was; the others are gone (their changes are in it). The
/// caller holds the stream's lease and numbers `newest` in the same
/// transaction, which checks the lease.
pub async fn fold(
    c: &impl ConnectionTrait,
    head: &Message,
    folded: &[&Message],
    newest: &Message,
) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    c.execute_raw(stmt(
        backend,
        "UPDATE outbound_messages SET audit_after = ?, next_attempt_at = ? WHERE id = ? AND sequence = 0",
        [head.snapshot.audit_after.into(), head.next_attempt_at.0.into(), newest.id.as_str().into()],
    ))
    .await?;
    for message in std::iter::once(head).chain(folded.iter().copied()) {
        c.execute_raw(stmt(
            backend,
            "DELETE FROM outbound_messages WHERE id = ? AND sequence = 0",
            [message.id.as_str().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Gives a message the next `sequence` of its plan and target, if it has none
/// (CONTRACT 7.1: numbered when first attempted, from 1 with no gap). Only
/// while `owner` holds the stream; `None` when it does not any more.
pub async fn number(c: &impl ConnectionTrait, message: &Message, owner: &str) -> Result<Option<i64>, DbErr> {
    let backend = c.get_database_backend();
    let numbered = c
        .query_one_raw(stmt(
            backend,
            "UPDATE billing_streams SET last_sequence = last_sequence + CASE WHEN ? THEN 0 ELSE 1 END \
             WHERE plan_id = ? AND target = ? AND lease_owner = ? RETURNING last_sequence",
            [
                message.sequence.is_some().into(),
                message.plan_id.as_str().into(),
                message.target.as_str().into(),
                owner.into(),
            ],
        ))
        .await?
        .map(|row| col::<i64>(&row, "last_sequence"))
        .transpose()?;
    let Some(next) = numbered else { return Ok(None) };
    if let Some(sequence) = message.sequence {
        return Ok(Some(sequence));
    }
    let numbered = c
        .execute_raw(stmt(
            backend,
            "UPDATE outbound_messages SET sequence = ? WHERE id = ? AND sequence = 0",
            [next.into(), message.id.as_str().into()],
        ))
        .await?;
    // Numbered (or gone) meanwhile: not this sender's to send; the caller
    // rolls back, so no number is skipped.
    Ok((numbered.rows_affected() == 1).then_some(next))
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

/// Records an attempt made under `owner`'s lease on the message's stream, and
/// gives the lease back; call it in a transaction. Times are the database's
/// clock where it has one (`db::clock_sql`), like the leases they are
/// compared with. A delivered Stripe message supersedes the item's older
/// messages still waiting (dead ones too): Stripe has a newer count, and must
/// never be sent an older one (CONTRACT 7.2). False when the lease was lost
/// meanwhile (another replica took over).
pub async fn record(
    c: &impl ConnectionTrait,
    message: &Message,
    owner: &str,
    attempt: &Attempt,
) -> Result<bool, DbErr> {
    let backend = c.get_database_backend();
    let delivered = attempt.state == DeliveryState::Delivered;
    let released = c
        .execute_raw(stmt(
            backend,
            "UPDATE billing_streams SET lease_owner = NULL, lease_until = NULL, delivered_position = \
               CASE WHEN ? AND delivered_position < ? THEN ? ELSE delivered_position END \
             WHERE plan_id = ? AND target = ? AND lease_owner = ?",
            [
                delivered.into(),
                message.position.into(),
                message.position.into(),
                message.plan_id.as_str().into(),
                message.target.as_str().into(),
                owner.into(),
            ],
        ))
        .await?;
    if released.rows_affected() != 1 {
        return Ok(false);
    }
    let now = crate::db::clock_sql(backend).map_or_else(|| Micros::now().0.to_string(), str::to_owned);
    let delivered_at = if delivered { now.as_str() } else { "NULL" };
    let wait = i64::try_from(attempt.wait.as_micros()).unwrap_or(i64::MAX / 2);
    let sql = format!(
        "UPDATE outbound_messages SET state = ?, attempts = attempts + 1, next_attempt_at = {now} + ?, \
         last_status = ?, last_error = ?, delivered_at = {delivered_at} WHERE id = ? AND state <> 'delivered'"
    );
    let values: [Value; 5] = [
        attempt.state.as_str().into(),
        wait.into(),
        attempt.status.into(),
        attempt.error.clone().into(),
        message.id.as_str().into(),
    ];
    c.execute_raw(stmt(backend, &sql, values)).await?;
    if delivered && message.target == Target::Stripe {
        supersede_older(c, &message.plan_id, Target::Stripe, message.position).await?;
    }
    Ok(true)
}

/// Marks a plan and target's messages before `position` that were not
/// delivered as `superseded`: never sent (again).
pub async fn supersede_older(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    target: Target,
    position: i64,
) -> Result<u64, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            "UPDATE outbound_messages SET state = 'superseded', next_attempt_at = 0 WHERE plan_id = ? AND target = ? \
             AND position < ? AND state IN ('pending', 'failing', 'dead')",
            [plan.as_str().into(), target.as_str().into(), position.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}

/// Every message of a plan and target still to send (or dead) is superseded:
/// the plan stopped following its Stripe item.
pub async fn supersede_all(c: &impl ConnectionTrait, plan: &PlanId, target: Target) -> Result<u64, DbErr> {
    supersede_older(c, plan, target, i64::MAX).await
}

/// Whether a Stripe message has a newer one that was not superseded: it may
/// have reached Stripe (delivered, or tried and timed out), so the older
/// count must not follow it (CONTRACT 7.2); `billing/resend` sends the
/// current one.
async fn newer_count_exists(c: &impl ConnectionTrait, message: &Message) -> Result<bool, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT 1 AS one FROM outbound_messages WHERE plan_id = ? AND target = ? AND position > ? \
             AND state <> 'superseded' LIMIT 1",
            [message.plan_id.as_str().into(), message.target.as_str().into(), message.position.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// What an operator's retry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// Due now (a dead one starts the schedule again; `attempts` keeps counting).
    Due(Message),
    /// Delivered already: the plan's current seats go out with `billing/resend`.
    AlreadyDelivered,
    /// Superseded (now or before): a newer count reached the target.
    Superseded(Message),
    NotFound,
}

/// `POST /admin/outbound/{id}/retry` (CONTRACT 3.3): a `dead`, `failing` or
/// `pending` message is due now, with its own id and body. A Stripe message
/// older than one the item has already received is superseded instead
/// (CONTRACT 7.2). Call it in a transaction.
pub async fn retry_now(c: &impl ConnectionTrait, id: &str, now: Micros) -> Result<Retried, DbErr> {
    let Some(message) = get(c, id).await? else { return Ok(Retried::NotFound) };
    match message.state {
        DeliveryState::Delivered => return Ok(Retried::AlreadyDelivered),
        DeliveryState::Superseded => return Ok(Retried::Superseded(message)),
        _ => {}
    }
    if message.target == Target::Stripe && newer_count_exists(c, &message).await? {
        supersede_older(c, &message.plan_id, message.target, message.position + 1).await?;
        return Ok(get(c, id).await?.map_or(Retried::NotFound, Retried::Superseded));
    }
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE outbound_messages SET state = CASE WHEN state = 'pending' THEN 'pending' ELSE 'failing' END, \
         next_attempt_at = ?, schedule_from = CASE WHEN state = 'dead' THEN attempts ELSE schedule_from END \
         WHERE id = ? AND state IN ('pending', 'failing', 'dead')",
        [now.0.into(), id.into()],
    ))
    .await?;
    Ok(get(c, id).await?.map_or(Retried::NotFound, Retried::Due))
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

/// What `PlanDeliveries` holds, as (name, condition, order): each is the
/// first message of a plan and target in that order.
const DELIVERY_PARTS: [(&str, &str, &str); 3] = [
    ("delivered", "AND state = 'delivered'", "DESC"),
    ("newest", "", "DESC"),
    ("unsent", "AND state IN ('pending', 'failing')", "ASC"),
];

/// `PlanDeliveries` for many plans of one target (a page of the plan list
/// reads its billing states at once). Each plan's three parts come from one
/// statement, so one snapshot: read apart, a delivery finishing between the
/// reads would pair an old "last delivered" with a new "nothing unsent".
pub async fn plan_deliveries_many(
    c: &impl ConnectionTrait,
    plans: &[PlanId],
    target: Target,
) -> Result<std::collections::HashMap<PlanId, PlanDeliveries>, DbErr> {
    let backend = c.get_database_backend();
    let mut statements: Vec<(String, Vec<Value>)> = Vec::new();
    if plans.is_empty() {
        return Ok(Default::default());
    } else if backend == sea_orm::DbBackend::Postgres {
        // One lateral join a part: PostgreSQL plans a join over the page's ids
        // far faster than a UNION of hundreds of parts.
        let ids: Vec<String> = plans.iter().map(|p| p.as_str().to_owned()).collect();
        let sql = DELIVERY_PARTS.map(|(which, condition, order)| {
            format!(
                "SELECT '{which}' AS which, m.* FROM unnest(CAST(? AS TEXT[])) AS p(id) CROSS JOIN LATERAL \
                 (SELECT {COLUMNS} FROM outbound_messages WHERE plan_id = p.id AND target = ? {condition} \
                  ORDER BY position {order} LIMIT 1) m"
            )
        });
        let values = (0..3).flat_map(|_| [ids.clone().into(), target.as_str().into()]).collect();
        statements.push((sql.join(" UNION ALL "), values));
    } else {
        // A few hundred index lookups a statement.
        let parts = DELIVERY_PARTS.map(|(which, condition, order)| {
            format!(
                "SELECT '{which}' AS which, {COLUMNS} FROM (SELECT {COLUMNS} FROM outbound_messages \
                 WHERE plan_id = ? AND target = ? {condition} ORDER BY position {order} LIMIT 1) {which}"
            )
        });
        for chunk in plans.chunks(100) {
            let sql: Vec<&str> = chunk.iter().flat_map(|_| parts.iter().map(String::as_str)).collect();
            let values = chunk
                .iter()
                .flat_map(|plan| (0..3).flat_map(|_| [plan.as_str().into(), target.as_str().into()]))
                .collect();
            statements.push((sql.join(" UNION ALL "), values));
        }
    }
    let mut out: std::collections::HashMap<PlanId, PlanDeliveries> = std::collections::HashMap::new();
    for (sql, values) in statements {
        for row in c.query_all_raw(stmt(backend, &sql, values)).await? {
            let message = from_row(&row)?;
            let entry = out.entry(message.plan_id.clone()).or_default();
            match col::<String>(&row, "which")?.as_str() {
                "delivered" => entry.last_delivered = Some(message),
                "newest" => entry.newest = Some(message),
                _ => entry.first_unsent = Some(message),
            }
        }
    }
    Ok(out)
}

/// Delivered and superseded messages created before the cutoff, except each
/// plan and target's newest delivered one (it says what billing was last told).
const PRUNABLE: &str = "FROM outbound_messages o WHERE o.created_at < ? AND (o.state = 'superseded' \
     OR (o.state = 'delivered' AND EXISTS (SELECT 1 FROM outbound_messages n WHERE n.plan_id = o.plan_id \
       AND n.target = o.target AND n.state = 'delivered' AND n.position > o.position)))";

/// Retention: what `prune_delivered` would delete.
pub async fn count_prunable(c: &impl ConnectionTrait, before: Micros) -> Result<u64, DbErr> {
    super::count(c, &format!("SELECT COUNT(*) AS n {PRUNABLE}"), [before.0.into()]).await
}

/// Retention: deletes up to `limit` old delivered or superseded messages (`PRUNABLE`).
pub async fn prune_delivered(c: &impl ConnectionTrait, before: Micros, limit: i64) -> Result<u64, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            &format!(
                "DELETE FROM outbound_messages WHERE id IN (SELECT o.id {PRUNABLE} ORDER BY o.id LIMIT ?) \
                 AND state IN ('delivered', 'superseded')"
            ),
            [before.0.into(), limit.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}
