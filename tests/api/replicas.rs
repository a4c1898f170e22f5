//! Several servers on one database give exactly the result of one.
use crate::both_stores;
use crate::helpers::*;
use seatsync::webhook::signature;

/// 30 users, each a manual free member first; all created active, then a third
/// deactivated and a sixth deleted. Final: 15 active, so the plan is enforced.
pub fn story() -> (Vec<serde_json::Value>, Vec<(String, String, String)>) {
    let mut events = Vec::new();
    let mut expected = Vec::new();
    for i in 0..30u32 {
        let (user, email) = (format!("directory_user_{i}"), format!("user{i:02}@example.com"));
        events.push(user_event(&format!("event_c{i}"), "created", &user, &email, "active", &at(i)));
        let last = match i % 6 {
            0 | 3 => Some(("updated", "inactive")),
            1 => Some(("deleted", "active")),
            _ => None,
        };
        if let Some((kind, state)) = last {
            events.push(user_event(&format!("event_l{i}"), kind, &user, &email, state, &at(100 + i)));
            expected.push(seat(&email, "free", "manual"));
        } else {
            expected.push(seat(&email, "paid", "directory"));
        }
    }
    (events, expected)
}

async fn two_servers_on_one_database_give_the_seats_of_one(store: Store) {
    let database = TestDatabase::create(store).await;
    // Started at the same moment: both migrate the same fresh database.
    let (a, b) = tokio::join!(spawn_app_on(&database, &[]), spawn_app_on(&database, &[]));
    let plan = a.create_plan(ORG, None).await;
    // Fifteen of thirty leave: past the release guard's default, which is tested apart.
    let response = a.client.patch(a.url(&format!("/admin/plans/{plan}"))).bearer_auth(ADMIN_TOKEN);
    assert_eq!(response.json(&serde_json::json!({"release_limit": 0})).send().await.unwrap().status(), 200);
    let (events, expected) = story();
    for (email, _, _) in &expected {
        assert_eq!(b.set_tier(&plan, email, "free").await.status(), 200);
    }
    // Deliveries split between the servers by a fixed pseudo-random draw, all at
    // once, each event twice (WorkOS retries), in reverse order.
    let mut draw = 0x2545_f491u32;
    let posts = events.iter().rev().chain(events.iter()).map(|event| {
        draw ^= draw << 13;
        draw ^= draw >> 17;
        draw ^= draw << 5;
        let app = if draw.is_multiple_of(2) { &a } else { &b };
        let body = event.to_string();
        let header = signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes());
        let request = app.client.post(app.url("/webhooks/workos")).header("WorkOS-Signature", header).body(body);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Both background reconcilers have been racing; wait until nothing is left.
    a.settle().await;
    b.settle().await;

    assert_eq!(a.seats(&plan).await, expected);
    let shown = b.plan(&plan).await;
    assert_eq!((shown["mode"].as_str(), shown["active_directory_users"].as_u64()), (Some("enforced"), Some(15)));
    assert_eq!((shown["paid_seats"].as_u64(), shown["free_seats"].as_u64()), (Some(15), Some(15)));
    assert_eq!(a.count("SELECT COUNT(*) FROM inbox_events").await, events.len() as i64);
    assert_eq!(a.count("SELECT COUNT(*) FROM inbox_events WHERE status = 'pending'").await, 0);
    // Enforcement started exactly once: every row it wrote carries the plan's
    // enforced_at, the moment of the one switch.
    let enforced_at = shown["enforced_at"].as_str().expect("enforced_at is set").to_owned();
    for entry in a.audit(&plan).await.iter().filter(|e| e["reason"] == "enforcement_started") {
        assert_eq!(entry["at"], enforced_at.as_str(), "{entry}");
    }
}

both_stores!(two_servers_on_one_database_give_the_seats_of_one);

/// Two processes opening one fresh SQLite file at the same moment both get in
/// (the loser of the switch to WAL waits instead of failing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_open_a_fresh_sqlite_file_at_once() {
    for _ in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("fresh.db").display());
        let url = seatsync::config::DatabaseUrl::parse(&url).unwrap();
        let (a, b) = tokio::join!(seatsync::db::connect(&url), seatsync::db::connect(&url));
        a.expect("first connection");
        b.expect("second connection");
    }
}
