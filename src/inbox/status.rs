//! Reading what became of a stored event.
use crate::{
    db::stmt,
    domain::{EventId, EventStatus, Micros},
    store::{col, enum_col},
};
use sea_orm::{ConnectionTrait, DbErr, TransactionSession, TransactionTrait};

/// A stored event as `GET /admin/events/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: String,
    pub event: String,
    pub status: EventStatus,
    pub received_at: Micros,
    pub applied_at: Option<Micros>,
    pub error: Option<String>,
}

pub async fn find(c: &impl ConnectionTrait, id: &EventId) -> Result<Option<EventRecord>, DbErr> {
    let queued = "SELECT event_id, event_type, status, received_at, applied_at, error FROM inbox_events \
                  WHERE event_id = ?";
    // Stored but not moved out of SQLite's spool yet: as it was stored. One
    // statement, so the row is seen on one side or the other of a move.
    let spooled = "SELECT * FROM (SELECT event_id, event_type, status, received_at, applied_at, error \
                   FROM inbox_events WHERE event_id = ? UNION ALL SELECT event_id, event_type, status, \
                   received_at, NULL, NULL FROM spool.inbox_spool WHERE event_id = ?) LIMIT 1";
    let row = if crate::inbox::spool::attached(c).await? {
        c.query_one_raw(stmt(c.get_database_backend(), spooled, [id.as_str().into(), id.as_str().into()])).await?
    } else {
        c.query_one_raw(stmt(c.get_database_backend(), queued, [id.as_str().into()])).await?
    };
    row.map(|row| {
        Ok(EventRecord {
            id: col(&row, "event_id")?,
            event: col(&row, "event_type")?,
            status: enum_col(&row, "status", EventStatus::parse)?,
            received_at: Micros(col(&row, "received_at")?),
            applied_at: col::<Option<i64>>(&row, "applied_at")?.map(Micros),
            error: col(&row, "error")?,
        })
    })
    .transpose()
}

/// The backlog's size by status (`ready` and `retry` are both pending).
pub const BACKLOG_COUNTS: &str = "SELECT \
    (SELECT COUNT(*) FROM inbox_events WHERE status = 'pending' AND next_attempt_at IS NULL) AS ready, \
    (SELECT COUNT(*) FROM inbox_events WHERE status = 'pending' AND next_attempt_at IS NOT NULL) AS retry, \
    (SELECT COUNT(*) FROM inbox_events WHERE status = 'parked') AS parked, \
    (SELECT COUNT(*) FROM inbox_events WHERE status = 'held') AS held, \
    (SELECT COUNT(*) FROM inbox_events WHERE status = 'failed') AS failed";

/// When the oldest pending event arrived.
pub const OLDEST_PENDING: &str = "SELECT MIN(t) AS t FROM (\
    SELECT * FROM (SELECT received_at AS t FROM inbox_events \
      WHERE status = 'pending' AND next_attempt_at IS NULL ORDER BY seq LIMIT 1) a \
    UNION ALL SELECT * FROM (SELECT received_at AS t FROM inbox_events \
      WHERE status = 'pending' AND next_attempt_at IS NOT NULL ORDER BY next_attempt_at LIMIT 1) b) u";

/// The backlog by status (settled events are counted by the reconciler's
/// counters instead), and the age of the oldest pending event, for `/metrics`
/// and for whoever waits for the queue to drain.
pub async fn backlog<C: ConnectionTrait + TransactionTrait>(
    db: &C,
) -> Result<(Vec<(String, i64)>, Option<Micros>), DbErr> {
    let attached = crate::inbox::spool::attached(db).await?;
    // One read transaction, the spool's snapshot taken before the queue's: an
    // event the mover carries over meanwhile is then seen in the spool or in
    // the queue, never in neither (statement by statement, a waiter saw an
    // empty backlog while one event was between the two).
    let c = db.begin().await?;
    if attached {
        crate::inbox::spool::take_snapshot(&c).await?;
    }
    let backend = c.get_database_backend();
    // The backlog only, each status through its own partial index (each
    // predicate written exactly as its index's): the settled history, however
    // long, is never read.
    let counts = c
        .query_one_raw(stmt(backend, BACKLOG_COUNTS, []))
        .await?
        .ok_or_else(|| DbErr::Custom("the backlog count returned no row".into()))?;
    // SQLite's spool holds what was stored and not moved yet: pending too.
    let (spooled, oldest_spooled) = if attached { crate::inbox::spool::unmoved_pending(&c).await? } else { (0, None) };
    let by_status = vec![
        ("failed".to_owned(), col::<i64>(&counts, "failed")?),
        ("held".to_owned(), col::<i64>(&counts, "held")?),
        ("parked".to_owned(), col::<i64>(&counts, "parked")?),
        ("pending".to_owned(), col::<i64>(&counts, "ready")? + col::<i64>(&counts, "retry")? + spooled),
    ];
    let oldest = c
        // The first pending row by arrival, with or without a back-off: one probe
        // of each of the queue's indexes, whatever the backlog.
        .query_one_raw(stmt(backend, OLDEST_PENDING, []))
        .await?
        .map(|r| col::<Option<i64>>(&r, "t"))
        .transpose()?
        .flatten()
        .map(Micros);
    c.commit().await?;
    Ok((by_status, oldest.into_iter().chain(oldest_spooled).min()))
}

/// Stored events whose id starts with `prefix` (benchmarks check that every
/// acknowledged delivery was stored).
pub async fn count_with_prefix(c: &impl ConnectionTrait, prefix: &str) -> Result<i64, DbErr> {
    // substr, not LIKE (`_` is a wildcard there) nor a range (collations differ).
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT COUNT(*) AS n FROM inbox_events WHERE substr(event_id, 1, CAST(? AS INTEGER)) = ?",
            [(prefix.chars().count() as i64).into(), prefix.into()],
        ))
        .await?;
    row.map(|r| col::<i64>(&r, "n")).transpose().map(|n| n.unwrap_or(0))
}
