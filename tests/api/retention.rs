//! Retention: `seatsync prune` and `serve`'s hourly pruning.
use crate::both_stores;
use crate::helpers::*;
use sea_orm::ConnectionTrait;
use seatsync::{
    domain::Micros,
    inbox::retention::{Pruned, prune, release_lease, take_lease},
};
use serde_json::json;
use std::time::Duration;

async fn prune_deletes_what_is_settled_or_parked_and_keeps_what_is_not(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let limited = app.client.patch(app.url(&format!("/admin/plans/{plan}"))).bearer_auth(ADMIN_TOKEN);
    assert_eq!(limited.json(&json!({"release_limit": 1})).send().await.unwrap().status(), 200);
    for i in 0..12u32 {
        let (user, email) = (format!("directory_user_{i}"), format!("user{i:02}@example.com"));
        app.user(UserEvent {
            id: &format!("event_c{i}"),
            user: &user,
            email: &email,
            at: &at(i),
            ..Default::default()
        })
        .await;
    }
    app.user(UserEvent {
        id: "event_late",
        kind: "updated",
        user: "directory_user_5",
        email: "user05@example.com",
        state: "inactive",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.deliver(&json!({"id": "event_other_type", "event": "connection.activated", "data": {}})).await;
    app.deliver(&json!({"id": "event_no_email", "event": "dsync.user.created",
        "data": {"id": "u", "directory_id": DIRECTORY, "organization_id": ORG, "state": "active",
                 "updated_at": "2026-01-01T00:00:00Z"}}))
        .await;
    app.user_in_other_org("event_parked").await;
    app.settle().await;
    // One deactivation goes, the next is held by the guard (limit 1).
    app.user(UserEvent {
        id: "event_off1",
        kind: "updated",
        user: "directory_user_1",
        email: "user01@example.com",
        state: "inactive",
        at: &at(100),
        ..Default::default()
    })
    .await;
    app.user(UserEvent {
        id: "event_off2",
        kind: "updated",
        user: "directory_user_2",
        email: "user02@example.com",
        state: "inactive",
        at: &at(101),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.event_status("event_off2").await, "held");
    // A pending event, held back by a long retry back-off.
    app.user(UserEvent {
        id: "event_pending",
        user: "directory_user_p",
        email: "p@example.com",
        at: &at(200),
        ..Default::default()
    })
    .await;
    let far = Micros::now().0 + 3_600_000_000;
    app.db
        .execute_unprepared(&format!(
            "UPDATE inbox_events SET status = 'pending', next_attempt_at = {far} WHERE event_id = 'event_pending'"
        ))
        .await
        .unwrap();
    assert_eq!(app.post_webhook(b"[1, 2, 3]").await.status(), 422);

    let audit_rows = app.count("SELECT COUNT(*) FROM seat_audit").await;
    let seats = app.seats(&plan).await;
    // Two days from now, with one day's retention: everything stored is older.
    let (later, day) = (Micros(Micros::now().0 + 2 * 86_400_000_000), Duration::from_secs(86_400));
    let dry = prune(&app.db, later, day, true).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 19);
    let expected = vec![("applied", 13), ("ignored", 1), ("stale", 1), ("failed", 1), ("parked", 1)];
    assert_eq!((dry.by_status.clone(), dry.dead_letters), (expected.clone(), 1));
    let done = prune(&app.db, later, day, false).await.unwrap();
    assert_eq!(Pruned { windows: 0, ..done }, dry);
    // Left: the held deactivation and the pending one.
    let left: Vec<String> = {
        let rows = app
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                "SELECT event_id FROM inbox_events ORDER BY seq".to_owned(),
            ))
            .await
            .unwrap();
        rows.iter().map(|r| r.try_get::<String>("", "event_id").unwrap()).collect()
    };
    assert_eq!(left, vec!["event_off2", "event_pending"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM dead_letters").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM seat_audit").await, audit_rows);

    // WorkOS retrying a pruned creation: stored again, and nothing changes.
    let retry = app
        .user(UserEvent {
            id: "event_c3",
            user: "directory_user_3",
            email: "user03@example.com",
            at: &at(3),
            ..Default::default()
        })
        .await;
    assert_eq!(retry["status"], "accepted");
    app.settle().await;
    assert_eq!(app.seats(&plan).await, seats);
    assert_eq!(app.count("SELECT COUNT(*) FROM seat_audit").await, audit_rows);
}

async fn serve_prunes_on_its_own_and_one_replica_at_a_time(store: Store) {
    let app = spawn_app_with(store, &[("INBOX_RETENTION_DAYS", "0"), ("INBOX_PRUNE_EVERY_SECS", "1")]).await;
    app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_a",
        user: "directory_user_a",
        email: "a@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.settle().await;
    // Done when the row is gone and the run that deleted it has been counted
    // (the counter moves after the whole run, not after each batch).
    let line = "seatsync_pruned_events_total{status=\"applied\"} 1\n";
    eventually(Duration::from_secs(10), "serve prunes and counts it", || async {
        let (left, metrics) = (app.count("SELECT COUNT(*) FROM inbox_events").await, app.metrics_text().await);
        if left == 0 && metrics.contains(line) { Ok(()) } else { Err((left, metrics)) }
    })
    .await;

    // The lease: a second replica waits while the first prunes.
    let now = Micros::now();
    assert!(take_lease(&app.db, "replica-a", now).await.unwrap());
    assert!(!take_lease(&app.db, "replica-b", now).await.unwrap());
    release_lease(&app.db, "replica-a").await.unwrap();
    assert!(take_lease(&app.db, "replica-b", now).await.unwrap());
}

/// Statuses of the stored events, by id.
async fn stored(app: &TestApp) -> Vec<(String, String)> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT event_id, status FROM inbox_events ORDER BY seq".to_owned(),
        ))
        .await
        .unwrap();
    rows.iter().map(|r| (r.try_get("", "event_id").unwrap(), r.try_get("", "status").unwrap())).collect()
}

async fn prune_keeps_settled_events_younger_than_the_retention_and_parked_ones_at_zero(store: Store) {
    let app = spawn_app(store).await;
    app.create_plan(ORG, None).await;
    app.user(UserEvent { id: "event_applied", ..Default::default() }).await;
    app.user_in_other_org("event_parked").await;
    app.settle().await;
    let both =
        vec![("event_applied".to_owned(), "applied".to_owned()), ("event_parked".to_owned(), "parked".to_owned())];

    // Stored a moment ago: a day's retention keeps both, now and in twelve hours.
    let day = Duration::from_secs(86_400);
    let half_a_day_on = Micros(Micros::now().0 + 43_200_000_000);
    for now in [Micros::now(), half_a_day_on] {
        let kept = prune(&app.db, now, day, false).await.unwrap();
        assert_eq!(kept.total(), 0, "{kept:?}");
        assert_eq!(stored(&app).await, both);
    }
    // Retention 0: the settled event goes at once, the parked one never.
    let pruned = prune(&app.db, Micros(Micros::now().0 + 1), Duration::ZERO, false).await.unwrap();
    assert_eq!(pruned.total(), 1, "{pruned:?}");
    assert_eq!(stored(&app).await, vec![("event_parked".to_owned(), "parked".to_owned())]);
    // Its plan arrives later: the parked user gets the seat.
    let plan = app.create_plan("org_01NOPLANORGANIZATION", None).await;
    app.settle().await;
    assert_eq!(app.seats(&plan).await, vec![seat("nobody@example.com", "paid", "directory")]);
}

/// The prune's DELETE checks the status again itself: an event its subquery
/// chose but that changed status meanwhile (here: held) is kept.
/// On PostgreSQL the change is made to land between the two: a transaction
/// unparks the row and commits while the prune's DELETE waits for its lock.
async fn prune_keeps_an_event_whose_status_changes_while_it_runs(store: Store) {
    use sea_orm::TransactionTrait;
    let app = spawn_app(store).await;
    app.user_in_other_org("event_parked").await;
    app.settle().await;
    let later = Micros(Micros::now().0 + 2 * 86_400_000_000);
    let day = Duration::from_secs(86_400);
    let unpark = app.db.begin().await.unwrap();
    if store == Store::Postgres {
        unpark
            .execute_unprepared("UPDATE inbox_events SET status = 'held' WHERE event_id = 'event_parked'")
            .await
            .unwrap();
        let db = app.db.clone();
        let pruning = tokio::spawn(async move { prune(&db, later, day, false).await.unwrap() });
        // The DELETE now waits for the row.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!pruning.is_finished());
        unpark.commit().await.unwrap();
        let pruned = pruning.await.unwrap();
        assert_eq!(pruned.total(), 0, "{pruned:?}");
        assert_eq!(stored(&app).await, vec![("event_parked".to_owned(), "held".to_owned())]);
    } else {
        // SQLite has one writer: the unpark commits first, and the prune finds
        // nothing parked.
        unpark
            .execute_unprepared("UPDATE inbox_events SET status = 'held' WHERE event_id = 'event_parked'")
            .await
            .unwrap();
        unpark.commit().await.unwrap();
        assert_eq!(prune(&app.db, later, day, false).await.unwrap().total(), 0);
        assert_eq!(stored(&app).await, vec![("event_parked".to_owned(), "held".to_owned())]);
    }
}

/// The prune's end is bounded: behind a few old events, twenty thousand young
/// ones are not read through (each window is a key range of at most one
/// batch; the walk stops at the first window of young rows only).
async fn prune_stops_at_the_first_window_of_young_events(store: Store) {
    let app = spawn_app(store).await;
    let backend = app.db.get_database_backend();
    let now = Micros::now().0;
    let old = now - 40 * 86_400_000_000;
    let generate = match store {
        Store::Postgres => "SELECT i FROM generate_series(1, 20000) AS g(i)",
        Store::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT i FROM n"
        }
    };
    for (prefix, at, rows) in
        [("event_old_", old, "SELECT 1 AS i UNION ALL SELECT 2 UNION ALL SELECT 3"), ("event_young_", now, generate)]
    {
        app.db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO inbox_events (event_id, event_type, body, received_at, status, attempts, order_key, applied_at) \
                     SELECT '{prefix}' || i, 'dsync.user.created', {}, {at}, 'applied', 0, 'org:org_x', {at} FROM ({rows}) g",
                    if store == Store::Postgres { "'\\x7b7d'::bytea" } else { "x'7b7d'" }
                ),
                [],
            ))
            .await
            .unwrap();
    }
    let pruned = prune(&app.db, Micros::now(), Duration::from_secs(35 * 86_400), false).await.unwrap();
    assert_eq!(pruned.by_status.iter().find(|(s, _)| *s == "applied").unwrap().1, 3);
    assert!(pruned.windows <= 2, "the walk read {} windows", pruned.windows);
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 20_000);
}

both_stores!(
    prune_stops_at_the_first_window_of_young_events,
    prune_deletes_what_is_settled_or_parked_and_keeps_what_is_not,
    prune_keeps_settled_events_younger_than_the_retention_and_parked_ones_at_zero,
    prune_keeps_an_event_whose_status_changes_while_it_runs,
    serve_prunes_on_its_own_and_one_replica_at_a_time,
);
