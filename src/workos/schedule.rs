//! `serve`'s optional background pulls: the Events API every
//! `WORKOS_EVENTS_POLL_SECS`, a full resync of every plan every
//! `WORKOS_RESYNC_EVERY_SECS`.
use super::{
    WorkosClient,
    backfill::{BackfillError, backfill},
    resync::{ResyncOptions, resync},
};
use crate::{reconcile::Reconciler, seats::guard::GuardSettings, store::plans};
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio::sync::watch;

/// The longest one pull of the Events API may take on PostgreSQL
/// (`db::bounded`).
const POLL_WITHIN: Duration = Duration::from_secs(60);

pub async fn poll_events(
    db: DatabaseConnection,
    client: WorkosClient,
    every: Duration,
    reconciler: Reconciler,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // Bounded on PostgreSQL (`db::bounded`): a pull stuck on a hung
        // database node starts again from the stored cursor.
        let pull = backfill(&db, &client, None, reconciler.faults(), |_| {});
        let pulled = crate::db::bounded(db.get_database_backend(), POLL_WITHIN, pull).await;
        match pulled.unwrap_or(Err(BackfillError::Database(crate::db::timed_out()))) {
            Ok(s) if s.stored > 0 => {
                tracing::info!(stored = s.stored, duplicates = s.duplicates, "events pulled from WorkOS");
                reconciler.wake();
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "polling the WorkOS Events API failed"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

pub async fn resync_all(
    db: DatabaseConnection,
    client: WorkosClient,
    every: Duration,
    guard: GuardSettings,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
        let all = match plans::list(&db).await {
            Ok(all) => all,
            Err(err) => {
                tracing::warn!(error = %err, "scheduled resync could not list plans");
                continue;
            }
        };
        // A plan whose SCIM is not configured yet has nothing to compare.
        for (plan, org) in all.iter().filter_map(|p| Some((p, p.organization_id.as_ref()?))) {
            let options = ResyncOptions { guard, ..Default::default() };
            match resync(&db, &client, org, options, |_| {}).await {
                Ok(report) => {
                    for unreadable in &report.unreadable {
                        tracing::warn!(
                            plan_id = %plan.id,
                            unreadable = %unreadable,
                            "scheduled resync: a listed user cannot be read; neither added nor removed"
                        );
                    }
                    tracing::info!(
                        plan_id = %plan.id,
                        users = report.users_listed,
                        unreadable = report.unreadable.len(),
                        removed = report.users_removed,
                        seat_changes = report.seat_changes.len(),
                        "scheduled resync done"
                    )
                }
                Err(err) => {
                    tracing::warn!(plan_id = %plan.id, error = %err, "scheduled resync failed")
                }
            }
        }
    }
}
