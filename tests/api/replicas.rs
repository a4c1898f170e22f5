//! Several servers on one database give exactly the result of one.
use crate::both_stores;
use crate::helpers::*;
use seatsync::webhook::signature;

/// A story for several servers on one database.
pub struct Story {
    pub events: Vec<serde_json::Value>,
    /// `(email, tier)` set by hand before any event arrives.
    pub seeds: Vec<(String, &'static str)>,
    /// The seats at the end, by email.
    pub expected: Vec<(String, String, String)>,
}

/// Two members paid by hand who are nobody's directory user: enforcement must
/// move them to free (two `paid → free` audit rows, exactly).
pub const OUTSIDERS: [&str; 2] = ["outsider1@example.com", "outsider2@example.com"];

/// 30 users, each a manual free member first, beside two paid outsiders; all
/// users created active, then a third deactivated and a sixth deleted. Final:
/// 15 active, so the plan is enforced and the outsiders are free.
pub fn story() -> Story {
    let mut events = Vec::new();
    let mut seeds: Vec<(String, &'static str)> = OUTSIDERS.iter().map(|e| (e.to_string(), "paid")).collect();
    let mut expected: Vec<_> = OUTSIDERS.iter().map(|e| seat(e, "free", "manual")).collect();
    for i in 0..30u32 {
        let (user, email) = (format!("directory_user_{i}"), format!("user{i:02}@example.com"));
        seeds.push((email.clone(), "free"));
        events.push(
            UserEvent { id: &format!("event_c{i}"), user: &user, email: &email, at: &at(i), ..Default::default() }
                .json(),
        );
        let last = match i % 6 {
            0 | 3 => Some(("updated", "inactive")),
            1 => Some(("deleted", "active")),
            _ => None,
        };
        if let Some((kind, state)) = last {
            events.push(
                UserEvent {
                    id: &format!("event_l{i}"),
                    kind,
                    user: &user,
                    email: &email,
                    state,
                    at: &at(100 + i),
                    ..Default::default()
                }
                .json(),
            );
            expected.push(seat(&email, "free", "manual"));
        } else {
            expected.push(seat(&email, "paid", "directory"));
        }
    }
    Story { events, seeds, expected }
}

/// Enforcement started exactly once and wrote what it had to: the two outsiders
/// `paid → free`, at the plan's `enforced_at`, and nothing else (the directory
/// users were already paid: test mode seats them as they arrive).
pub fn assert_enforced_once(audit: &[serde_json::Value], enforced_at: &str) {
    let field = |e: &serde_json::Value, name: &str| e[name].as_str().unwrap_or("?").to_owned();
    let rows: Vec<_> = audit
        .iter()
        .filter(|e| e["reason"] == "enforcement_started")
        .map(|e| (field(e, "email"), field(e, "from"), field(e, "to"), field(e, "at")))
        .collect();
    let expected: Vec<_> = OUTSIDERS
        .iter()
        .map(|email| (email.to_string(), "paid".to_owned(), "free".to_owned(), enforced_at.to_owned()))
        .collect();
    assert_eq!(rows, expected);
}

async fn two_servers_on_one_database_give_the_seats_of_one(store: Store) {
    let database = TestDatabase::create(store).await;
    // Started at the same moment: both migrate the same fresh database.
    let (a, b) = tokio::join!(spawn_app_on(&database, &[]), spawn_app_on(&database, &[]));
    let plan = a.create_plan(ORG, None).await;
    // Fifteen of thirty leave: past the release guard's default, which is tested apart.
    let response = a.client.patch(a.url(&format!("/admin/plans/{plan}"))).bearer_auth(ADMIN_TOKEN);
    assert_eq!(response.json(&serde_json::json!({"release_limit": 0})).send().await.unwrap().status(), 200);
    let Story { events, seeds, expected } = story();
    for (email, tier) in &seeds {
        assert_eq!(b.set_tier(&plan, email, tier).await.status(), 200);
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
    assert_eq!((shown["paid_seats"].as_u64(), shown["free_seats"].as_u64()), (Some(15), Some(17)));
    assert_eq!(a.count("SELECT COUNT(*) FROM inbox_events").await, events.len() as i64);
    assert_eq!(a.count("SELECT COUNT(*) FROM inbox_events WHERE status = 'pending'").await, 0);
    let enforced_at = shown["enforced_at"].as_str().expect("enforced_at is set").to_owned();
    assert_enforced_once(&a.audit(&plan).await, &enforced_at);
}

both_stores!(two_servers_on_one_database_give_the_seats_of_one);

/// Two processes opening one fresh SQLite file at the same moment both get in
/// (the loser of the switch to WAL waits instead of failing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_open_a_fresh_sqlite_file_at_once() {
    for _ in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("fresh.db").display());
        let url = seatsync::db::DatabaseUrl::parse(&url).unwrap();
        let (a, b) = tokio::join!(seatsync::db::connect(&url), seatsync::db::connect(&url));
        a.expect("first connection");
        b.expect("second connection");
    }
}
