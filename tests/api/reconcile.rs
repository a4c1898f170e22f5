//! The contract's story of the test-mode rule, over HTTP, on both stores.
use crate::both_stores;
use crate::helpers::*;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// Delivers `n` active users `user{i}@example.com` (i from `from`), settled.
async fn add_users(app: &TestApp, from: u32, n: u32) {
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

async fn reasons(app: &TestApp, plan: &str) -> Vec<(String, Option<String>, String, String)> {
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

fn change(email: &str, from: Option<&str>, to: &str, reason: &str) -> (String, Option<String>, String, String) {
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

async fn a_second_plan_for_one_organization_is_refused_as_plan_exists(store: Store) {
    let app = spawn_app(store).await;
    app.create_plan(ORG, None).await;
    let again = app.admin_post("/admin/plans", &json!({"name": "Other", "organization_id": ORG})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "plan_exists");
    assert_eq!(app.admin_json("/admin/plans").await["data"].as_array().unwrap().len(), 1);
}

async fn a_plan_body_that_is_not_json_is_a_bad_request(store: Store) {
    let app = spawn_app(store).await;
    let bad = app
        .client
        .post(app.url("/admin/plans"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "bad_request");
}

async fn plan_fields_outside_the_contract_are_refused_with_400(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    // Names and organization ids as CONTRACT 3.3 says.
    for body in [
        json!({"name": "X", "organization_id": "org_2", "test_mode_max_users": -1}),
        json!({"name": "A\u{1b}[31mB", "organization_id": "org_01ANOTHER"}),
        json!({"name": "x".repeat(201), "organization_id": "org_01ANOTHER"}),
        json!({"name": "Acme", "organization_id": "org_01A-B"}),
        json!({"name": "Acme", "organization_id": "acme"}),
        json!({"name": "Acme", "organization_id": "org_"}),
    ] {
        let refused = app.admin_post("/admin/plans", &body).await;
        assert_eq!(refused.status(), 400, "{body}");
    }
    assert_eq!(app.set_tier(&plan, "a@example.com", "gold").await.status(), 400);
    assert_eq!(app.admin_json("/admin/plans").await["data"].as_array().unwrap().len(), 1);
}

async fn the_bearer_scheme_is_case_insensitive_and_the_token_is_not(store: Store) {
    let app = spawn_app(store).await;
    // RFC 7235: the scheme is case-insensitive.
    let lower = app.client.get(app.url("/admin/plans")).header("Authorization", format!("bearer {ADMIN_TOKEN}"));
    assert_eq!(lower.send().await.unwrap().status(), 200);
    let wrong = app.client.get(app.url("/admin/plans")).header("Authorization", "Bearer test-admin-toke");
    assert_eq!(wrong.send().await.unwrap().status(), 401);
}

async fn an_unknown_plan_is_not_found(store: Store) {
    let app = spawn_app(store).await;
    let missing = app.admin_get("/admin/plans/plan_nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "not_found");
    assert_eq!(app.admin_get("/admin/plans/plan_nope/members").await.status(), 404);
}

async fn a_plan_is_listed_and_shown_with_the_contracts_fields(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let list = app.admin_json("/admin/plans").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], plan.as_str());
    let shown = app.plan(&plan).await;
    let keys: Vec<&str> = shown.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "active_directory_users",
            "billing",
            "enforced_at",
            "free_seats",
            "hold",
            "id",
            "mode",
            "name",
            "organization_id",
            "paid_seats",
            "release_limit",
            "stripe_subscription_item",
            "test_mode_max_users"
        ]
    );
}

async fn preview_shows_what_enforcement_would_do(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.set_tier(&plan, "boss@example.com", "paid").await;
    app.set_tier(&plan, "free@example.com", "free").await;
    app.set_tier(&plan, "user1@example.com", "free").await;
    add_users(&app, 1, 3).await;
    // user1 became paid by the directory; now only user3 is deactivated.
    app.user(UserEvent {
        id: "event_off",
        kind: "updated",
        user: "directory_user_3",
        email: "user3@example.com",
        state: "inactive",
        at: &at(50),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let preview = app.admin_json(&format!("/admin/plans/{plan}/preview")).await;
    assert_eq!(
        preview,
        json!({"to_paid": [], "to_free": ["boss@example.com"], "unchanged_paid": 2, "unchanged_free": 2})
    );
}

async fn the_audit_trail_pages_oldest_first(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    for i in 0..5 {
        app.set_tier(&plan, &format!("p{i}@example.com"), "paid").await;
    }
    let first = app.admin_json(&format!("/admin/plans/{plan}/audit?limit=2")).await;
    let emails = |page: &Value| {
        page["data"].as_array().unwrap().iter().map(|e| e["email"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(emails(&first), ["p0@example.com", "p1@example.com"]);
    let next = first["next"].as_str().unwrap().to_owned();
    let second = app.admin_json(&format!("/admin/plans/{plan}/audit?limit=2&after={next}")).await;
    assert_eq!(emails(&second), ["p2@example.com", "p3@example.com"]);
    let next = second["next"].as_str().unwrap().to_owned();
    let last = app.admin_json(&format!("/admin/plans/{plan}/audit?limit=2&after={next}")).await;
    assert_eq!(emails(&last), ["p4@example.com"]);
    assert_eq!(last["next"], Value::Null);
    let entry = &first["data"][0];
    assert_eq!(
        (entry["from"].clone(), entry["to"].clone(), entry["reason"].clone(), entry["event_id"].clone()),
        (Value::Null, json!("paid"), json!("manual"), Value::Null)
    );
    assert_eq!(app.admin_get(&format!("/admin/plans/{plan}/audit?limit=1001")).await.status(), 400);
    assert_eq!(app.admin_get(&format!("/admin/plans/{plan}/audit?after=abc")).await.status(), 400);
}

async fn metrics_show_totals_by_mode_and_tier_and_name_no_plan(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let other = app.create_plan("org_01SECONDORGANIZATION", None).await;
    app.set_tier(&plan, "a@example.com", "paid").await;
    app.set_tier(&plan, "b@example.com", "free").await;
    app.set_tier(&other, "c@example.com", "free").await;
    let text = app.metrics_text().await;
    assert!(text.contains("seatsync_seats{tier=\"paid\"} 1\n"), "{text}");
    assert!(text.contains("seatsync_seats{tier=\"free\"} 2\n"), "{text}");
    assert!(text.contains("seatsync_plans{mode=\"test\"} 2\n"), "{text}");
    assert!(text.contains("seatsync_plans{mode=\"enforced\"} 0\n"), "{text}");
    assert!(!text.contains(&plan) && !text.contains(&other), "{text}");
    // The plan list counts every plan from grouped queries.
    let list = app.admin_json("/admin/plans").await;
    let paid: Vec<u64> = list["data"].as_array().unwrap().iter().map(|p| p["paid_seats"].as_u64().unwrap()).collect();
    assert_eq!(paid, vec![1, 0]);
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

both_stores!(
    ten_directory_users_leave_existing_seats_alone,
    the_eleventh_user_starts_enforcement,
    a_custom_threshold_is_honoured,
    enforced_plans_free_suspended_and_deleted_users_and_stay_enforced,
    manual_changes_that_break_enforcement_are_refused,
    late_and_reordered_events_are_stale,
    an_email_change_moves_the_seat,
    emails_are_matched_without_regard_to_case,
    events_wait_parked_until_their_plan_exists,
    a_legacy_user_without_organization_uses_its_directory,
    a_deleted_directory_keeps_seats_as_manual_and_returns_to_test_mode,
    an_event_that_cannot_be_applied_is_failed_with_a_reason,
    a_second_plan_for_one_organization_is_refused_as_plan_exists,
    a_plan_body_that_is_not_json_is_a_bad_request,
    plan_fields_outside_the_contract_are_refused_with_400,
    the_bearer_scheme_is_case_insensitive_and_the_token_is_not,
    an_unknown_plan_is_not_found,
    a_plan_is_listed_and_shown_with_the_contracts_fields,
    preview_shows_what_enforcement_would_do,
    the_audit_trail_pages_oldest_first,
    metrics_show_totals_by_mode_and_tier_and_name_no_plan,
    the_background_reconciler_applies_without_being_asked,
    deleting_one_of_two_directories_keeps_a_shared_persons_directory_seat,
    hand_changes_in_test_mode_never_free_an_active_directory_user,
);

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

both_stores!(a_database_fault_while_applying_leaves_the_event_pending_and_it_is_retried);
