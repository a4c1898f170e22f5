//! The reconciler's queue: arrival order per organization (parked events
//! included), events the database refuses, and deliveries with bad bytes.
use crate::both_stores;
use crate::helpers::*;
use futures_util::StreamExt;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use std::time::Duration;

const OTHER_ORG: &str = "org_01OTHERORGANIZATION";
const OTHER_DIRECTORY: &str = "directory_01OTHERDIRECTORY";

/// Posts `bodies` with `concurrency` requests in flight; every one must be a 200.
async fn post_all(app: &TestApp, bodies: Vec<Value>, concurrency: usize) {
    let statuses: Vec<u16> = futures_util::stream::iter(bodies)
        .map(|body| async move { app.post_webhook(body.to_string().as_bytes()).await.status().as_u16() })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

/// Waits until nothing is pending: the background reconciler and `settle` together.
async fn settle_all(app: &TestApp) {
    eventually(Duration::from_secs(30), "nothing pending", || async {
        app.settle().await;
        match app.count("SELECT COUNT(*) FROM inbox_events WHERE status = 'pending'").await {
            0 => Ok(()),
            pending => Err(pending),
        }
    })
    .await
}

fn user(n: u32) -> (String, String) {
    (format!("directory_user_{n:02}"), format!("user{n:02}@example.com"))
}

async fn parked_events_keep_their_place_when_the_plan_arrives_during_a_burst(store: Store) {
    let app = spawn_app(store).await;
    // Before the plan exists: ten users, then five of them deactivated.
    let mut early = Vec::new();
    for n in 0..10 {
        let (id, email) = user(n);
        early.push(
            UserEvent { id: &format!("event_c{n}"), user: &id, email: &email, at: &at(n), ..Default::default() }.json(),
        );
    }
    for n in 0..5 {
        let (id, email) = user(n);
        early.push(
            UserEvent {
                id: &format!("event_d{n}"),
                kind: "updated",
                user: &id,
                email: &email,
                state: "inactive",
                at: &at(100 + n),
                ..Default::default()
            }
            .json(),
        );
    }
    for body in &early {
        app.deliver(body).await;
    }
    // Another organization's initial sync keeps the reconciler busy...
    app.create_plan(OTHER_ORG, None).await;
    let burst: Vec<Value> = (0..3000u32)
        .map(|i| {
            let (id, email) = (format!("directory_user_b{i}"), format!("b{i}@other.example.com"));
            UserEvent {
                id: &format!("event_b{i}"),
                org: OTHER_ORG,
                dir: OTHER_DIRECTORY,
                user: &id,
                email: &email,
                at: &at(i),
                ..Default::default()
            }
            .json()
        })
        .collect();
    let (first, rest) = burst.split_at(1000);
    post_all(&app, first.to_vec(), 16).await;
    // ...while the plan is created, a manual paid member added, and two more users arrive.
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ceo@example.com", "paid").await.status(), 200);
    let later: Vec<Value> = (10..12)
        .map(|n| {
            let (id, email) = user(n);
            UserEvent { id: &format!("event_c{n}"), user: &id, email: &email, at: &at(n), ..Default::default() }.json()
        })
        .collect();
    let (_, ()) = tokio::join!(post_all(&app, rest.to_vec(), 16), async {
        for body in &later {
            app.deliver(body).await;
        }
    });
    settle_all(&app).await;

    // In arrival order the count went 10, 5, 7: never past ten, so still a test.
    let shown = app.plan(&plan).await;
    assert_eq!(shown["mode"], "test", "{shown}");
    assert_eq!(shown["active_directory_users"], 7);
    let mut expected = vec![seat("ceo@example.com", "paid", "manual")];
    for n in 0..12 {
        let (tier, source) = if n < 5 { ("free", "manual") } else { ("paid", "directory") };
        expected.push(seat(&user(n).1, tier, source));
    }
    expected.sort();
    assert_eq!(app.seats(&plan).await, expected);
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events WHERE status <> 'applied'").await, 0);
}

/// A trigger that refuses one email, on either database: "a value the database refuses".
async fn refuse_email(app: &TestApp, store: Store, email: &str) {
    let statements = match store {
        Store::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON directory_users WHEN NEW.email = '{email}' \
             BEGIN SELECT RAISE(ABORT, 'this email is refused'); END"
        )],
        Store::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.email = '{email}' THEN RAISE EXCEPTION 'this email is refused'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON directory_users \
             FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
                .to_owned(),
        ],
    };
    for sql in statements {
        app.db.execute_unprepared(&sql).await.unwrap();
    }
}

async fn status_of(app: &TestApp, id: &str) -> Value {
    app.admin_json(&format!("/admin/events/{id}")).await
}

async fn an_event_the_database_refuses_fails_and_its_organization_goes_on(store: Store) {
    let app = spawn_app(store).await;
    refuse_email(&app, store, "poison@example.com").await;
    // One plan applies event by event (test mode), the other through the batched
    // path (enforced from its first user).
    let test_plan = app.create_plan(ORG, None).await;
    let enforced_plan = app.create_plan(OTHER_ORG, Some(0)).await;
    let third_org = "org_01THIRDORGANIZATION";
    let third_plan = app.create_plan(third_org, None).await;
    let mut bodies = Vec::new();
    for (tag, org, dir) in [("t", ORG, DIRECTORY), ("e", OTHER_ORG, OTHER_DIRECTORY)] {
        let ev = |n: &str, user: &str, email: &str, t: u32| {
            UserEvent { id: &format!("event_{tag}_{n}"), org, dir, user, email, at: &at(t), ..Default::default() }
                .json()
        };
        bodies.push(ev("a", "directory_user_a", "a@example.com", 1));
        bodies.push(ev("poison", "directory_user_p", "poison@example.com", 2));
        bodies.push(ev("b", "directory_user_b", "b@example.com", 3));
    }
    bodies.push(
        UserEvent {
            id: "event_c",
            org: third_org,
            dir: "directory_01THIRD",
            user: "directory_user_c",
            email: "c@example.com",
            at: &at(1),
            ..Default::default()
        }
        .json(),
    );
    for body in &bodies {
        app.deliver(body).await;
    }
    app.settle().await;
    // The batch that met the refused event committed the rest of its work.
    for id in ["event_t_a", "event_e_a", "event_c"] {
        assert_eq!(app.event_status(id).await, "applied", "{id}");
    }
    for tag in ["t", "e"] {
        let poison = status_of(&app, &format!("event_{tag}_poison")).await;
        match poison["status"].as_str().unwrap() {
            // Retried before it is given up: the organization's next event waits.
            "pending" => {
                assert!(poison["error"].as_str().unwrap().starts_with("retrying:"), "{poison}");
                assert_eq!(app.event_status(&format!("event_{tag}_b")).await, "pending");
            }
            "failed" => {}
            other => panic!("unexpected status {other}: {poison}"),
        }
    }
    settle_all(&app).await;
    for tag in ["t", "e"] {
        let poison = status_of(&app, &format!("event_{tag}_poison")).await;
        assert_eq!(poison["status"], "failed", "{poison}");
        let error = poison["error"].as_str().unwrap();
        assert!(error.contains("refused this event 3 times") && error.contains("this email is refused"), "{error}");
        assert_eq!(app.event_status(&format!("event_{tag}_b")).await, "applied");
    }
    let both = vec![seat("a@example.com", "paid", "directory"), seat("b@example.com", "paid", "directory")];
    assert_eq!(app.seats(&test_plan).await, both);
    assert_eq!(app.seats(&enforced_plan).await, both);
    assert_eq!(app.seats(&third_plan).await, vec![seat("c@example.com", "paid", "directory")]);
    assert_eq!(app.plan(&enforced_plan).await["mode"], "enforced");
}

async fn deliveries_with_bad_bytes_are_refused_alone(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let good: Vec<String> = (0..30u32)
        .map(|n| {
            let (id, email) = user(n);
            UserEvent { id: &format!("event_g{n}"), user: &id, email: &email, at: &at(n), ..Default::default() }
                .json()
                .to_string()
        })
        .collect();
    let bad = [
        r#"{"id":"event_\u0000nul","event":"dsync.user.created","data":{}}"#.to_owned(),
        r#"{"id":"event_bad_type","event":"dsync.user\u0000.created","data":{}}"#.to_owned(),
        format!(r#"{{"id":"{}","event":"dsync.user.created","data":{{}}}}"#, "x".repeat(256)),
    ];
    let all: Vec<(bool, String)> =
        good.iter().map(|b| (true, b.clone())).chain(bad.iter().map(|b| (false, b.clone()))).collect();
    let answers = futures_util::future::join_all(all.iter().map(|(is_good, body)| async {
        let response = app.post_webhook(body.as_bytes()).await;
        let status = response.status().as_u16();
        let json: Value = response.json().await.unwrap();
        (*is_good, status, json)
    }))
    .await;
    for (is_good, status, json) in answers {
        if is_good {
            assert_eq!((status, json["status"].as_str()), (200, Some("accepted")), "{json}");
        } else {
            assert_eq!((status, json["error"].as_str()), (422, Some("invalid_event")), "{json}");
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 30);
    assert_eq!(app.count("SELECT COUNT(*) FROM dead_letters").await, 3);
    settle_all(&app).await;
    assert_eq!(app.plan(&plan).await["paid_seats"], 30);
}

both_stores!(
    parked_events_keep_their_place_when_the_plan_arrives_during_a_burst,
    an_event_the_database_refuses_fails_and_its_organization_goes_on,
    deliveries_with_bad_bytes_are_refused_alone,
);
