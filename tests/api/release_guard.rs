//! The release guard (CONTRACT 4.1): a mass deprovisioning holds for approval.
use crate::both_stores;
use crate::fake_workos::FakeWorkos;
use crate::helpers::*;
use sea_orm::ConnectionTrait;
use seatsync::{
    domain::OrganizationId,
    workos::resync::{ResyncError, ResyncOptions, resync},
};
use serde_json::{Value, json};

const OTHER_ORG: &str = "org_01OTHERORGANIZATION";

async fn patch_plan(app: &TestApp, plan: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/admin/plans/{plan}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn email(i: u32) -> String {
    format!("user{i:02}@example.com")
}

/// `n` active directory users: the plan is enforced, all of them paid.
async fn users(app: &TestApp, n: u32) {
    for i in 0..n {
        app.user(UserEvent {
            id: &format!("event_c{i}"),
            user: &format!("directory_user_{i:02}"),
            email: &email(i),
            at: &at(i),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
}

async fn deactivate(app: &TestApp, tag: &str, range: std::ops::Range<u32>) {
    for i in range {
        let id = format!("event_{tag}{i}");
        app.user(UserEvent {
            id: &id,
            kind: "updated",
            user: &format!("directory_user_{i:02}"),
            email: &email(i),
            state: "inactive",
            at: &at(1000 + i),
            ..Default::default()
        })
        .await;
    }
}

async fn a_mass_deprovisioning_holds_past_the_limit_until_approved(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(patch_plan(&app, &plan, json!({"release_limit": 10})).await.status(), 200);
    users(&app, 50).await;
    let other = app.create_plan(OTHER_ORG, None).await;

    // Twelve deactivations, then a grant for the same organization; another
    // organization's users arrive meanwhile.
    deactivate(&app, "off", 0..12).await;
    app.user(UserEvent {
        id: "event_grant",
        user: "directory_user_new",
        email: "new@example.com",
        at: &at(2000),
        ..Default::default()
    })
    .await;
    for i in 0..3u32 {
        let body = UserEvent {
            id: &format!("event_o{i}"),
            org: OTHER_ORG,
            dir: "directory_01OTHER",
            user: &format!("directory_user_o{i}"),
            email: &format!("o{i}@other.example.com"),
            at: &at(i),
            ..Default::default()
        }
        .json();
        app.deliver(&body).await;
    }
    app.settle().await;
    for i in 0..10 {
        assert_eq!(app.event_status(&format!("event_off{i}")).await, "applied", "event_off{i}");
    }
    for id in ["event_off10", "event_off11", "event_grant"] {
        assert_eq!(app.event_status(id).await, "held", "{id}");
    }
    assert_eq!(app.plan(&other).await["paid_seats"], 3);
    let shown = app.plan(&plan).await;
    assert_eq!(shown["paid_seats"], 40);
    let hold = &shown["hold"];
    assert!(hold["since"].is_string(), "{shown}");
    assert_eq!((hold["kind"].as_str(), hold["through"].as_str()), (Some("release"), Some("event_grant")), "{hold}");
    assert_eq!(hold["held_events"], 3);
    assert_eq!(hold["would_release"], json!([email(10), email(11)]));
    // The grant held behind the releases is shown too: approving applies it.
    assert_eq!(hold["would_grant"], json!(["new@example.com"]));
    assert!(app.metrics_text().await.contains("seatsync_plans_on_hold 1\n"));
    // A plan with nothing held has nothing to approve.
    let nothing =
        app.admin_post(&format!("/admin/plans/{other}/hold/approve"), &json!({"through": "event_off10"})).await;
    assert_eq!(nothing.status(), 409);
    assert_eq!(nothing.json::<Value>().await.unwrap()["error"], "no_hold");

    // Approved through the last held event: all three apply, in order, and
    // the count starts again. The answer is the plan after them.
    let approved =
        app.admin_post(&format!("/admin/plans/{plan}/hold/approve"), &json!({"through": "event_grant"})).await;
    assert_eq!(approved.status(), 200);
    let answer = approved.json::<Value>().await.unwrap();
    assert_eq!((answer["hold"].clone(), answer["paid_seats"].as_u64()), (Value::Null, Some(39)), "{answer}");
    app.settle().await;
    for id in ["event_off10", "event_off11", "event_grant"] {
        assert_eq!(app.event_status(id).await, "applied", "{id}");
    }
    let trail = app.audit(&plan).await;
    let order: Vec<&str> = trail.iter().rev().take(3).map(|e| e["email"].as_str().unwrap()).collect();
    assert_eq!(order, vec!["new@example.com", email(11).as_str(), email(10).as_str()]);
    let shown = app.plan(&plan).await;
    assert_eq!((shown["paid_seats"].as_u64(), shown["hold"].clone()), (Some(39), Value::Null));
    assert!(app.metrics_text().await.contains("seatsync_plans_on_hold 0\n"));

    // From zero again: ten more go, the eleventh waits.
    deactivate(&app, "again", 12..23).await;
    app.settle().await;
    for i in 12..22 {
        assert_eq!(app.event_status(&format!("event_again{i}")).await, "applied", "event_again{i}");
    }
    assert_eq!(app.event_status("event_again22").await, "held");
    assert_eq!(app.plan(&plan).await["hold"]["would_release"], json!([email(22)]));
}

async fn a_release_limit_of_zero_never_holds(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    users(&app, 15).await;
    let patched = patch_plan(&app, &plan, json!({"release_limit": 0})).await;
    assert_eq!(patched.json::<Value>().await.unwrap()["release_limit"], 0);
    deactivate(&app, "off", 0..15).await;
    app.settle().await;
    let shown = app.plan(&plan).await;
    assert_eq!((shown["paid_seats"].as_u64(), shown["hold"].clone()), (Some(0), Value::Null));
    // Back to the default (null): the larger of 10 and 20% of paid seats.
    let patched = patch_plan(&app, &plan, json!({"release_limit": null})).await;
    assert_eq!(patched.json::<Value>().await.unwrap()["release_limit"], Value::Null);
    assert_eq!(patch_plan(&app, &plan, json!({"release_limit": -1})).await.status(), 400);
}

async fn lowering_the_threshold_of_a_test_plan_starts_enforcement_at_once(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.set_tier(&plan, "boss@example.com", "paid").await;
    users(&app, 3).await;
    assert_eq!(app.plan(&plan).await["mode"], "test");
    let patched = patch_plan(&app, &plan, json!({"test_mode_max_users": 2, "name": "Acme Inc"})).await;
    let shown = patched.json::<Value>().await.unwrap();
    assert_eq!((shown["mode"].as_str(), shown["name"].as_str()), (Some("enforced"), Some("Acme Inc")));
    let started = app.audit(&plan).await.into_iter().filter(|e| e["reason"] == "enforcement_started").count();
    assert_eq!(started, 1);
    assert!(app.seats(&plan).await.contains(&seat("boss@example.com", "free", "manual")));
    assert_eq!(patch_plan(&app, &plan, json!({"name": ""})).await.status(), 400);
}

async fn a_resync_past_the_limit_changes_nothing_unless_allowed(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    users(&app, 20).await;
    let fake = FakeWorkos::start();
    {
        let mut state = fake.state.lock().unwrap();
        state.directories =
            vec![json!({"object": "directory", "id": DIRECTORY, "organization_id": ORG, "state": "linked"})];
        let listed: Vec<Value> = (0..5u32)
            .map(|i| {
                UserEvent {
                    id: "x",
                    user: &format!("directory_user_{i:02}"),
                    email: &email(i),
                    at: &at(i),
                    ..Default::default()
                }
                .json()["data"]
                    .clone()
            })
            .collect();
        state.users.insert(DIRECTORY.into(), listed);
    }
    let org = OrganizationId::parse(ORG).unwrap();
    let before = (app.seats(&plan).await, app.audit(&plan).await);
    let err = resync(&app.db, &fake.client(), &org, ResyncOptions::default(), |_| {}).await.unwrap_err();
    let ResyncError::MassRelease(check) = &err else { panic!("{err}") };
    assert_eq!((check.would_release, check.limit, check.released_in_window), (15, Some(10), 0));
    assert!(err.to_string().contains("release 15 paid seats"), "{err}");
    assert_eq!((app.seats(&plan).await, app.audit(&plan).await), before);
    // A dry run shows the same figure.
    let dry = ResyncOptions { dry_run: true, ..Default::default() };
    let report = resync(&app.db, &fake.client(), &org, dry, |_| {}).await.unwrap();
    assert_eq!(report.release_check.unwrap().would_release, 15);
    assert!(report.release_check.unwrap().passes_limit());
    // Allowed: it applies.
    let allowed = ResyncOptions { allow_mass_release: true, ..Default::default() };
    let report = resync(&app.db, &fake.client(), &org, allowed, |_| {}).await.unwrap();
    assert_eq!(report.users_removed, 15);
    assert_eq!(app.plan(&plan).await["paid_seats"], 5);
}

/// The same limit when the deactivations arrive as one burst, so runs of them
/// are applied together (the batched path): exactly the limit goes, in arrival
/// order, and the rest is held.
async fn a_burst_of_deactivations_releases_exactly_the_limit(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(patch_plan(&app, &plan, json!({"release_limit": 7})).await.status(), 200);
    users(&app, 30).await;
    let bodies: Vec<Value> = (0..20u32)
        .map(|i| {
            UserEvent {
                id: &format!("event_b{i}"),
                kind: "updated",
                user: &format!("directory_user_{i:02}"),
                email: &email(i),
                state: "inactive",
                at: &at(1000 + i),
                ..Default::default()
            }
            .json()
        })
        .collect();
    let texts: Vec<String> = bodies.iter().map(Value::to_string).collect();
    let posts = texts.iter().map(|b| app.post_webhook(b.as_bytes()));
    for response in futures_util::future::join_all(posts).await {
        assert_eq!(response.status(), 200);
    }
    app.settle().await;
    let statuses = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT status FROM inbox_events WHERE event_id LIKE 'event_b%' ORDER BY seq".to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "status").unwrap())
        .collect::<Vec<_>>();
    let mut expected = vec!["applied".to_owned(); 7];
    expected.extend(vec!["held".to_owned(); 13]);
    assert_eq!(statuses, expected);
    let shown = app.plan(&plan).await;
    assert_eq!((shown["paid_seats"].as_u64(), shown["hold"]["held_events"].as_u64()), (Some(23), Some(13)));
    let released = app.audit(&plan).await.into_iter().filter(|e| e["reason"] == "directory_user_inactive").count();
    assert_eq!(released, 7);
}

async fn approve(app: &TestApp, plan: &str, body: Value) -> reqwest::Response {
    app.admin_post(&format!("/admin/plans/{plan}/hold/approve"), &body).await
}

/// The operator reads a hold that would release two seats; more events are
/// held meanwhile. Approving through the event shown applies exactly those
/// two; the later ones are judged again by the guard, counting from zero:
/// the first fits the limit, the rest hold again with a new `through`.
async fn an_approval_applies_exactly_the_events_up_to_through(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(patch_plan(&app, &plan, json!({"release_limit": 1})).await.status(), 200);
    users(&app, 20).await;
    deactivate(&app, "off", 0..3).await;
    app.settle().await;
    assert_eq!(app.event_status("event_off0").await, "applied");
    let hold = app.plan(&plan).await["hold"].clone();
    assert_eq!(hold["through"], "event_off2", "{hold}");
    assert_eq!(hold["would_release"], json!([email(1), email(2)]));

    // Three more deactivations arrive after the operator read the hold.
    deactivate(&app, "late", 3..6).await;
    app.settle().await;
    let later = app.plan(&plan).await["hold"].clone();
    assert_eq!((later["held_events"].as_u64(), later["through"].as_str()), (Some(5), Some("event_late5")), "{later}");
    assert_eq!(later["would_release"], json!([email(1), email(2), email(3), email(4), email(5)]));

    let response = approve(&app, &plan, json!({"through": "event_off2"})).await;
    assert_eq!(response.status(), 200);
    let answer = response.json::<Value>().await.unwrap();
    // The answer comes after the approved events are applied.
    for id in ["event_off1", "event_off2"] {
        assert_eq!(app.event_status(id).await, "applied", "{id}: {answer}");
    }
    assert!(answer["paid_seats"].as_u64().unwrap() <= 17, "{answer}");
    app.settle().await;
    // Exactly the two shown were approved; of the later three, one fits the
    // limit counted from zero, and the other two hold again.
    let seats = app.seats(&plan).await;
    for i in 0..4 {
        assert!(seats.contains(&seat(&email(i), "free", "manual")), "{}: {seats:?}", email(i));
    }
    for i in 4..20 {
        assert!(seats.contains(&seat(&email(i), "paid", "directory")), "{}: {seats:?}", email(i));
    }
    assert_eq!(app.event_status("event_late3").await, "applied");
    for id in ["event_late4", "event_late5"] {
        assert_eq!(app.event_status(id).await, "held", "{id}");
    }
    let again = app.plan(&plan).await;
    assert_eq!(again["paid_seats"], 16);
    let hold = &again["hold"];
    assert_eq!((hold["held_events"].as_u64(), hold["through"].as_str()), (Some(2), Some("event_late5")), "{hold}");
    assert_eq!(hold["would_release"], json!([email(4), email(5)]));
    // The approved events were applied without the limit, as approved.
    let by_event: Vec<(String, String)> = app
        .audit(&plan)
        .await
        .iter()
        .filter(|e| e["reason"] == "directory_user_inactive")
        .map(|e| (e["event_id"].as_str().unwrap().to_owned(), e["email"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        by_event,
        [("event_off0", 0), ("event_off1", 1), ("event_off2", 2), ("event_late3", 3)]
            .map(|(id, i)| (id.to_owned(), email(i)))
    );
}

/// `through` is required, and must be one of this plan's held events.
async fn an_approval_without_a_held_through_is_refused(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(patch_plan(&app, &plan, json!({"release_limit": 1})).await.status(), 200);
    users(&app, 5).await;
    deactivate(&app, "off", 0..3).await;
    app.settle().await;
    assert_eq!(app.plan(&plan).await["hold"]["through"], "event_off2");
    for body in [
        json!({}),
        json!({"through": null}),
        json!({"through": ""}),
        json!({"through": "event_unknown"}),
        // Applied, not held.
        json!({"through": "event_off0"}),
        json!({"through": "event_c1"}),
    ] {
        let response = approve(&app, &plan, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "bad_request", "{body}");
    }
    let no_body = app.client.post(app.url(&format!("/admin/plans/{plan}/hold/approve"))).bearer_auth(ADMIN_TOKEN);
    assert_eq!(no_body.send().await.unwrap().status(), 400);
    // Nothing was approved.
    app.settle().await;
    for id in ["event_off1", "event_off2"] {
        assert_eq!(app.event_status(id).await, "held", "{id}");
    }
    assert_eq!(app.plan(&plan).await["paid_seats"], 4);
}

/// The default limit is a share of the paid seats the plan had when the
/// window began (paid now plus the directory's releases in the window), not
/// of the paid seats left: 100 paid, 20% of them is 20, so twenty go and the
/// twenty-first holds (a share of the seats left would stop at sixteen).
async fn the_default_limit_is_a_share_of_the_paid_seats_when_the_window_began(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    users(&app, 100).await;
    assert_eq!(app.plan(&plan).await["paid_seats"], 100);
    deactivate(&app, "off", 0..22).await;
    app.settle().await;
    let shown = app.plan(&plan).await;
    assert_eq!((shown["paid_seats"].as_u64(), shown["hold"]["held_events"].as_u64()), (Some(80), Some(2)), "{shown}");
    assert_eq!(app.event_status("event_off19").await, "applied");
    assert_eq!(app.event_status("event_off20").await, "held");
}

both_stores!(
    an_approval_applies_exactly_the_events_up_to_through,
    an_approval_without_a_held_through_is_refused,
    the_default_limit_is_a_share_of_the_paid_seats_when_the_window_began,
    a_burst_of_deactivations_releases_exactly_the_limit,
    a_mass_deprovisioning_holds_past_the_limit_until_approved,
    a_release_limit_of_zero_never_holds,
    lowering_the_threshold_of_a_test_plan_starts_enforcement_at_once,
    a_resync_past_the_limit_changes_nothing_unless_allowed,
);
