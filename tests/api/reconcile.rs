//! The contract's story of the test-mode rule, over HTTP, on both stores.
use crate::both_stores;
use crate::helpers::*;
use serde_json::Value;

/// Delivers `n` active users `user{i}@example.com` (i from `from`), settled.
pub(crate) async fn add_users(app: &TestApp, from: u32, n: u32) {
    for i in from..from + n {
        app.user(UserEvent {
            id: &format!("event_add_{i}"),
            user: &format!("directory_user_{i}"),
            email: &format!("user{i}@example.com"),
            at: &at(i),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
}

pub(crate) async fn reasons(app: &TestApp, plan: &str) -> Vec<(String, Option<String>, String, String)> {
    app.audit(plan)
        .await
        .iter()
        .map(|e| {
            (
                e["email"].as_str().unwrap().to_owned(),
                e["from"].as_str().map(str::to_owned),
                e["to"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn change(
    email: &str,
    from: Option<&str>,
    to: &str,
    reason: &str,
) -> (String, Option<String>, String, String) {
    (email.to_owned(), from.map(str::to_owned), to.to_owned(), reason.to_owned())
}

async fn ten_directory_users_leave_existing_seats_alone(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "boss@example.com", "paid").await.status(), 200);
    assert_eq!(app.set_tier(&plan, "user1@example.com", "paid").await.status(), 200);
    assert_eq!(app.set_tier(&plan, "user2@example.com", "free").await.status(), 200);
    assert_eq!(app.set_tier(&plan, "intern@example.com", "free").await.status(), 200);

    add_users(&app, 1, 10).await;

    let mut expected = vec![seat("boss@example.com", "paid", "manual"), seat("intern@example.com", "free", "manual")];
    expected.push(seat("user1@example.com", "paid", "manual"));
    for i in [10, 2, 3, 4, 5, 6, 7, 8, 9] {
        expected.push(seat(&format!("user{i}@example.com"), "paid", "directory"));
    }
    expected.sort();
    assert_eq!(app.seats(&plan).await, expected);
    let shown = app.plan(&plan).await;
    assert_eq!((shown["mode"].as_str(), shown["active_directory_users"].as_u64()), (Some("test"), Some(10)));
    assert_eq!((shown["paid_seats"].as_u64(), shown["free_seats"].as_u64()), (Some(11), Some(1)));
    assert_eq!(shown["enforced_at"], Value::Null);

    // A manual member also in the directory keeps the paid seat when deactivated;
    // a seat the directory granted goes back to free.
    app.user(UserEvent {
        id: "event_off_1",
        kind: "updated",
        user: "directory_user_1",
        email: "user1@example.com",
        state: "inactive",
        at: &at(100),
        ..Default::default()
    })
    .await;
    app.user(UserEvent {
        id: "event_off_2",
        kind: "updated",
        user: "directory_user_2",
        email: "user2@example.com",
        state: "inactive",
        at: &at(100),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let seats = app.seats(&plan).await;
    assert!(seats.contains(&seat("user1@example.com", "paid", "manual")), "{seats:?}");
    assert!(seats.contains(&seat("user2@example.com", "free", "manual")), "{seats:?}");
    let trail = reasons(&app, &plan).await;
    assert_eq!(trail.first(), Some(&change("boss@example.com", None, "paid", "manual")));
    assert!(trail.contains(&change("user2@example.com", Some("free"), "paid", "directory_user_active")));
    assert!(trail.contains(&change("user3@example.com", None, "paid", "directory_user_active")));
    assert_eq!(trail.last(), Some(&change("user2@example.com", Some("paid"), "free", "directory_user_inactive")));
    assert!(!trail.iter().any(|c| c.0 == "user1@example.com" && c.3 != "manual"), "{trail:?}");
}

async fn the_eleventh_user_starts_enforcement(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.set_tier(&plan, "boss@example.com", "paid").await;
    app.set_tier(&plan, "user3@example.com", "paid").await;
    app.set_tier(&plan, "intern@example.com", "free").await;
    add_users(&app, 1, 10).await;
    assert_eq!(app.plan(&plan).await["mode"], "test");

    add_users(&app, 11, 1).await;

    let shown = app.plan(&plan).await;
    assert_eq!(shown["mode"], "enforced");
    assert!(shown["enforced_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(shown["active_directory_users"], 11);
    let mut expected: Vec<_> = (1..=11).map(|i| seat(&format!("user{i}@example.com"), "paid", "directory")).collect();
    expected.push(seat("boss@example.com", "free", "manual"));
    expected.push(seat("intern@example.com", "free", "manual"));
    expected.sort();
    assert_eq!(app.seats(&plan).await, expected);

    let trail = reasons(&app, &plan).await;
    let enforcement: Vec<_> = trail.iter().filter(|c| c.3 == "enforcement_started").cloned().collect();
    assert_eq!(enforcement, vec![change("boss@example.com", Some("paid"), "free", "enforcement_started")]);
    assert!(trail.contains(&change("user11@example.com", None, "paid", "directory_user_active")));
    let audit = app.audit(&plan).await;
    let started = audit.iter().find(|e| e["reason"] == "enforcement_started").unwrap();
    assert_eq!(started["event_id"], "event_add_11");
}

async fn a_custom_threshold_is_honoured(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, Some(2)).await;
    assert_eq!(app.plan(&plan).await["test_mode_max_users"], 2);
    add_users(&app, 1, 2).await;
    assert_eq!(app.plan(&plan).await["mode"], "test");
    add_users(&app, 3, 1).await;
    assert_eq!(app.plan(&plan).await["mode"], "enforced");
}

async fn enforced_plans_free_suspended_and_deleted_users_and_stay_enforced(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    add_users(&app, 1, 11).await;
    app.user(UserEvent {
        id: "event_s",
        kind: "updated",
        user: "directory_user_1",
        email: "user1@example.com",
        state: "suspended",
        at: &at(100),
        ..Default::default()
    })
    .await;
    app.user(UserEvent {
        id: "event_d",
        kind: "deleted",
        user: "directory_user_2",
        email: "user2@example.com",
        state: "inactive",
        at: &at(100),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let seats = app.seats(&plan).await;
    assert!(seats.contains(&seat("user1@example.com", "free", "manual")), "{seats:?}");
    assert!(seats.contains(&seat("user2@example.com", "free", "manual")), "{seats:?}");
    let shown = app.plan(&plan).await;
    assert_eq!((shown["mode"].as_str(), shown["active_directory_users"].as_u64()), (Some("enforced"), Some(9)));
    let trail = reasons(&app, &plan).await;
    assert!(trail.contains(&change("user1@example.com", Some("paid"), "free", "directory_user_inactive")));
    assert!(trail.contains(&change("user2@example.com", Some("paid"), "free", "directory_user_deleted")));
    // Reactivated: paid again, by the directory.
    app.user(UserEvent {
        id: "event_back",
        kind: "updated",
        user: "directory_user_1",
        email: "user1@example.com",
        at: &at(200),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert!(app.seats(&plan).await.contains(&seat("user1@example.com", "paid", "directory")));
}

async fn manual_changes_that_break_enforcement_are_refused(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    add_users(&app, 1, 11).await;
    let response = app.set_tier(&plan, "outsider@example.com", "paid").await;
    assert_eq!(response.status(), 409);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "seat_managed_by_directory");
    let response = app.set_tier(&plan, "user1@example.com", "free").await;
    assert_eq!(response.status(), 409);
    let response = app.set_tier(&plan, "outsider@example.com", "free").await;
    assert_eq!(response.status(), 200);
    let member: Value = response.json().await.unwrap();
    assert_eq!(
        (member["email"].as_str(), member["tier"].as_str(), member["source"].as_str()),
        (Some("outsider@example.com"), Some("free"), Some("manual"))
    );
    assert_eq!(member["directory_user_id"], Value::Null);
    let member: Value = app.set_tier(&plan, "USER1@example.com", "paid").await.json().await.unwrap();
    assert_eq!((member["tier"].as_str(), member["source"].as_str()), (Some("paid"), Some("directory")));
    assert_eq!(member["directory_user_id"], "directory_user_1");
}

async fn a_deleted_directory_keeps_seats_as_manual_and_returns_to_test_mode(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.set_tier(&plan, "boss@example.com", "paid").await;
    app.deliver(&directory_event("event_dir", "dsync.activated", ORG, DIRECTORY)).await;
    add_users(&app, 1, 11).await;
    app.user(UserEvent {
        id: "event_off",
        kind: "updated",
        user: "directory_user_1",
        email: "user1@example.com",
        state: "inactive",
        at: &at(50),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let before = app.seats(&plan).await;
    app.deliver(&directory_event("event_gone", "dsync.deleted", ORG, DIRECTORY)).await;
    app.settle().await;
    assert_eq!(app.event_status("event_gone").await, "applied");

    let after = app.seats(&plan).await;
    let expected: Vec<_> = before.iter().map(|(e, t, _)| seat(e, t, "manual")).collect();
    assert_eq!(after, expected);
    let shown = app.plan(&plan).await;
    assert_eq!((shown["mode"].as_str(), shown["active_directory_users"].as_u64()), (Some("test"), Some(0)));
    assert_eq!(shown["enforced_at"], Value::Null);
    let released: Vec<_> = reasons(&app, &plan).await.into_iter().filter(|c| c.3 == "directory_deleted").collect();
    let mut expected_rows: Vec<_> = (1..=11)
        .map(|i| {
            let tier = if i == 1 { "free" } else { "paid" };
            change(&format!("user{i}@example.com"), Some(tier), tier, "directory_deleted")
        })
        .collect();
    expected_rows.sort();
    let mut released_sorted = released.clone();
    released_sorted.sort();
    assert_eq!(released_sorted, expected_rows);
    // Later events for the deleted directory change nothing.
    app.user(UserEvent {
        id: "event_late",
        kind: "updated",
        user: "directory_user_2",
        email: "user2@example.com",
        state: "inactive",
        at: &at(60),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.event_status("event_late").await, "stale");
    assert_eq!(app.seats(&plan).await, expected);
}

async fn deleting_one_of_two_directories_keeps_a_shared_persons_directory_seat(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let second = "directory_01SECONDDIRECTORY";
    app.user(UserEvent {
        id: "event_p1",
        user: "directory_user_p1",
        email: "pat@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.user(UserEvent {
        id: "event_q1",
        user: "directory_user_q1",
        email: "quinn@example.com",
        at: &at(2),
        ..Default::default()
    })
    .await;
    let pat_again = UserEvent {
        id: "event_p2",
        dir: second,
        user: "directory_user_p2",
        email: "pat@example.com",
        at: &at(3),
        ..Default::default()
    }
    .json();
    app.deliver(&pat_again).await;
    app.deliver(&directory_event("event_gone", "dsync.deleted", ORG, DIRECTORY)).await;
    app.settle().await;
    assert_eq!(
        app.seats(&plan).await,
        vec![seat("pat@example.com", "paid", "directory"), seat("quinn@example.com", "paid", "manual")]
    );
    let members = app.admin_json(&format!("/admin/plans/{plan}/members")).await;
    assert_eq!(members["data"][0]["directory_user_id"], "directory_user_p2");
    let deleted: Vec<String> = app
        .audit(&plan)
        .await
        .iter()
        .filter(|e| e["reason"] == "directory_deleted")
        .map(|e| e["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deleted, vec!["quinn@example.com"]);
    assert_eq!(app.plan(&plan).await["active_directory_users"], 1);
    // Pat is still the other directory's: deactivated there, the seat goes.
    app.deliver(
        &UserEvent {
            id: "event_p2_off",
            kind: "updated",
            dir: second,
            user: "directory_user_p2",
            email: "pat@example.com",
            state: "inactive",
            at: &at(4),
            ..Default::default()
        }
        .json(),
    )
    .await;
    app.settle().await;
    assert_eq!(app.seats(&plan).await[0], seat("pat@example.com", "free", "manual"));
}

async fn hand_changes_in_test_mode_never_free_an_active_directory_user(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_a",
        user: "directory_user_a",
        email: "a@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let refused = app.set_tier(&plan, "a@example.com", "free").await;
    assert_eq!(refused.status(), 409);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "seat_managed_by_directory");
    assert_eq!(app.seats(&plan).await, vec![seat("a@example.com", "paid", "directory")]);

    // Paid by hand: the seat becomes the member's own, audited from = to.
    let taken = app.set_tier(&plan, "a@example.com", "paid").await;
    assert_eq!(taken.status(), 200);
    assert_eq!(taken.json::<Value>().await.unwrap()["source"], "manual");
    let trail = reasons(&app, &plan).await;
    assert_eq!(trail.last().unwrap(), &change("a@example.com", Some("paid"), "paid", "manual"));
    // So the directory deactivating them no longer takes it (test mode).
    app.user(UserEvent {
        id: "event_a_off",
        kind: "updated",
        user: "directory_user_a",
        email: "a@example.com",
        state: "inactive",
        at: &at(2),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.seats(&plan).await, vec![seat("a@example.com", "paid", "manual")]);
    // Free by hand for someone no longer active is allowed.
    assert_eq!(app.set_tier(&plan, "a@example.com", "free").await.status(), 200);
}

both_stores!(
    ten_directory_users_leave_existing_seats_alone,
    the_eleventh_user_starts_enforcement,
    a_custom_threshold_is_honoured,
    enforced_plans_free_suspended_and_deleted_users_and_stay_enforced,
    manual_changes_that_break_enforcement_are_refused,
    a_deleted_directory_keeps_seats_as_manual_and_returns_to_test_mode,
    deleting_one_of_two_directories_keeps_a_shared_persons_directory_seat,
    hand_changes_in_test_mode_never_free_an_active_directory_user,
);
