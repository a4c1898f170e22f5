//! SQLite's intake spool (issue 40): a delivery is committed to a file of its
//! own, `<database>-inbox`, and answered; the mover then carries it into
//! `inbox_events`, where the reconciler's queue is.
//!
//! Why a second file: SQLite has one writer per file. With the inbox in the
//! seats' file, every delivery's commit waited behind the reconciler's batch
//! (about 70% of the time, measured), and the intake's p99 followed the
//! reconciler's batch length. The spool has one writer that waits for nothing
//! but its own fsync. PostgreSQL has no such lock and no spool.
//!
//! What holds:
//! - A 200 means the spool's commit is on disk (WAL, `synchronous=FULL`).
//! - The move is one transaction in the seats' file: the rows and how far the
//!   move came (`inbox_spool_moves`, keyed by the spool's id) commit together,
//!   so a crash either side of it moves each event exactly once; a copy that
//!   is already there (`ON CONFLICT (event_id)`) is not moved again.
//! - Order: rows move in spool order (`seq`), which is the order the spool
//!   committed them, into `inbox_events`' own `seq`.
//! - A legacy payload's directory group is resolved when it moves, under the
//!   seats' write lock, as the writer did when it stored into the seats' file.
//! - Duplicates are answered as such: the spool's unique key catches one still
//!   there, and a read of `inbox_events` (after the spool's write lock is
//!   taken) one already moved and deleted from the spool.
//! - The file is made (0600, WAL, its tables) beside the database by
//!   `db::connect`, which attaches it to every pooled connection as `spool`.
use crate::{
    db::stmt,
    domain::{EventStatus, Micros},
    inbox::rows::{QueueRow, insert_rows},
    store::col,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use std::time::Duration;

/// The schema name the spool is attached under on the pool's connections.
pub const ATTACHED_AS: &str = "spool";
/// Bodies moved in one transaction, about: a spool of large payloads moves in
/// more, smaller steps rather than loading them all at once.
const MOVE_BYTES_AT_MOST: usize = 8 * 1024 * 1024;
/// How long the mover lets spooled events gather after a ring.
const GATHER_FOR: Duration = Duration::from_millis(10);
/// Rows moved in one transaction at most: a move stays short beside the
/// reconciler's batches.
pub const MOVE_AT_MOST: usize = 1024;
/// Whether a connection has the spool attached (a SQLite file's pool does).
pub async fn attached(c: &impl ConnectionTrait) -> Result<bool, DbErr> {
    if c.get_database_backend() != DbBackend::Sqlite {
        return Ok(false);
    }
    let row = c
        .query_one_raw(stmt(
            DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM pragma_database_list WHERE name = ?",
            [ATTACHED_AS.into()],
        ))
        .await?;
    Ok(row.map(|r| col::<i64>(&r, "n")).transpose()?.unwrap_or(0) > 0)
}

/// The spool's id and how far the move has come for it. A mark past the
/// spool's own high-water mark (a spool older than the seats' file, copied
/// back by hand) means this spool's numbers were reused: it is moved from its
/// start again, and what is already in the queue stays once.
async fn progress(c: &impl ConnectionTrait) -> Result<(String, i64), DbErr> {
    let row = c
        .query_one_raw(stmt(
            DbBackend::Sqlite,
            "SELECT i.id AS id, COALESCE(m.moved_seq, 0) AS moved, COALESCE((SELECT q.seq FROM \
             spool.sqlite_sequence q WHERE q.name = 'inbox_spool'), 0) AS high FROM spool.spool_identity i \
             LEFT JOIN inbox_spool_moves m ON m.spool_id = i.id LIMIT 1",
            [],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the inbox spool has no id".into()))?;
    let (moved, high): (i64, i64) = (col(&row, "moved")?, col(&row, "high")?);
    Ok((col(&row, "id")?, if moved > high { 0 } else { moved }))
}

/// Events committed to the spool and not moved yet.
pub async fn unmoved(c: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(unmoved_where(c, "").await?.0)
}

/// The pending ones among them, and when the oldest of those arrived: they
/// are pending too, and may be the oldest.
pub async fn unmoved_pending(c: &impl ConnectionTrait) -> Result<(i64, Option<Micros>), DbErr> {
    unmoved_where(c, " AND status = 'pending'").await
}

async fn unmoved_where(c: &impl ConnectionTrait, filter: &str) -> Result<(i64, Option<Micros>), DbErr> {
    let (_, moved) = progress(c).await?;
    let row = c
        .query_one_raw(stmt(
            DbBackend::Sqlite,
            &format!("SELECT COUNT(*) AS n, MIN(received_at) AS t FROM spool.inbox_spool WHERE seq > ?{filter}"),
            [moved.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the spool count returned no row".into()))?;
    Ok((col(&row, "n")?, col::<Option<i64>>(&row, "t")?.map(Micros)))
}

/// The last event spooled so far (its `seq`), if the spool holds any.
async fn spooled_through(c: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    let row = c.query_one_raw(stmt(DbBackend::Sqlite, "SELECT MAX(seq) AS last FROM spool.inbox_spool", [])).await?;
    row.map(|r| col::<Option<i64>>(&r, "last")).transpose().map(Option::flatten)
}

/// Starts the caller's read transaction's snapshot of the spool before it
/// reads anything of the seats' file: what leaves the spool later is then in
/// the queue the caller reads next (a move only adds to the queue).
pub async fn take_snapshot(c: &impl ConnectionTrait) -> Result<(), DbErr> {
    c.query_one_raw(stmt(DbBackend::Sqlite, "SELECT 1 FROM spool.spool_identity LIMIT 1", [])).await?;
    Ok(())
}

/// Moves up to `at_most` spooled events (and about `MOVE_BYTES_AT_MOST` of
/// bodies, at least one event) into `inbox_events`, in the caller's
/// transaction, which it makes the seats' writer first. Returns how many rows
/// it read from the spool.
pub async fn move_into_queue(c: &impl ConnectionTrait, at_most: usize) -> Result<usize, DbErr> {
    move_through(c, at_most, i64::MAX).await
}

/// `move_into_queue`, of the spool's rows up to `through` (its `seq`) only.
async fn move_through(c: &impl ConnectionTrait, at_most: usize, through: i64) -> Result<usize, DbErr> {
    crate::db::write_first(c).await?;
    let (spool_id, moved) = progress(c).await?;
    let rows = c
        .query_all_raw(stmt(
            DbBackend::Sqlite,
            "SELECT seq, event_id, event_type, body, received_at, status, order_key, traceparent FROM (\
               SELECT *, SUM(length(body)) OVER (ORDER BY seq) - length(body) AS before FROM (\
                 SELECT seq, event_id, event_type, body, received_at, status, order_key, traceparent \
                 FROM spool.inbox_spool WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?)) \
             WHERE before < ? ORDER BY seq",
            [moved.into(), through.into(), (at_most as i64).into(), (MOVE_BYTES_AT_MOST as i64).into()],
        ))
        .await?;
    let Some(last) = rows.last() else { return Ok(0) };
    let last: i64 = col(last, "seq")?;
    let keys: Vec<Option<String>> = rows.iter().map(|r| col(r, "order_key")).collect::<Result<_, _>>()?;
    let keys = crate::inbox::groups::known_groups(c, keys).await?;
    let mut queued = Vec::with_capacity(rows.len());
    for (row, order_key) in rows.iter().zip(keys) {
        let status: String = col(row, "status")?;
        // The spool's CHECK allows these two only; said again here so a
        // changed spool cannot carry anything else into the queue.
        let status = EventStatus::parse(&status)
            .filter(|s| matches!(s, EventStatus::Pending | EventStatus::Ignored))
            .ok_or_else(|| DbErr::Custom(format!("the inbox spool holds status {status:?}")))?;
        queued.push(QueueRow {
            event_id: col(row, "event_id")?,
            event_type: col(row, "event_type")?,
            body: col(row, "body")?,
            received_at: Micros(col(row, "received_at")?),
            status,
            order_key,
            traceparent: col(row, "traceparent")?,
        });
    }
    // A copy already there (moved before, or stored by the poller) stays once.
    insert_rows(c, &queued).await?;
    c.execute_raw(stmt(
        DbBackend::Sqlite,
        "INSERT INTO inbox_spool_moves (spool_id, moved_seq) VALUES (?, ?) \
         ON CONFLICT (spool_id) DO UPDATE SET moved_seq = excluded.moved_seq",
        [spool_id.into(), last.into()],
    ))
    .await?;
    Ok(rows.len())
}

/// Moves what was spooled when it was called, a transaction per move, and
/// nothing spooled after: the reconciler calls it before each batch while
/// the mover moves too, and a move that chased new arrivals (counting rows
/// the mover had already taken as still to do) kept the batch waiting for
/// up to 130 ms under load. Nothing to do where there is no spool. Returns
/// how many rows this call moved.
pub async fn move_all(db: &DatabaseConnection) -> Result<u64, DbErr> {
    if !attached(db).await? {
        return Ok(0);
    }
    let started = std::time::Instant::now();
    let Some(through) = spooled_through(db).await? else { return Ok(0) };
    let mut total = 0u64;
    loop {
        let txn = db.begin().await?;
        let moved = move_through(&txn, MOVE_AT_MOST, through).await?;
        txn.commit().await?;
        if moved == 0 {
            break;
        }
        total += moved as u64;
    }
    if total > 0 {
        tracing::debug!(events = total, took_us = started.elapsed().as_micros() as u64, "spool moved");
    }
    Ok(total)
}

/// The mover: moves whatever the lane committed, when rung (the writer rings
/// after each lane commit) and every second (another process's lane, the CLI's,
/// rings nobody here). Rings `arrivals` when it moved something. Ends when the
/// writer drops the other end.
pub async fn keep_moving(db: DatabaseConnection, mut rung: tokio::sync::mpsc::Receiver<()>, arrivals: super::Arrivals) {
    let mut failures = 0u32;
    loop {
        tokio::select! {
            ring = rung.recv() => if ring.is_none() { return },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        // Let a few lane commits gather: each move is a commit (an fsync) in
        // the seats' file, and one per lane commit doubled the disk's flushes
        // under load.
        tokio::time::sleep(GATHER_FOR).await;
        match move_all(&db).await {
            Ok(moved) => {
                failures = 0;
                if moved > 0 {
                    arrivals.ring();
                }
            }
            Err(err) => {
                // Still in the spool, durable: the next ring or tick moves it.
                failures += 1;
                if failures == 1 || failures.is_multiple_of(60) {
                    tracing::warn!(error = %err, failures, "could not move spooled events into the queue; retrying");
                }
                tokio::time::sleep(Duration::from_millis(100).saturating_mul(failures.min(10))).await;
            }
        }
    }
}

/// Deletes the spool's rows that were moved (the oldest `at_most` of them),
/// given the schema names the spool and the queue's file have on the
/// connection (the lane's or the pool's). Only a row whose copy is in the
/// queue goes: a mark that is wrong for this spool never deletes an event.
pub fn forget_moved_sql(spool: &str, queue: &str, at_most: usize) -> String {
    format!(
        "DELETE FROM {spool}.inbox_spool WHERE seq IN (SELECT s.seq FROM {spool}.inbox_spool s \
         WHERE s.seq <= (SELECT COALESCE(MAX(m.moved_seq), 0) FROM {queue}.inbox_spool_moves m \
         JOIN {spool}.spool_identity i ON i.id = m.spool_id) \
         AND EXISTS (SELECT 1 FROM {queue}.inbox_events e WHERE e.event_id = s.event_id) \
         ORDER BY s.seq LIMIT {at_most})"
    )
}

/// `forget_moved_sql` through the pool (prune), `batch` rows a statement with
/// `pause` between, so the lane waits at most one small delete. Nothing to do
/// without a spool.
pub async fn forget_moved(db: &DatabaseConnection, batch: usize, pause: Duration) -> Result<u64, DbErr> {
    if !attached(db).await? {
        return Ok(0);
    }
    let sql = forget_moved_sql(ATTACHED_AS, "main", batch);
    let mut total = 0;
    loop {
        let deleted = db.execute_raw(stmt(DbBackend::Sqlite, &sql, [])).await?.rows_affected();
        total += deleted;
        if deleted < batch as u64 {
            return Ok(total);
        }
        tokio::time::sleep(pause).await;
    }
}
