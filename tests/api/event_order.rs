//! Events in the order they really come: late, reordered, retried, parked
//! until their plan exists, legacy payloads, faults while applying.
use crate::both_stores;
use crate::helpers::*;
use crate::reconcile::{change, reasons};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

async fn late_and_reordered_events_are_stale(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let u = |id: &str, kind: &str, state: &str, t: u32| {
        UserEvent {
            id,
            kind,
            user: "directory_user_1",
            email: "ann@example.com",
            state,
            at: &at(t),
            ..Default::default()
        }
        .json()
    };
    app.deliver(&u("event_t20", "updated", "inactive", 20)).await;
    app.deliver(&u("event_t10", "created", "active", 10)).await;
    app.settle().await;
    assert_eq!(app.event_status("event_t20").await, "applied");
    assert_eq!(app.event_status("event_t10").await, "stale");
    assert_eq!(app.seats(&plan).await, vec![]);

    app.deliver(&u("event_t30", "updated", "active", 30)).await;
    app.deliver(&u("event_t40_deleted", "deleted", "active", 40)).await;
    // A retry of an update with the deletion's own time, and an older one.
    app.deliver(&u("event_t40_update", "updated", "active", 40)).await;
    app.deliver(&u("event_t35", "updated", "active", 35)).await;
    app.settle().await;
    assert_eq!(app.event_status("event_t30").await, "applied");
    assert_eq!(app.event_status("event_t40_deleted").await, "applied");
    assert_eq!(app.event_status("event_t40_update").await, "stale");
    assert_eq!(app.event_status("event_t35").await, "stale");
    assert_eq!(app.seats(&plan).await, vec![seat("ann@example.com", "free", "manual")]);
    let applied_at = app.admin_json("/admin/events/event_t35").await["applied_at"].clone();
    assert!(applied_at.as_str().is_some());

    // Same updated_at as held (not a deletion) applies.
    app.user(UserEvent {
        id: "event_b1",
        user: "directory_user_2",
        email: "bo@example.com",
        at: &at(50),
        ..Default::default()
    })
    .await;
    app.user(UserEvent {
        id: "event_b2",
        kind: "updated",
        user: "directory_user_2",
        email: "bo@example.com",
        state: "inactive",
        at: &at(50),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.event_status("event_b2").await, "applied");
    assert!(app.seats(&plan).await.contains(&seat("bo@example.com", "free", "manual")));
}

async fn an_email_change_moves_the_seat(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_1",
        user: "directory_user_1",
        email: "old@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.user(UserEvent {
        id: "event_2",
        kind: "updated",
        user: "directory_user_1",
        email: "New@Example.com",
        at: &at(2),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(
        app.seats(&plan).await,
        vec![seat("new@example.com", "paid", "directory"), seat("old@example.com", "free", "manual")]
    );
    let trail = reasons(&app, &plan).await;
    assert_eq!(
        trail,
        vec![
            change("old@example.com", None, "paid", "directory_user_active"),
            change("old@example.com", Some("paid"), "free", "email_changed"),
            change("new@example.com", None, "paid", "email_changed"),
        ]
    );
}

async fn emails_are_matched_without_regard_to_case(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.set_tier(&plan, "Bob@Example.COM", "free").await;
    app.user(UserEvent {
        id: "event_1",
        user: "directory_user_1",
        email: "BOB@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.seats(&plan).await, vec![seat("bob@example.com", "paid", "directory")]);
    let member = &app.admin_json(&format!("/admin/plans/{plan}/members")).await["data"][0];
    assert_eq!(member["directory_user_id"], "directory_user_1");
}

async fn events_wait_parked_until_their_plan_exists(store: Store) {
    let app = spawn_app(store).await;
    app.deliver(&directory_event("event_dir", "dsync.activated", ORG, DIRECTORY)).await;
    app.user(UserEvent {
        id: "event_1",
        user: "directory_user_1",
        email: "a@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.user(UserEvent {
        id: "event_2",
        kind: "updated",
        user: "directory_user_1",
        email: "a@example.com",
        state: "inactive",
        at: &at(2),
        ..Default::default()
    })
    .await;
    app.user(UserEvent {
        id: "event_3",
        user: "directory_user_2",
        email: "b@example.com",
        at: &at(3),
        ..Default::default()
    })
    .await;
    app.settle().await;
    for id in ["event_dir", "event_1", "event_2", "event_3"] {
        assert_eq!(app.event_status(id).await, "parked", "{id}");
    }
    let plan = app.create_plan(ORG, None).await;
    app.settle().await;
    for id in ["event_dir", "event_1", "event_2", "event_3"] {
        assert_eq!(app.event_status(id).await, "applied", "{id}");
    }
    assert_eq!(
        app.seats(&plan).await,
        vec![seat("a@example.com", "free", "manual"), seat("b@example.com", "paid", "directory")]
    );
    // Original order: a was paid, then freed, then b was paid.
    let trail = reasons(&app, &plan).await;
    assert_eq!(
        trail,
        vec![
            change("a@example.com", None, "paid", "directory_user_active"),
            change("a@example.com", Some("paid"), "free", "directory_user_inactive"),
            change("b@example.com", None, "paid", "directory_user_active"),
        ]
    );
}

async fn a_legacy_user_without_organization_uses_its_directory(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let mut legacy = UserEvent {
        id: "event_legacy",
        kind: "updated",
        user: "directory_user_9",
        email: "x@example.com",
        at: &at(5),
        ..Default::default()
    }
    .json();
    legacy["data"].as_object_mut().unwrap().remove("organization_id");
    app.deliver(&legacy).await;
    app.settle().await;
    assert_eq!(app.event_status("event_legacy").await, "parked");
    app.deliver(&directory_event("event_dir", "dsync.activated", ORG, DIRECTORY)).await;
    app.settle().await;
    assert_eq!(app.event_status("event_legacy").await, "applied");
    assert_eq!(app.seats(&plan).await, vec![seat("x@example.com", "paid", "directory")]);
}

async fn an_event_that_cannot_be_applied_is_failed_with_a_reason(store: Store) {
    let app = spawn_app(store).await;
    app.create_plan(ORG, None).await;
    let mut event = UserEvent {
        id: "event_noemail",
        user: "directory_user_1",
        email: "a@example.com",
        at: &at(1),
        ..Default::default()
    }
    .json();
    event["data"]["email"] = Value::Null;
    event["data"]["custom_attributes"] = json!({});
    app.deliver(&event).await;
    app.settle().await;
    let status = app.admin_json("/admin/events/event_noemail").await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["error"], "directory user has no usable email");
}

async fn the_background_reconciler_applies_without_being_asked(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_bg",
        user: "directory_user_1",
        email: "a@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    let status = eventually(std::time::Duration::from_secs(5), "event_bg settles", || async {
        let status = app.event_status("event_bg").await;
        if status != "pending" { Ok(status) } else { Err(status) }
    })
    .await;
    assert_eq!(status, "applied");
    assert_eq!(app.seats(&plan).await, vec![seat("a@example.com", "paid", "directory")]);
    let text = app.metrics_text().await;
    let line = "seatsync_events_reconciled_total{event=\"dsync.user.created\",status=\"applied\"} 1\n";
    assert!(text.contains(line), "{text}");
}

async fn a_database_fault_while_applying_leaves_the_event_pending_and_it_is_retried(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    // The members table vanishes for a moment: applying fails, as when the database hiccups.
    app.db.execute_unprepared("ALTER TABLE members RENAME TO members_away").await.unwrap();
    app.user(UserEvent {
        id: "event_fault",
        user: "directory_user_1",
        email: "a@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    let status = eventually(std::time::Duration::from_secs(5), "event_fault waits to retry", || async {
        let status = app.admin_json("/admin/events/event_fault").await;
        if status["error"].as_str().is_some_and(|e| e.starts_with("retrying:")) { Ok(status) } else { Err(status) }
    })
    .await;
    assert_eq!(status["status"], "pending", "{status}");
    assert!(status["error"].as_str().unwrap().starts_with("retrying:"), "{status}");
    app.db.execute_unprepared("ALTER TABLE members_away RENAME TO members").await.unwrap();
    let final_status = eventually(std::time::Duration::from_secs(10), "event_fault settles", || async {
        let status = app.event_status("event_fault").await;
        if status != "pending" { Ok(status) } else { Err(status) }
    })
    .await;
    assert_eq!(final_status, "applied");
    assert_eq!(app.admin_json("/admin/events/event_fault").await["error"], Value::Null);
    assert_eq!(app.seats(&plan).await, vec![seat("a@example.com", "paid", "directory")]);
}

both_stores!(
    late_and_reordered_events_are_stale,
    an_email_change_moves_the_seat,
    emails_are_matched_without_regard_to_case,
    events_wait_parked_until_their_plan_exists,
    a_legacy_user_without_organization_uses_its_directory,
    an_event_that_cannot_be_applied_is_failed_with_a_reason,
    the_background_reconciler_applies_without_being_asked,
    a_database_fault_while_applying_leaves_the_event_pending_and_it_is_retried,
);
