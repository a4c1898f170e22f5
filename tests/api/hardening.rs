//! Issue 26, the second hardening pass: /metrics never reads the database,
//! admin tokens cannot be guessed fast and answers are never cached, the
//! SQLite file is private, disguised text is refused, and a PostgreSQL outage
//! is answered at once.
use crate::both_stores;
use crate::helpers::*;
use sea_orm::TransactionTrait;
use serde_json::{Value, json};
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

fn client_from(from: &str) -> reqwest::Client {
    seatsync::outbound::client_builder().local_address(from.parse::<IpAddr>().unwrap()).build().unwrap()
}

async fn a_scrape_never_waits_for_the_database(store: Store) {
    let app = spawn_app(store).await;
    app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_1",
        user: "directory_user_1",
        email: "ada@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let before = app.metrics_text().await;
    assert!(before.contains("seatsync_seats{tier=\"paid\"} 1\n"), "{before}");
    // Every pooled connection is taken: a scrape that needed one would wait
    // for the pool's time-out.
    let pool = match store {
        Store::Sqlite => 1,
        Store::Postgres => 10,
    };
    let mut held = Vec::new();
    for _ in 0..pool {
        held.push(app.db.begin().await.unwrap());
    }
    for _ in 0..20 {
        let started = Instant::now();
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let text = response.text().await.unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "a scrape waited {took:?}");
        assert!(
            text.contains("seatsync_seats{tier=\"paid\"} 1\n") && text.contains("seatsync_database_up 1\n"),
            "{text}"
        );
    }
    drop(held);
}

async fn metrics_addr_serves_metrics_there_only(store: Store) {
    let app = spawn_app_with(store, &[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let metrics = app.metrics_address.clone().expect("a metrics listener");
    let on_main = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(on_main.status(), 404);
    let there = app.client.get(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(there.status(), 200);
    assert!(there.text().await.unwrap().contains("seatsync_http_requests_total"));
    for path in ["/healthz", "/admin/plans", "/webhooks/workos", "/admin/"] {
        let response = app.client.get(format!("{metrics}{path}")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path} on the metrics listener");
    }
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

async fn ten_refused_tokens_a_minute_lock_out_that_address(store: Store) {
    let app = spawn_app(store).await;
    let guesser = client_from("127.0.0.5");
    for n in 0..10 {
        let response = guesser.get(app.url("/admin/plans")).bearer_auth(format!("guess-{n}")).send().await.unwrap();
        assert_eq!(response.status(), 401, "guess {n}");
    }
    // Now even the right token is refused from there, with how long to wait.
    let response = guesser.get(app.url("/admin/plans")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "too_many_attempts");
    // Another address is not affected.
    let operator = client_from("127.0.0.6");
    assert_eq!(operator.get(app.url("/admin/plans")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().status(), 200);
}

async fn every_admin_answer_is_no_store_and_nosniff(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let answers = [
        app.admin_get("/admin/plans").await,
        app.admin_get(&format!("/admin/plans/{plan}/members")).await,
        app.admin_get("/admin/plans/plan_missing").await,
        app.admin_get("/admin/no-such-route").await,
        app.client.get(app.url("/admin/plans")).send().await.unwrap(),
        app.client.get(app.url("/admin/")).send().await.unwrap(),
        app.client.get(app.url("/admin/app.js")).send().await.unwrap(),
    ];
    for response in answers {
        let url = response.url().to_string();
        assert_eq!(response.headers()["cache-control"], "no-store", "{url}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{url}");
    }
}

async fn disguised_emails_ids_and_names_are_refused(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    for email in ["ada\u{202E}moc.elpmaxe@evil.example", "a\u{200B}da@example.com"] {
        let response = app.set_tier(&plan, email, "paid").await;
        assert_eq!(response.status(), 400, "{email:?}");
    }
    let named = app.admin_post("/admin/plans", &json!({"name": "Acme\u{2066}Corp"})).await;
    assert_eq!(named.status(), 400);
    let org = app.admin_post("/admin/plans", &json!({"name": "X", "organization_id": "org_\u{200D}1"})).await;
    assert_eq!(org.status(), 400);
    // A delivery whose id hides a character is not an event.
    let response =
        app.post_webhook(json!({"id": "event_\u{202E}1", "event": "dsync.user.created"}).to_string().as_bytes()).await;
    assert_eq!(response.status(), 422);
    // A directory user with such an email gets no seat: the event fails, said why.
    app.user(UserEvent {
        id: "event_sneaky",
        user: "directory_user_1",
        email: "ad\u{200B}a@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.event_status("event_sneaky").await, "failed");
    assert!(app.seats(&plan).await.is_empty());
}

both_stores!(
    a_scrape_never_waits_for_the_database,
    metrics_addr_serves_metrics_there_only,
    ten_refused_tokens_a_minute_lock_out_that_address,
    every_admin_answer_is_no_store_and_nosniff,
    disguised_emails_ids_and_names_are_refused
);

/// SQLite's files hold whole payloads (names, emails): owner-only.
#[tokio::test]
async fn a_new_sqlite_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let database = TestDatabase::create(Store::Sqlite).await;
    let app = spawn_app_on(&database, &[]).await;
    app.create_plan(ORG, None).await;
    let path = database.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        let mode = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{file}: {e}")).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
}

/// A TCP relay to PostgreSQL that can be cut, as a network outage would.
struct Relay {
    port: u16,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(to: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = to.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                shared.lock().unwrap().push(relay);
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { port, tasks }
    }

    /// Stops listening and drops every relayed connection.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// PostgreSQL goes away: every delivery gets its 503 within about a second
/// (not the pool's old five), and /readyz says so as fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(test_postgres_off, ignore = "TEST_POSTGRES_URL is not set")]
async fn a_postgres_outage_is_answered_within_a_second() {
    if !postgres_enabled() {
        return;
    }
    let database = TestDatabase::create(Store::Postgres).await;
    let (server, rest) = database.url.split_once('@').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap();
    let (host, name) = rest.split_once('/').unwrap();
    let relay = Relay::start(host.to_owned()).await;
    let relayed = format!("{server}@127.0.0.1:{}/{name}", relay.port);
    let app = spawn_app_on(&database, &[("DATABASE_URL", &relayed)]).await;
    let event = |id: &str| json!({"id": id, "event": "dsync.user.created", "data": {}}).to_string();
    assert_eq!(app.post_webhook(event("event_before").as_bytes()).await.status(), 200);

    relay.cut();
    for n in 0..3 {
        let started = Instant::now();
        let response = app.post_webhook(event(&format!("event_during_{n}")).as_bytes()).await;
        let took = started.elapsed();
        assert_eq!(response.status(), 503, "delivery {n}");
        assert!(took < Duration::from_millis(2500), "delivery {n} waited {took:?} for its 503");
    }
    let started = Instant::now();
    assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), 503);
    assert!(started.elapsed() < Duration::from_millis(2500), "/readyz took {:?}", started.elapsed());
}
