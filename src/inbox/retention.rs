//! Retention: stored events that are settled, or parked for longer than anyone
//! waits, and old dead letters are deleted after `INBOX_RETENTION_DAYS`, in
//! small batches so a first prune of millions of rows never holds a long lock.
//! Never touched: `pending` and `held` events, the audit (it keeps the event
//! ids), the sync cursor, directory users (their `updated_at` is what makes a
//! WorkOS retry of a pruned event harmless: it is stale, or changes nothing).
use crate::{
    db::stmt,
    domain::{EventStatus, Micros},
    store::{col, leases, outbound},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use std::time::Duration;

/// The statuses that may be pruned once old enough.
pub const PRUNABLE: [EventStatus; 5] =
    [EventStatus::Applied, EventStatus::Ignored, EventStatus::Stale, EventStatus::Failed, EventStatus::Parked];
/// Rows deleted per transaction, and the pause after each: on SQLite the one
/// connection is the webhook's too, so batches stay small and leave it gaps.
fn batch(backend: DbBackend) -> (i64, Duration) {
    match backend {
        DbBackend::Sqlite => (200, Duration::from_millis(2)),
        _ => (1000, Duration::ZERO),
    }
}
/// How long a replica's claim on the hourly prune lasts.
const LEASE: Duration = Duration::from_secs(600);

/// Counts by status (`dead_letters` for dead letters), in a fixed order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub by_status: Vec<(&'static str, u64)>,
    pub dead_letters: u64,
    /// Delivered billing messages (each plan's newest is kept).
    pub delivered_messages: u64,
    /// `seq` windows the events' walk read (each at most one batch of rows).
    pub windows: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.by_status.iter().map(|(_, n)| n).sum::<u64>() + self.dead_letters + self.delivered_messages
    }
}

/// Events received before this moment may go.
pub fn cutoff(now: Micros, retention: Duration) -> Micros {
    now.minus(retention)
}

/// Whether parked events may be pruned at this retention: never at 0, which
/// prunes settled events at once (an initial sync that arrives before its plan
/// parks, and must still be there when the plan is created).
pub fn prunes_parked(retention: Duration) -> bool {
    !retention.is_zero()
}

/// Deletes (or with `dry_run`, counts) what is older than `retention` before `now`.
pub async fn prune(db: &DatabaseConnection, now: Micros, retention: Duration, dry_run: bool) -> Result<Pruned, DbErr> {
    let backend = db.get_database_backend();
    let (batch_rows, pause) = batch(backend);
    let cutoff = cutoff(now, retention);
    let mut pruned = Pruned::default();
    let statuses: Vec<EventStatus> =
        PRUNABLE.into_iter().filter(|s| *s != EventStatus::Parked || prunes_parked(retention)).collect();
    if !dry_run {
        // SQLite's spool first keeps nothing the queue has (its rows go only
        // while their copies are there): a retry of an event pruned below is
        // then stored again, as on PostgreSQL.
        crate::inbox::spool::forget_moved(db, batch_rows as usize, pause).await?;
    }
    let counts = if dry_run {
        let mut counts = Vec::new();
        for status in &statuses {
            let row = db
                .query_one_raw(stmt(
                    backend,
                    "SELECT COUNT(*) AS n FROM inbox_events WHERE status = ? AND received_at < ?",
                    [status.as_str().into(), cutoff.0.into()],
                ))
                .await?;
            counts.push((*status, row.map(|r| col::<i64>(&r, "n")).transpose()?.unwrap_or(0).max(0) as u64));
        }
        counts
    } else {
        let (counts, windows) = prune_events(db, &statuses, cutoff, batch_rows, pause).await?;
        pruned.windows = windows;
        counts
    };
    for status in PRUNABLE {
        let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
        pruned.by_status.push((status.as_str(), n));
    }
    pruned.dead_letters = if dry_run {
        let row = db
            .query_one_raw(stmt(
                backend,
                "SELECT COUNT(*) AS n FROM dead_letters WHERE received_at < ?",
                [cutoff.0.into()],
            ))
            .await?;
        row.map(|r| col::<i64>(&r, "n")).transpose()?.unwrap_or(0).max(0) as u64
    } else {
        let mut total = 0u64;
        loop {
            let deleted = db
                .execute_raw(stmt(
                    backend,
                    "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters \
                     WHERE received_at < ? ORDER BY id LIMIT ?)",
                    [cutoff.0.into(), batch_rows.into()],
                ))
                .await?
                .rows_affected();
            total += deleted;
            if deleted < batch_rows as u64 {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        total
    };
    pruned.delivered_messages = if dry_run {
        outbound::count_prunable(db, cutoff).await?
    } else {
        let mut total = 0u64;
        loop {
            let deleted = outbound::prune_delivered(db, cutoff, batch_rows).await?;
            total += deleted;
            if deleted < batch_rows as u64 {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        total
    };
    if !dry_run {
        // Portal links and sessions that can open nothing any more (a day
        // past their end): small, and not counted with the inbox.
        crate::store::portal::prune(db, now).await?;
    }
    Ok(pruned)
}

/// A window whose remaining rows were all received this long after the
/// cutoff shows that every later row (by `seq`) is younger than the cutoff
/// too: `seq` follows insertion, and `received_at` is the insert's time, give
/// or take the replicas' clocks.
const SEQ_CLOCK_SLACK_MICROS: i64 = 10 * 60 * 1_000_000;

/// Deletes prunable events in windows of `seq` (the primary key), oldest
/// first, each in its own short transaction. A window is a key range, so no
/// statement reads more than `batch_rows` rows, however many younger rows
/// follow; the walk ends at the first window left holding only rows clearly
/// younger than the cutoff, or at the end of the table.
async fn prune_events(
    db: &DatabaseConnection,
    statuses: &[EventStatus],
    cutoff: Micros,
    batch_rows: i64,
    pause: Duration,
) -> Result<(Vec<(EventStatus, u64)>, u64), DbErr> {
    let backend = db.get_database_backend();
    let mut counts: Vec<(EventStatus, u64)> = statuses.iter().map(|s| (*s, 0)).collect();
    let mut windows = 0u64;
    if statuses.is_empty() {
        return Ok((counts, windows));
    }
    let placeholders = vec!["?"; statuses.len()].join(", ");
    let delete = format!(
        "DELETE FROM inbox_events WHERE seq >= ? AND seq < ? AND received_at < ? AND status IN ({placeholders}) \
         RETURNING status"
    );
    let first_from = |from: i64| stmt(backend, "SELECT MIN(seq) AS s FROM inbox_events WHERE seq >= ?", [from.into()]);
    let mut next =
        db.query_one_raw(first_from(i64::MIN)).await?.and_then(|r| col::<Option<i64>>(&r, "s").ok().flatten());
    while let Some(from) = next {
        let to = from.saturating_add(batch_rows);
        let mut values: Vec<sea_orm::Value> = vec![from.into(), to.into(), cutoff.0.into()];
        values.extend(statuses.iter().map(|s| s.as_str().into()));
        // One short transaction per window: webhooks and the reconciler get
        // the database in between. The conditions are on the DELETE itself,
        // so a row whose status changed meanwhile (unparked, say) is kept.
        windows += 1;
        let txn = db.begin().await?;
        let deleted = txn.query_all_raw(stmt(backend, &delete, values)).await?;
        txn.commit().await?;
        for row in &deleted {
            let status: String = col(row, "status")?;
            if let Some(entry) = counts.iter_mut().find(|(s, _)| s.as_str() == status) {
                entry.1 += 1;
            }
        }
        let oldest_left = db
            .query_one_raw(stmt(
                backend,
                "SELECT MIN(received_at) AS t FROM inbox_events WHERE seq >= ? AND seq < ?",
                [from.into(), to.into()],
            ))
            .await?
            .and_then(|r| col::<Option<i64>>(&r, "t").ok().flatten());
        if oldest_left.is_some_and(|t| t >= cutoff.0.saturating_add(SEQ_CLOCK_SLACK_MICROS)) {
            break;
        }
        // The next row that is there, past any gap left by earlier prunes.
        next = db.query_one_raw(first_from(to)).await?.and_then(|r| col::<Option<i64>>(&r, "s").ok().flatten());
        if next.is_some() && !deleted.is_empty() {
            tokio::time::sleep(pause).await;
        }
    }
    Ok((counts, windows))
}

/// Takes the prune lease for `owner` if no other replica holds a live one:
/// one replica prunes at a time, and a crashed one's lease runs out.
pub async fn take_lease(db: &DatabaseConnection, owner: &str, now: Micros) -> Result<bool, DbErr> {
    leases::take(db, "prune_lease", owner, now, LEASE).await
}

/// Gives the lease back after a run.
pub async fn release_lease(db: &DatabaseConnection, owner: &str) -> Result<(), DbErr> {
    leases::release(db, "prune_lease", owner).await
}

/// `serve`'s pruning: every `every`, by one replica at a time, until `stop`.
pub async fn prune_periodically(
    db: DatabaseConnection,
    retention: Duration,
    every: Duration,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let owner = ulid::Ulid::new().to_string();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = Micros::now();
        match take_lease(&db, &owner, now).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "prune: could not take the lease");
                continue;
            }
        }
        match prune(&db, now, retention, false).await {
            Ok(pruned) => {
                for (status, n) in &pruned.by_status {
                    metrics.pruned(status, *n);
                }
                metrics.pruned("dead_letter", pruned.dead_letters);
                metrics.pruned("delivered_message", pruned.delivered_messages);
                tracing::info!(total = pruned.total(), by_status = ?pruned.by_status, dead_letters = pruned.dead_letters, "pruned");
            }
            Err(err) => tracing::warn!(error = %err, "prune failed; next run retries"),
        }
        if let Err(err) = release_lease(&db, &owner).await {
            tracing::warn!(error = %err, "prune: could not release the lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_retention_before_now() {
        let now = Micros(10_000_000);
        assert_eq!(cutoff(now, Duration::from_secs(3)), Micros(7_000_000));
        assert_eq!(cutoff(now, Duration::ZERO), now);
    }

    #[test]
    fn parked_events_are_kept_at_retention_zero() {
        assert!(!prunes_parked(Duration::ZERO));
        assert!(prunes_parked(Duration::from_secs(86_400)));
    }

    #[test]
    fn pending_and_held_events_are_never_prunable() {
        assert!(!PRUNABLE.contains(&EventStatus::Pending) && !PRUNABLE.contains(&EventStatus::Held));
    }
}
