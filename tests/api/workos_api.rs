//! Backfill from the Events API and resync against the Directory Sync API, with
//! a fake WorkOS in this process.
use crate::both_stores;
use crate::fake_workos::{Failure, FakeWorkos};
use crate::helpers::*;
use seatsync::{
    domain::OrganizationId,
    workos::{
        backfill::{backfill, saved_cursor},
        resync::{ResyncError, ResyncOptions, resync},
    },
};
use serde_json::{Value, json};

fn events(n: u32) -> Vec<Value> {
    (0..n)
        .map(|i| {
            UserEvent {
                id: &format!("event_{i:04}"),
                user: &format!("directory_user_{i}"),
                email: &format!("user{i}@example.com"),
                at: &at(i),
                ..Default::default()
            }
            .json()
        })
        .collect()
}

async fn backfill_stores_every_page_once_and_skips_events_already_delivered(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, Some(1000)).await;
    let fake = FakeWorkos::start();
    let all = events(250);
    fake.state.lock().unwrap().events = all.clone();
    // A group event the API would not return for our filter, and one webhook already delivered.
    fake.state.lock().unwrap().events.push(json!({"id": "event_group", "event": "dsync.group.created", "data": {}}));
    app.deliver(&all[5]).await;

    let summary = backfill(&app.db, &fake.client(), None, Default::default(), |_| {}).await.unwrap();
    assert_eq!((summary.pages, summary.fetched, summary.stored, summary.duplicates), (3, 250, 249, 1));
    assert_eq!(summary.cursor.as_deref(), Some("event_0249"));
    assert_eq!(saved_cursor(&app.db).await.unwrap().as_deref(), Some("event_0249"));
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 250);
    let first = &fake.requests()[0];
    assert!(first.starts_with("/events?events=dsync.activated%2Cdsync.deleted%2Cdsync.user.created"), "{first}");
    assert!(first.contains("limit=100"), "{first}");

    app.settle().await;
    assert_eq!(app.plan(&plan).await["paid_seats"], 250);
    // Nothing new: nothing fetched, the cursor stays.
    let again = backfill(&app.db, &fake.client(), None, Default::default(), |_| {}).await.unwrap();
    assert_eq!((again.fetched, again.stored), (0, 0));
    assert!(fake.requests().last().unwrap().contains("after=event_0249"));
}

async fn backfill_resumes_after_a_crash_between_pages(store: Store) {
    let app = spawn_app(store).await;
    let fake = FakeWorkos::start();
    fake.state.lock().unwrap().events = events(250);
    fake.state.lock().unwrap().failures.push(Failure {
        path: "/events",
        after: Some("event_0099".into()),
        status: 500,
        retry_after: None,
        remaining: 1000,
    });
    let err = backfill(&app.db, &fake.client(), None, Default::default(), |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("kept answering 500") && err.to_string().contains("after 5 attempts"), "{err}");
    // The first try and four retries, no more.
    assert_eq!(fake.requests().iter().filter(|r| r.contains("after=event_0099")).count(), 5);
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 100);
    assert_eq!(saved_cursor(&app.db).await.unwrap().as_deref(), Some("event_0099"));

    fake.state.lock().unwrap().failures.clear();
    let before = fake.requests().len();
    let summary = backfill(&app.db, &fake.client(), None, Default::default(), |_| {}).await.unwrap();
    assert_eq!((summary.fetched, summary.stored, summary.duplicates), (150, 150, 0));
    assert!(fake.requests()[before].contains("after=event_0099"));
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 250);
    assert_eq!(app.count("SELECT COUNT(DISTINCT event_id) FROM inbox_events").await, 250);
}

async fn backfill_waits_out_a_429_with_retry_after(store: Store) {
    let app = spawn_app(store).await;
    let fake = FakeWorkos::start();
    fake.state.lock().unwrap().events = events(3);
    fake.state.lock().unwrap().failures.push(Failure {
        path: "/events",
        after: None,
        status: 429,
        retry_after: Some(1),
        remaining: 1,
    });
    let started = std::time::Instant::now();
    let summary = backfill(&app.db, &fake.client(), None, Default::default(), |_| {}).await.unwrap();
    assert_eq!(summary.stored, 3);
    assert!(started.elapsed() >= std::time::Duration::from_millis(950), "Retry-After was not honoured");
    assert_eq!(fake.requests().len(), 2);
}

async fn backfill_retries_a_server_error_then_succeeds(store: Store) {
    let app = spawn_app(store).await;
    let fake = FakeWorkos::start();
    fake.state.lock().unwrap().events = events(3);
    fake.state.lock().unwrap().failures.push(Failure {
        path: "/events",
        after: None,
        status: 502,
        retry_after: None,
        remaining: 2,
    });
    let summary = backfill(&app.db, &fake.client(), None, Default::default(), |_| {}).await.unwrap();
    assert_eq!(summary.stored, 3);
    assert_eq!(fake.requests().len(), 3);
}

async fn backfill_with_a_wrong_key_says_so_and_exits_non_zero(store: Store) {
    let database = TestDatabase::create(store).await;
    // An existing database: only `serve` and `migrate` create one.
    migrated(&database).await;
    let fake = FakeWorkos::start();
    let mut env = base_env(&database.url);
    env.insert("WORKOS_API_BASE".into(), fake.base.clone());
    env.insert("WORKOS_API_KEY".into(), "sk_wrong".into());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_seatsync"))
            .arg("backfill")
            .current_dir(std::env::temp_dir())
            .env_clear()
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("WORKOS_API_KEY") && stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("sk_wrong"), "the key leaked: {stderr}");
    // A 401 is not retried.
    assert_eq!(fake.requests().len(), 1);
}

/// Five users delivered by webhook; the directory listing (two a page) then has
/// a1 active, b1 deactivated, c1 active, two new users, and d1, e1 missing.
async fn directory_fixture(app: &TestApp, fake: &FakeWorkos) -> String {
    let plan = app.create_plan(ORG, None).await;
    for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        app.user(UserEvent {
            id: &format!("event_{name}"),
            user: &format!("directory_user_{name}"),
            email: &format!("{name}1@example.com"),
            at: &at(i as u32),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
    let listed = |name: &str, state: &str, t: u32| {
        UserEvent {
            id: "x",
            user: &format!("directory_user_{name}"),
            email: &format!("{name}1@example.com"),
            state,
            at: &at(t),
            ..Default::default()
        }
        .json()["data"]
            .clone()
    };
    let mut state = fake.state.lock().unwrap();
    state.page_size = 2;
    state.directories =
        vec![json!({"object": "directory", "id": DIRECTORY, "organization_id": ORG, "state": "linked"})];
    state.users.insert(
        DIRECTORY.into(),
        vec![
            listed("a", "active", 0),
            listed("b", "inactive", 500),
            listed("c", "active", 2),
            listed("f", "active", 600),
            listed("g", "active", 601),
        ],
    );
    plan
}

async fn resync_adds_deactivates_and_removes_users_across_pages(store: Store) {
    let app = spawn_app(store).await;
    let fake = FakeWorkos::start();
    let plan = directory_fixture(&app, &fake).await;
    let report =
        resync(&app.db, &fake.client(), &OrganizationId::parse(ORG).unwrap(), ResyncOptions::default(), |_| {})
            .await
            .unwrap();
    assert_eq!((report.directories, report.users_listed, report.users_removed), (1, 5, 2));
    assert_eq!(
        app.seats(&plan).await,
        vec![
            seat("a1@example.com", "paid", "directory"),
            seat("b1@example.com", "free", "manual"),
            seat("c1@example.com", "paid", "directory"),
            seat("d1@example.com", "free", "manual"),
            seat("e1@example.com", "free", "manual"),
            seat("f1@example.com", "paid", "directory"),
            seat("g1@example.com", "paid", "directory"),
        ]
    );
    let resynced: Vec<(String, String)> = app
        .audit(&plan)
        .await
        .iter()
        .filter(|e| e["reason"] == "resync")
        .map(|e| (e["email"].as_str().unwrap().to_owned(), e["to"].as_str().unwrap().to_owned()))
        .collect();
    let mut resynced_sorted = resynced.clone();
    resynced_sorted.sort();
    assert_eq!(
        resynced_sorted,
        [("b1", "free"), ("d1", "free"), ("e1", "free"), ("f1", "paid"), ("g1", "paid")]
            .map(|(e, t)| (format!("{e}@example.com"), t.to_owned()))
    );
    assert_eq!(report.seat_changes.len(), 5);
    assert_eq!(app.count("SELECT COUNT(*) FROM directory_users WHERE deleted = true").await, 2);
    // Paging honoured the per-directory limit: three pages of users.
    assert_eq!(fake.requests().iter().filter(|r| r.starts_with("/directory_users")).count(), 3);
    // A late webhook older than the resync changes nothing.
    app.user(UserEvent {
        id: "event_late_d",
        kind: "updated",
        user: "directory_user_d",
        email: "d1@example.com",
        at: &at(3),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.event_status("event_late_d").await, "stale");
}

async fn resync_stopped_by_a_failing_page_changes_nothing(store: Store) {
    let app = spawn_app(store).await;
    let fake = FakeWorkos::start();
    let plan = directory_fixture(&app, &fake).await;
    let before = (app.seats(&plan).await, app.audit(&plan).await);
    fake.state.lock().unwrap().failures.push(Failure {
        path: "/directory_users",
        after: Some("directory_user_b".into()),
        status: 500,
        retry_after: None,
        remaining: 1000,
    });
    let err = resync(&app.db, &fake.client(), &OrganizationId::parse(ORG).unwrap(), ResyncOptions::default(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ResyncError::Incomplete { .. }));
    assert_eq!(
        err.to_string(),
        format!("listing stopped at directory {DIRECTORY}, page after directory_user_b; nothing was changed")
    );
    assert_eq!((app.seats(&plan).await, app.audit(&plan).await), before);
    assert_eq!(app.count("SELECT COUNT(*) FROM directory_users WHERE deleted = true").await, 0);
}

async fn a_dry_run_reports_the_changes_and_makes_none(store: Store) {
    let app = spawn_app(store).await;
    let fake = FakeWorkos::start();
    let plan = directory_fixture(&app, &fake).await;
    let before = (app.seats(&plan).await, app.audit(&plan).await);
    let org = OrganizationId::parse(ORG).unwrap();
    let dry = resync(&app.db, &fake.client(), &org, ResyncOptions { dry_run: true, ..Default::default() }, |_| {})
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.seat_changes.len(), 5);
    assert_eq!((app.seats(&plan).await, app.audit(&plan).await), before);
    assert_eq!(app.count("SELECT COUNT(*) FROM directory_users").await, 5);
    let real = resync(&app.db, &fake.client(), &org, ResyncOptions::default(), |_| {}).await.unwrap();
    let summary = |r: &seatsync::workos::resync::ResyncReport| {
        r.seat_changes.iter().map(|c| (c.email.clone(), c.from, c.to)).collect::<Vec<_>>()
    };
    assert_eq!(summary(&dry), summary(&real));
}

async fn backfill_keeps_an_invalid_entry_as_a_dead_letter_and_moves_past_it(store: Store) {
    let app = spawn_app(store).await;
    app.create_plan(ORG, None).await;
    let fake = FakeWorkos::start();
    // An id too long to be an event id: not a valid envelope. A page of it alone,
    // then a page with a valid event: WorkOS says there is more after the first.
    let invalid = json!({"id": format!("event_{}", "x".repeat(300)), "event": "dsync.user.created", "data": {}});
    let valid = events(1).remove(0);
    {
        let mut state = fake.state.lock().unwrap();
        state.page_size = 1;
        state.events = vec![invalid.clone(), valid];
    }
    let client = fake.client();
    let run = backfill(&app.db, &client, None, Default::default(), |_| {});
    let summary = tokio::time::timeout(std::time::Duration::from_secs(20), run)
        .await
        .expect("backfill ends instead of fetching the same page forever")
        .unwrap();
    assert_eq!((summary.pages, summary.fetched, summary.stored, summary.invalid), (2, 2, 1, 1));
    assert_eq!(app.count("SELECT COUNT(*) FROM dead_letters").await, 1);
    assert_eq!(saved_cursor(&app.db).await.unwrap().as_deref(), Some("event_0000"));
    assert_eq!(fake.requests().len(), 2);

    // A last page holding only an invalid entry: the cursor moves past it too.
    fake.state.lock().unwrap().events.push(json!({"id": "event_zz", "event": "dsync.user.created", "data": "no"}));
    fake.state.lock().unwrap().events[2]["id"] = json!(format!("event_{}", "y".repeat(300)));
    let summary = backfill(&app.db, &fake.client(), None, Default::default(), |_| {}).await.unwrap();
    assert_eq!((summary.stored, summary.invalid), (0, 1));
    assert_eq!(saved_cursor(&app.db).await.unwrap(), Some(format!("event_{}", "y".repeat(300))));
    assert_eq!(app.count("SELECT COUNT(*) FROM dead_letters").await, 2);
}

/// Twelve active users of one directory: the plan is enforced, all twelve paid.
async fn enforced_directory(app: &TestApp) -> String {
    let plan = app.create_plan(ORG, None).await;
    for i in 0..12u32 {
        app.user(UserEvent {
            id: &format!("event_u{i}"),
            user: &format!("directory_user_{i:02}"),
            email: &format!("user{i:02}@example.com"),
            at: &at(i),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
    assert_eq!(app.plan(&plan).await["mode"], "enforced");
    plan
}

async fn resync_leaves_a_deleting_directory_alone_and_dsync_deleted_keeps_every_seat(store: Store) {
    let app = spawn_app(store).await;
    let plan = enforced_directory(&app).await;
    let fake = FakeWorkos::start();
    fake.state.lock().unwrap().directories =
        vec![json!({"object": "directory", "id": DIRECTORY, "organization_id": ORG, "state": "deleting"})];
    let before = (app.seats(&plan).await, app.audit(&plan).await);
    let report =
        resync(&app.db, &fake.client(), &OrganizationId::parse(ORG).unwrap(), ResyncOptions::default(), |_| {})
            .await
            .unwrap();
    assert_eq!(report.left_alone, vec![(seatsync::domain::DirectoryId::parse(DIRECTORY).unwrap(), "deleting".into())]);
    assert_eq!((report.directories, report.users_removed, report.seat_changes.len()), (0, 0, 0));
    assert_eq!((app.seats(&plan).await, app.audit(&plan).await), before);
    // No user listing was even asked for.
    assert!(fake.requests().iter().all(|r| !r.starts_with("/directory_users")));

    // The directory's own deletion then keeps every seat, as the directory's no more.
    app.deliver(&directory_event("event_gone", "dsync.deleted", ORG, DIRECTORY)).await;
    app.settle().await;
    let seats = app.seats(&plan).await;
    assert_eq!(seats.len(), 12);
    assert!(seats.iter().all(|(_, tier, source)| tier == "paid" && source == "manual"), "{seats:?}");
    let deleted = app.audit(&plan).await.into_iter().filter(|e| e["reason"] == "directory_deleted").count();
    assert_eq!(deleted, 12);
    assert_eq!(app.plan(&plan).await["mode"], "test");
}

async fn resync_keeps_a_user_created_by_webhook_while_it_was_listing(store: Store) {
    let app = spawn_app(store).await;
    let plan = enforced_directory(&app).await;
    let fake = FakeWorkos::start();
    let listed: Vec<Value> = (0..12u32)
        .map(|i| {
            UserEvent {
                id: "x",
                user: &format!("directory_user_{i:02}"),
                email: &format!("user{i:02}@example.com"),
                at: &at(i),
                ..Default::default()
            }
            .json()["data"]
                .clone()
        })
        .collect();
    {
        let mut state = fake.state.lock().unwrap();
        state.page_size = 6;
        state.directories =
            vec![json!({"object": "directory", "id": DIRECTORY, "organization_id": ORG, "state": "linked"})];
        state.users.insert(DIRECTORY.into(), listed);
        // The second page of users comes two seconds late.
        state.slow = Some(("/directory_users", "directory_user_05".into(), std::time::Duration::from_secs(2)));
    }
    let client = fake.client();
    let db = app.db.clone();
    let resync_run = tokio::spawn(async move {
        resync(&db, &client, &OrganizationId::parse(ORG).unwrap(), ResyncOptions::default(), |_| {}).await.unwrap()
    });
    // While the listing waits between pages, a new person is provisioned.
    eventually(std::time::Duration::from_secs(10), "the slow page asked for", || async {
        if fake.state.lock().unwrap().slow_asked { Ok(()) } else { Err("not yet") }
    })
    .await;
    app.user(UserEvent {
        id: "event_new",
        user: "directory_user_new",
        email: "new@example.com",
        at: &at(50),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.event_status("event_new").await, "applied");
    let report = resync_run.await.unwrap();
    assert_eq!((report.users_listed, report.users_removed), (12, 0));
    let seats = app.seats(&plan).await;
    assert!(seats.contains(&seat("new@example.com", "paid", "directory")), "{seats:?}");
    assert_eq!(app.plan(&plan).await["paid_seats"], 13);
    // WorkOS retrying the creation is not stale: nothing marked the user deleted.
    app.user(UserEvent {
        id: "event_new_retry",
        user: "directory_user_new",
        email: "new@example.com",
        at: &at(50),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.event_status("event_new_retry").await, "applied");
}

/// The twelve users of `enforced_directory` as listed, user 05's entry with an
/// email that does not parse, user 11 gone from the directory.
fn listing_with_an_unreadable_entry() -> Vec<Value> {
    (0..11u32)
        .map(|i| {
            let email = if i == 5 { "user 05@example.com".to_owned() } else { format!("user{i:02}@example.com") };
            let mut data = UserEvent {
                id: "x",
                user: &format!("directory_user_{i:02}"),
                email: &email,
                at: &at(i),
                ..Default::default()
            }
            .json()["data"]
                .clone();
            if i == 5 {
                data["custom_attributes"] = json!({});
            }
            data
        })
        .collect()
}

fn linked_directory_listing(fake: &FakeWorkos, users: Vec<Value>) {
    let mut state = fake.state.lock().unwrap();
    state.directories =
        vec![json!({"object": "directory", "id": DIRECTORY, "organization_id": ORG, "state": "linked"})];
    state.users.insert(DIRECTORY.into(), users);
}

async fn resync_neither_adds_nor_removes_a_listed_user_it_cannot_read(store: Store) {
    let app = spawn_app(store).await;
    let plan = enforced_directory(&app).await;
    let fake = FakeWorkos::start();
    linked_directory_listing(&fake, listing_with_an_unreadable_entry());
    let before = app.audit(&plan).await.len();
    let report =
        resync(&app.db, &fake.client(), &OrganizationId::parse(ORG).unwrap(), ResyncOptions::default(), |_| {})
            .await
            .unwrap();
    // User 05 keeps the paid seat: no resync release of it, nothing audited.
    assert!(app.seats(&plan).await.contains(&seat("user05@example.com", "paid", "directory")));
    let audited: Vec<Value> = app.audit(&plan).await.split_off(before);
    assert!(audited.iter().all(|e| e["email"] != "user05@example.com"), "{audited:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM directory_users WHERE deleted = true").await, 1);
    // Everything else applies: user 11, missing from the listing, is removed.
    assert_eq!(report.users_removed, 1);
    assert!(app.seats(&plan).await.contains(&seat("user11@example.com", "free", "manual")));
    assert_eq!((report.users_listed, report.unreadable.len()), (11, 1));
    let unreadable = &report.unreadable[0];
    assert_eq!(unreadable.id.as_deref(), Some("directory_user_05"));
    assert!(unreadable.why.contains("user 05@example.com"), "{}", unreadable.why);
    assert!(unreadable.to_string().starts_with(&format!("directory_user_05 in directory {DIRECTORY}: ")));
}

/// An entry that is not even a directory user (its id is no text): the
/// listing still counts, and nobody missing from it is removed, since any
/// of them may be that entry.
async fn resync_removes_nobody_when_an_unreadable_entry_has_no_id(store: Store) {
    let app = spawn_app(store).await;
    let plan = enforced_directory(&app).await;
    let fake = FakeWorkos::start();
    let mut listing = listing_with_an_unreadable_entry();
    listing.remove(5);
    listing.push(json!({"id": 5, "directory_id": DIRECTORY, "state": "active"}));
    linked_directory_listing(&fake, listing);
    let report =
        resync(&app.db, &fake.client(), &OrganizationId::parse(ORG).unwrap(), ResyncOptions::default(), |_| {})
            .await
            .unwrap();
    assert_eq!((report.users_listed, report.users_removed, report.unreadable.len()), (11, 0, 1));
    assert_eq!(report.unreadable[0].id, None);
    assert_eq!(app.plan(&plan).await["paid_seats"], 12);
    assert_eq!(app.count("SELECT COUNT(*) FROM directory_users WHERE deleted = true").await, 0);
}

async fn the_resync_command_reports_an_unreadable_user_and_exits_non_zero(store: Store) {
    let app = spawn_app(store).await;
    let plan = enforced_directory(&app).await;
    let fake = FakeWorkos::start();
    linked_directory_listing(&fake, listing_with_an_unreadable_entry());
    let before = app.audit(&plan).await.len();
    let mut env = base_env(&app.database_url);
    env.insert("WORKOS_API_BASE".into(), fake.base.clone());
    env.insert("WORKOS_API_KEY".into(), crate::fake_workos::API_KEY.into());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_seatsync"))
            .args(["resync", "--organization", ORG])
            .current_dir(std::env::temp_dir())
            .env_clear()
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("unreadable: directory_user_05 in directory {DIRECTORY}: not a usable email address")),
        "{stdout}"
    );
    assert!(stdout.contains("11 users listed (1 unreadable)"), "{stdout}");
    // The rest was applied: user 11 is gone, user 05 keeps the seat.
    let seats = app.seats(&plan).await;
    assert!(seats.contains(&seat("user11@example.com", "free", "manual")), "{seats:?}");
    assert!(seats.contains(&seat("user05@example.com", "paid", "directory")), "{seats:?}");
    let audited: Vec<Value> = app.audit(&plan).await.split_off(before);
    assert!(audited.iter().all(|e| e["email"] != "user05@example.com"), "{audited:?}");
    assert_eq!(audited.len(), 1, "{audited:?}");
}

both_stores!(
    resync_neither_adds_nor_removes_a_listed_user_it_cannot_read,
    resync_removes_nobody_when_an_unreadable_entry_has_no_id,
    the_resync_command_reports_an_unreadable_user_and_exits_non_zero,
    backfill_keeps_an_invalid_entry_as_a_dead_letter_and_moves_past_it,
    resync_leaves_a_deleting_directory_alone_and_dsync_deleted_keeps_every_seat,
    resync_keeps_a_user_created_by_webhook_while_it_was_listing,
);

both_stores!(
    backfill_stores_every_page_once_and_skips_events_already_delivered,
    backfill_resumes_after_a_crash_between_pages,
    backfill_waits_out_a_429_with_retry_after,
    backfill_retries_a_server_error_then_succeeds,
    backfill_with_a_wrong_key_says_so_and_exits_non_zero,
    resync_adds_deactivates_and_removes_users_across_pages,
    resync_stopped_by_a_failing_page_changes_nothing,
    a_dry_run_reports_the_changes_and_makes_none,
);
