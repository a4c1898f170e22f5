//! Paths that once decided seats wrongly (issue 22), each told as its story,
//! on both stores: resync as a whole, the guard as of each event, approval as
//! a set, legacy payloads in their organization's order, the guard's count of
//! renames, `would_release` exactly, and storers committing out of order.
use crate::both_stores;
use crate::fake_workos::FakeWorkos;
use crate::helpers::*;
use sea_orm::{ConnectionTrait, TransactionTrait};
use seatsync::{
    domain::{DirectoryId, EventId, OrganizationId},
    inbox::{
        NewEvent,
        writer::{insert_events, store_batch},
    },
    workos::resync::{ResyncOptions, resync},
};
use serde_json::{Value, json};

const OTHER_DIRECTORY: &str = "directory_01OTHERDIRECTORY";

fn email(i: u32) -> String {
    format!("user{i:02}@example.com")
}

fn user_id(i: u32) -> String {
    format!("directory_user_{i:02}")
}

/// User `i` created active in `dir` at second `i`.
fn created(i: u32, dir: &str) -> Value {
    let (user, email) = (user_id(i), email(i));
    UserEvent { id: &format!("event_c{i}"), user: &user, email: &email, dir, at: &at(i), ..Default::default() }.json()
}

/// User `i`'s new state, at second `1000 + i`.
fn changed(id: &str, i: u32, state: &str, new_email: Option<&str>) -> Value {
    let (user, old) = (user_id(i), email(i));
    let email = new_email.unwrap_or(&old);
    UserEvent { id, kind: "updated", user: &user, email, state, at: &at(1000 + i), ..Default::default() }.json()
}

/// How the Directory Sync API lists user `i` (as its webhook had it).
fn listed(i: u32, email: &str, state: &str) -> Value {
    let user = user_id(i);
    UserEvent { id: "x", user: &user, email, state, at: &at(2000 + i), ..Default::default() }.json()["data"].clone()
}

fn linked(dir: &str) -> Value {
    json!({"object": "directory", "id": dir, "organization_id": ORG, "state": "linked"})
}

async fn patch(app: &TestApp, plan: &str, body: Value) {
    assert_eq!(app.admin_patch(&format!("/admin/plans/{plan}"), &body).await.status(), 200);
}

/// A plan that may lose one paid seat an hour to its directory.
async fn plan_limited_to_one_release(app: &TestApp) -> String {
    let plan = app.create_plan(ORG, None).await;
    patch(app, &plan, json!({"release_limit": 1})).await;
    plan
}

/// Users `0..n` created active, and applied.
async fn users_created(app: &TestApp, n: u32) {
    for i in 0..n {
        app.deliver(&created(i, DIRECTORY)).await;
    }
    app.settle().await;
}

fn org() -> OrganizationId {
    OrganizationId::parse(ORG).unwrap()
}

fn as_new_event(body: &Value) -> NewEvent {
    let bytes = body.to_string().into_bytes();
    let envelope = seatsync::events::Envelope::parse(&bytes).unwrap();
    NewEvent::from_envelope(EventId::parse(body["id"].as_str().unwrap()).unwrap(), envelope, bytes)
}

/// A test-mode plan with users 0..10 active in `dirs` (alternating) and two
/// members paid by hand who are nobody's directory user.
async fn ten_users_and_two_paid_by_hand(app: &TestApp, dirs: &[&str]) -> String {
    let plan = app.create_plan(ORG, None).await;
    for hand in ["hand1@example.com", "hand2@example.com"] {
        assert_eq!(app.set_tier(&plan, hand, "paid").await.status(), 200);
    }
    for i in 0..10 {
        app.deliver(&created(i, dirs[i as usize % dirs.len()])).await;
    }
    app.settle().await;
    assert_eq!(app.plan(&plan).await["mode"], "test");
    plan
}

async fn a_resync_removes_leavers_before_adding_joiners(app: &TestApp, plan: &str, fake: &FakeWorkos) {
    resync(&app.db, &fake.client(), &org(), ResyncOptions::default(), |_| {}).await.unwrap();
    let shown = app.plan(plan).await;
    assert_eq!((shown["mode"].as_str(), shown["active_directory_users"].as_u64()), (Some("test"), Some(10)));
    let seats = app.seats(plan).await;
    for hand in ["hand1@example.com", "hand2@example.com"] {
        assert!(seats.contains(&seat(hand, "paid", "manual")), "{seats:?}");
    }
    for i in 0..5 {
        assert!(seats.contains(&seat(&email(i), "free", "manual")), "{seats:?}");
    }
    for i in 5..15 {
        assert!(seats.contains(&seat(&email(i), "paid", "directory")), "{seats:?}");
    }
    assert_eq!(shown["paid_seats"], 12);
}

/// Five people left and five joined while webhooks were missed: WorkOS lists
/// ten, so the plan never passed its threshold and stays in test mode.
async fn a_resync_of_a_listing_within_the_threshold_never_starts_enforcement(store: Store) {
    let app = spawn_app(store).await;
    let plan = ten_users_and_two_paid_by_hand(&app, &[DIRECTORY]).await;
    let fake = FakeWorkos::start();
    {
        let mut state = fake.state.lock().unwrap();
        state.directories = vec![linked(DIRECTORY)];
        state.users.insert(DIRECTORY.into(), (5..15).map(|i| listed(i, &email(i), "active")).collect());
    }
    a_resync_removes_leavers_before_adding_joiners(&app, &plan, &fake).await;
}

/// The same across two directories: the joiners are listed in the first, the
/// leavers were in both.
async fn a_resync_across_two_directories_removes_every_leaver_first(store: Store) {
    let app = spawn_app(store).await;
    let plan = ten_users_and_two_paid_by_hand(&app, &[OTHER_DIRECTORY, DIRECTORY]).await;
    let fake = FakeWorkos::start();
    {
        let mut state = fake.state.lock().unwrap();
        // Users 0..5 left (0, 2, 4 from the other directory; 1, 3 from this
        // one); 10..15 joined this directory.
        state.directories = vec![linked(OTHER_DIRECTORY), linked(DIRECTORY)];
        let other = [6, 8].iter().map(|i| listed(*i, &email(*i), "active")).collect();
        let mut this: Vec<Value> = [5, 7, 9].iter().map(|i| listed(*i, &email(*i), "active")).collect();
        this.extend((10..15).map(|i| listed(i, &email(i), "active")));
        state.users.insert(OTHER_DIRECTORY.into(), other);
        state.users.insert(DIRECTORY.into(), this);
    }
    a_resync_removes_leavers_before_adding_joiners(&app, &plan, &fake).await;
}

/// The customer deleted the directory in WorkOS; our `dsync.deleted` is not
/// applied yet. A resync leaves the directory as it is, and `dsync.deleted`
/// then keeps every seat (as `manual`).
async fn a_resync_leaves_a_directory_workos_no_longer_lists_to_dsync_deleted(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    users_created(&app, 8).await;
    let before = (app.seats(&plan).await, app.audit(&plan).await);
    let fake = FakeWorkos::start();
    let report = resync(&app.db, &fake.client(), &org(), ResyncOptions::default(), |_| {}).await.unwrap();
    assert_eq!(report.left_alone, vec![(DirectoryId::parse(DIRECTORY).unwrap(), "not listed".to_owned())]);
    assert_eq!((report.users_removed, report.seat_changes.len()), (0, 0));
    assert_eq!((app.seats(&plan).await, app.audit(&plan).await), before);

    app.deliver(&directory_event("event_gone", "dsync.deleted", ORG, DIRECTORY)).await;
    app.settle().await;
    let seats = app.seats(&plan).await;
    assert_eq!(seats, (0..8).map(|i| seat(&email(i), "paid", "manual")).collect::<Vec<_>>());
}

/// An enforced plan with 40 paid seats; 30 creations and then 11
/// deactivations are stored in one transaction (as a `backfill` does), so one
/// claim takes them all. The 11th release is checked against 20% of the 70
/// paid seats at that moment (14): nothing is held, 59 paid, exactly as one
/// at a time.
async fn a_batch_checks_each_release_against_the_paid_seats_as_of_that_event(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    users_created(&app, 40).await;
    let shown = app.plan(&plan).await;
    assert_eq!((shown["mode"].as_str(), shown["paid_seats"].as_u64()), (Some("enforced"), Some(40)));
    let mut backlog: Vec<NewEvent> = (40..70).map(|i| as_new_event(&created(i, DIRECTORY))).collect();
    backlog.extend((0..11).map(|i| as_new_event(&changed(&format!("event_off{i}"), i, "inactive", None))));
    store_batch(&app.db, &backlog.iter().collect::<Vec<_>>()).await.unwrap();
    app.settle().await;
    let shown = app.plan(&plan).await;
    assert_eq!((shown["paid_seats"].as_u64(), &shown["hold"]), (Some(59), &Value::Null), "{shown}");
    for i in 0..11 {
        assert_eq!(app.event_status(&format!("event_off{i}")).await, "applied");
    }
}

/// A deactivation that comes with an email change releases the person's paid
/// seat: the guard counts it (limit 1: the second release is held).
async fn a_deactivation_with_an_email_change_counts_as_a_release(store: Store) {
    let app = spawn_app(store).await;
    let plan = plan_limited_to_one_release(&app).await;
    users_created(&app, 3).await;
    app.deliver(&changed("event_off0", 0, "inactive", None)).await;
    app.deliver(&changed("event_off1", 1, "inactive", Some("renamed01@example.com"))).await;
    app.settle().await;
    assert_eq!(app.event_status("event_off0").await, "applied");
    assert_eq!(app.event_status("event_off1").await, "held");
    assert_eq!(app.plan(&plan).await["hold"]["would_release"], json!([email(1)]));
}

/// A domain rename moves every seat to its new address: a resync of it
/// releases nothing (and so needs no `--allow-mass-release`).
async fn a_resync_of_a_domain_rename_releases_nothing(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    users_created(&app, 12).await;
    let fake = FakeWorkos::start();
    let renamed = |i: u32| format!("user{i:02}@renamed.example.com");
    {
        let mut state = fake.state.lock().unwrap();
        state.directories = vec![linked(DIRECTORY)];
        state.users.insert(DIRECTORY.into(), (0..12).map(|i| listed(i, &renamed(i), "active")).collect());
    }
    let report = resync(&app.db, &fake.client(), &org(), ResyncOptions::default(), |_| {}).await.unwrap();
    assert_eq!(report.release_check.unwrap().would_release, 0);
    let seats = app.seats(&plan).await;
    for i in 0..12 {
        assert!(seats.contains(&seat(&renamed(i), "paid", "directory")), "{seats:?}");
        assert!(seats.contains(&seat(&email(i), "free", "manual")), "{seats:?}");
    }
    assert!(app.audit(&plan).await.iter().skip(12).all(|e| e["reason"] == "email_changed"));
}

/// `would_release` is what approving moves, found by doing it: not a manual
/// seat test mode keeps, and the old address of a renamed leaver.
async fn would_release_names_exactly_the_seats_approving_moves_to_free(store: Store) {
    let app = spawn_app(store).await;
    let plan = plan_limited_to_one_release(&app).await;
    // User 2 was paid by hand before SCIM: test mode never takes that seat.
    assert_eq!(app.set_tier(&plan, &email(2), "paid").await.status(), 200);
    users_created(&app, 4).await;
    app.deliver(&changed("event_off0", 0, "inactive", None)).await;
    app.deliver(&changed("event_off1", 1, "inactive", None)).await;
    app.deliver(&changed("event_off2", 2, "inactive", None)).await;
    app.deliver(&changed("event_off3", 3, "inactive", Some("renamed03@example.com"))).await;
    app.settle().await;
    for id in ["event_off1", "event_off2", "event_off3"] {
        assert_eq!(app.event_status(id).await, "held", "{id}");
    }
    let hold = app.plan(&plan).await["hold"].clone();
    assert_eq!((hold["held_events"].as_u64(), &hold["would_release"]), (Some(3), &json!([email(1), email(3)])));
    // Nothing moved by looking.
    assert!(app.seats(&plan).await.contains(&seat(&email(1), "paid", "directory")));

    let approved = app.approve_hold(&plan).await;
    assert_eq!(approved.status(), 200);
    app.settle().await;
    let released: Vec<String> = app
        .audit(&plan)
        .await
        .iter()
        .filter(|e| e["from"] == "paid" && e["to"] == "free" && e["event_id"] != "event_off0")
        .map(|e| e["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(released, vec![email(1), email(3)]);
    assert!(app.seats(&plan).await.contains(&seat(&email(2), "paid", "manual")));
}

/// Approval covers exactly the events held at that moment. Two deactivations
/// stored earlier in a legacy directory group, waiting out a retry back-off,
/// were never held: when their back-off runs out before the approved event is
/// applied, they meet the limit like any other event (a `seq` bound would have
/// let them through).
async fn an_approval_never_lets_through_an_event_that_was_not_held(store: Store) {
    let app = spawn_app(store).await;
    let plan = plan_limited_to_one_release(&app).await;
    users_created(&app, 4).await;
    // Legacy deactivations of users 2 and 3 (no organization in the payload),
    // stored in their directory's group and backing off for an hour.
    let far = seatsync::domain::Micros::now().0 + 3_600_000_000;
    for i in [2, 3] {
        let mut body = changed(&format!("event_legacy{i}"), i, "inactive", None);
        body["data"].as_object_mut().unwrap().remove("organization_id");
        let txn = app.db.begin().await.unwrap();
        insert_events(&txn, &[&as_new_event(&body)]).await.unwrap();
        txn.execute_unprepared(&format!(
            "UPDATE inbox_events SET order_key = 'dir:{DIRECTORY}', next_attempt_at = {far} \
             WHERE event_id = 'event_legacy{i}'"
        ))
        .await
        .unwrap();
        txn.commit().await.unwrap();
    }
    app.deliver(&changed("event_off0", 0, "inactive", None)).await;
    app.deliver(&changed("event_off1", 1, "inactive", None)).await;
    app.settle().await;
    assert_eq!(app.event_status("event_off1").await, "held");
    // The held event will wait out a back-off of its own once approved.
    app.db
        .execute_unprepared(&format!("UPDATE inbox_events SET next_attempt_at = {far} WHERE event_id = 'event_off1'"))
        .await
        .unwrap();
    let approved = app.approve_hold(&plan).await;
    assert_eq!(approved.status(), 200);
    // The legacy events' back-off runs out first.
    app.db
        .execute_unprepared("UPDATE inbox_events SET next_attempt_at = NULL WHERE event_id LIKE 'event_legacy%'")
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(app.event_status("event_legacy2").await, "held");
    assert_eq!(app.event_status("event_legacy3").await, "held");
    let seats = app.seats(&plan).await;
    for i in [2, 3] {
        assert!(seats.contains(&seat(&email(i), "paid", "directory")), "{seats:?}");
    }
    // Approved in turn, everything goes in order, and the count starts again.
    let approved = app.approve_hold(&plan).await;
    assert_eq!(approved.status(), 200);
    app.db.execute_unprepared("UPDATE inbox_events SET next_attempt_at = NULL").await.unwrap();
    app.settle().await;
    for id in ["event_legacy2", "event_legacy3", "event_off1"] {
        assert_eq!(app.event_status(id).await, "applied", "{id}");
    }
    assert_eq!(app.plan(&plan).await["paid_seats"], 0);
}

/// A payload without `organization_id` for a directory we know belongs to its
/// organization: stored during a hold, it waits behind the held events.
async fn a_legacy_payload_of_a_known_directory_waits_behind_its_organizations_hold(store: Store) {
    let app = spawn_app(store).await;
    let plan = plan_limited_to_one_release(&app).await;
    users_created(&app, 3).await;
    app.deliver(&changed("event_off0", 0, "inactive", None)).await;
    app.deliver(&changed("event_off1", 1, "inactive", None)).await;
    app.settle().await;
    assert_eq!(app.event_status("event_off1").await, "held");
    let mut legacy = created(9, DIRECTORY);
    legacy["id"] = json!("event_legacy_grant");
    legacy["data"].as_object_mut().unwrap().remove("organization_id");
    app.deliver(&legacy).await;
    app.settle().await;
    assert_eq!(app.event_status("event_legacy_grant").await, "held");
    assert!(!app.seats(&plan).await.iter().any(|(e, ..)| e == &email(9)));
    let approved = app.approve_hold(&plan).await;
    assert_eq!(approved.status(), 200);
    app.settle().await;
    assert_eq!(app.event_status("event_legacy_grant").await, "applied");
    let trail = app.audit(&plan).await;
    let order: Vec<&str> = trail.iter().rev().take(2).map(|e| e["event_id"].as_str().unwrap()).collect();
    assert_eq!(order, vec!["event_legacy_grant", "event_off1"]);
}

/// A legacy event (no organization) parked because its directory was unknown
/// joins the organization's group once the directory is known, and applies
/// before the organization's later events, whether the three arrive one at a
/// time or are stored together.
async fn a_legacy_event_waiting_for_its_directory_applies_before_later_events(store: Store) {
    for together in [false, true] {
        let app = spawn_app(store).await;
        let plan = app.create_plan(ORG, None).await;
        let mut legacy = created(0, DIRECTORY);
        legacy["data"].as_object_mut().unwrap().remove("organization_id");
        let events = [legacy, created(1, DIRECTORY), changed("event_off0", 0, "inactive", None)];
        if together {
            let stored: Vec<NewEvent> = events.iter().map(as_new_event).collect();
            store_batch(&app.db, &stored.iter().collect::<Vec<_>>()).await.unwrap();
        } else {
            for event in &events {
                app.deliver(event).await;
                app.settle().await;
            }
        }
        app.settle().await;
        for id in ["event_c0", "event_c1", "event_off0"] {
            assert_eq!(app.event_status(id).await, "applied", "{id}, stored together: {together}");
        }
        let trail: Vec<(String, String)> = app
            .audit(&plan)
            .await
            .iter()
            .map(|e| (e["email"].as_str().unwrap().to_owned(), e["to"].as_str().unwrap().to_owned()))
            .collect();
        let expected = [(email(1), "paid"), (email(0), "paid"), (email(0), "free")];
        assert_eq!(trail, expected.map(|(e, t)| (e, t.to_owned())), "stored together: {together}");
    }
}

/// Two storers: "user 0 deleted" takes its `seq` first but commits late;
/// "user 10 created" is stored after it, commits at once, and the reconciler
/// runs. Applied in commit order the plan would pass ten and enforce for good;
/// in stored order it never does.
async fn an_event_is_never_applied_while_one_stored_before_it_may_still_commit(store: Store) {
    let app = spawn_app(store).await;
    let plan = ten_users_and_two_paid_by_hand(&app, &[DIRECTORY]).await;
    // The slow storer: its own connection, its transaction left open.
    let slow = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&app_url(&app)).unwrap()).await.unwrap();
    let leaver = UserEvent {
        id: "event_leaver",
        kind: "deleted",
        user: &user_id(0),
        email: &email(0),
        at: &at(1000),
        ..Default::default()
    }
    .json();
    let txn = slow.begin().await.unwrap();
    insert_events(&txn, &[&as_new_event(&leaver)]).await.unwrap();
    // The joiner, delivered now: on PostgreSQL it commits at once with a
    // higher `seq`; on SQLite it waits for the slow storer's write lock.
    let joiner = created(10, DIRECTORY);
    let delivery = {
        let (client, url) = (app.client.clone(), app.url("/webhooks/workos"));
        let body = joiner.to_string();
        tokio::spawn(async move {
            let header = seatsync::webhook::signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes());
            client.post(url).header("WorkOS-Signature", header).body(body).send().await.unwrap().status()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    if store == Store::Postgres {
        assert!(delivery.is_finished(), "the joiner was stored at once");
        // The background reconciler has had time to apply it, and must not.
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        assert_eq!(app.event_status("event_c10").await, "pending", "applied before an earlier event committed");
    }
    txn.commit().await.unwrap();
    assert_eq!(delivery.await.unwrap(), 200);
    app.settle().await;
    assert_eq!(app.event_status("event_leaver").await, "applied");
    assert_eq!(app.event_status("event_c10").await, "applied");
    let shown = app.plan(&plan).await;
    assert_eq!((shown["mode"].as_str(), shown["paid_seats"].as_u64()), (Some("test"), Some(12)), "{shown}");
    assert!(app.seats(&plan).await.contains(&seat("hand1@example.com", "paid", "manual")));
}

/// The database's own clock stamps when a user was written, so a resync on
/// another host compares like with like. PostgreSQL's clock is made to run an
/// hour ahead of this host's for the test.
async fn users_are_stamped_with_the_databases_clock(store: Store) {
    let database = TestDatabase::create(store).await;
    if store == Store::Postgres {
        // Before any server connects: its sessions all see the shadowing clock.
        let db = sea_orm::Database::connect(&database.url).await.unwrap();
        db.execute_unprepared(
            "CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz AS \
             'SELECT pg_catalog.clock_timestamp() + interval ''1 hour''' LANGUAGE sql",
        )
        .await
        .unwrap();
        db.execute_unprepared(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', \
             current_database()); END $$",
        )
        .await
        .unwrap();
        db.close().await.unwrap();
    }
    let app = spawn_app_on(&database, &[]).await;
    app.create_plan(ORG, None).await;
    app.deliver(&created(0, DIRECTORY)).await;
    app.settle().await;
    let stamped = app.count("SELECT stored_at FROM directory_users").await;
    let database_now = seatsync::db::clock(&app.db).await.unwrap().0;
    let host_now = seatsync::domain::Micros::now().0;
    assert!((database_now - stamped).abs() < 60_000_000, "stamped {stamped}, database {database_now}");
    let ahead = if store == Store::Postgres { 3_600_000_000 } else { 0 };
    assert!((database_now - host_now - ahead).abs() < 60_000_000, "database {database_now}, host {host_now}");
}

/// The test database's URL, for a second connection.
fn app_url(app: &TestApp) -> String {
    app.database_url.clone()
}

both_stores!(
    a_resync_of_a_listing_within_the_threshold_never_starts_enforcement,
    a_resync_across_two_directories_removes_every_leaver_first,
    a_resync_leaves_a_directory_workos_no_longer_lists_to_dsync_deleted,
    a_batch_checks_each_release_against_the_paid_seats_as_of_that_event,
    a_deactivation_with_an_email_change_counts_as_a_release,
    a_resync_of_a_domain_rename_releases_nothing,
    would_release_names_exactly_the_seats_approving_moves_to_free,
    an_approval_never_lets_through_an_event_that_was_not_held,
    a_legacy_payload_of_a_known_directory_waits_behind_its_organizations_hold,
    an_event_is_never_applied_while_one_stored_before_it_may_still_commit,
    a_legacy_event_waiting_for_its_directory_applies_before_later_events,
    users_are_stamped_with_the_databases_clock,
);
