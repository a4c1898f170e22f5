//! Issue 26, the second hardening pass: /metrics never reads the database,
//! admin tokens cannot be guessed fast and answers are never cached, the
//! SQLite file is private, disguised text is refused, and a PostgreSQL outage
//! is answered at once.
use crate::both_stores;
use crate::helpers::*;
use sea_orm::TransactionTrait;
use seatsync::webhook::signature;
use serde_json::{Value, json};
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

fn client_from(from: &str) -> reqwest::Client {
    seatsync::http_client::client_builder().local_address(from.parse::<IpAddr>().unwrap()).build().unwrap()
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

/// What the scrape's figures cost does not grow with the settled history:
/// each backlog count reads its status's partial index, never the table
/// (PostgreSQL is told to avoid scans, so a plan that still scans has no index
/// it can use; a fresh, never-analyzed table would say little otherwise).
async fn the_scrape_figures_read_only_the_backlogs_indexes(store: Store) {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app(store).await;
    let backend = app.db.get_database_backend();
    for sql in [seatsync::inbox::status::BACKLOG_COUNTS, seatsync::inbox::status::OLDEST_PENDING] {
        let txn = app.db.begin().await.unwrap();
        let plan: Vec<String> = match store {
            Store::Sqlite => txn
                .query_all_raw(Statement::from_string(backend, format!("EXPLAIN QUERY PLAN {sql}")))
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .collect(),
            Store::Postgres => {
                txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
                txn.query_all_raw(Statement::from_string(backend, format!("EXPLAIN {sql}")))
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.try_get::<String>("", "QUERY PLAN").unwrap())
                    .collect()
            }
        };
        let scans: Vec<&String> = plan
            .iter()
            .filter(|line| {
                line.contains("Seq Scan") || (line.starts_with("SCAN inbox_events") && !line.contains("INDEX"))
            })
            .collect();
        assert!(scans.is_empty(), "{sql}\nreads the whole table: {plan:#?}");
        assert!(plan.iter().any(|line| line.contains("INDEX") || line.contains("Index")), "{plan:#?}");
    }
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

async fn ten_refused_tokens_a_minute_brake_that_address_but_never_the_right_token(store: Store) {
    let app = spawn_app(store).await;
    let guesser = client_from("127.0.0.5");
    for n in 0..9 {
        let response = guesser.get(app.url("/admin/plans")).bearer_auth(format!("guess-{n}")).send().await.unwrap();
        assert_eq!(response.status(), 401, "guess {n}");
    }
    // A request with no token at all counts as a refusal too.
    assert_eq!(guesser.get(app.url("/admin/plans")).send().await.unwrap().status(), 401);
    // Now another guess waits, told how long…
    let response = guesser.get(app.url("/admin/plans")).bearer_auth("guess-10").send().await.unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "too_many_attempts");
    assert_eq!(guesser.get(app.url("/admin/plans")).send().await.unwrap().status(), 429, "no token: braked too");
    // …but the right token is always accepted: an outsider sharing the
    // operator's address (a tunnel, a proxy) cannot lock the operator out.
    let right = guesser.get(app.url("/admin/plans")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(right.status(), 200);
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

/// `cp .env.example .env`, then a tunnel: the example token works from this
/// machine only, never through the tunnel that would publish it.
async fn the_example_token_is_refused_through_a_tunnel(store: Store) {
    let example = seatsync::config::SHIPPED_SECRETS.iter().find(|(name, _)| *name == "ADMIN_TOKEN").unwrap().1;
    let app = spawn_app_with(store, &[("ADMIN_TOKEN", example)]).await;
    let plans = app.url("/admin/plans");
    let here = app.client.get(&plans).bearer_auth(example).send().await.unwrap();
    assert_eq!(here.status(), 200);
    let tunnelled = [
        app.client.get(&plans).bearer_auth(example).header("Host", "abc123.ngrok-free.app").send().await.unwrap(),
        app.client.get(&plans).bearer_auth(example).header("X-Forwarded-For", "203.0.113.7").send().await.unwrap(),
        app.client.get(&plans).bearer_auth(example).header("Cf-Connecting-Ip", "203.0.113.7").send().await.unwrap(),
    ];
    for response in tunnelled {
        assert_eq!(response.status(), 403);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "example_token");
    }
    // A token of one's own works through the tunnel.
    let own = spawn_app(store).await;
    let response = own
        .client
        .get(own.url("/admin/plans"))
        .bearer_auth(ADMIN_TOKEN)
        .header("Host", "abc123.ngrok-free.app")
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// `cp .env.example .env`, then a tunnel: a delivery signed with the example
/// webhook secret (which anyone can read) is refused through it, 403
/// `example_secret`, and nothing is stored; from this machine it is taken
/// (issue 37, item 2).
async fn the_example_webhook_secret_is_refused_through_a_tunnel(store: Store) {
    let example =
        seatsync::config::SHIPPED_SECRETS.iter().find(|(name, _)| *name == "WORKOS_WEBHOOK_SECRET").unwrap().1;
    let app = spawn_app_with(store, &[("WORKOS_WEBHOOK_SECRET", example)]).await;
    let send = |id: &str, headers: &[(&str, &str)]| {
        let body = json!({"id": id, "event": "dsync.user.created", "data": {}}).to_string();
        let mut request = app
            .client
            .post(app.url("/webhooks/workos"))
            .header("WorkOS-Signature", signature::header_value(example.as_bytes(), now_ms(), body.as_bytes()))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    for (id, headers) in [
        ("event_via_host", &[("Host", "abc123.ngrok-free.app")][..]),
        ("event_via_xff", &[("X-Forwarded-For", "203.0.113.7")][..]),
        ("event_via_cf", &[("Cf-Connecting-Ip", "203.0.113.7")][..]),
    ] {
        let response = send(id, headers).await.unwrap();
        assert_eq!(response.status(), 403, "{id}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "example_secret", "{id}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 0, "nothing forged was stored");
    assert_eq!(send("event_here", &[]).await.unwrap().status(), 200, "from this machine it is taken");
    // The endpoint's own secret works through the tunnel, the example one
    // kept beside it as the previous one notwithstanding.
    let own = spawn_app_with(store, &[("WORKOS_WEBHOOK_SECRET_PREVIOUS", example)]).await;
    let body = json!({"id": "event_own", "event": "dsync.user.created", "data": {}}).to_string();
    let response = own
        .client
        .post(own.url("/webhooks/workos"))
        .header("WorkOS-Signature", signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes()))
        .header("X-Forwarded-For", "203.0.113.7")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// The page's rules (CONTRACT 3.4): a strict policy on every page answer, and
/// a script that never writes markup (every value reaches the page as text).
async fn the_admin_page_runs_under_a_strict_policy_and_writes_no_markup(store: Store) {
    let app = spawn_app_with(store, &[("LOGIN_REDIRECT_URL", crate::app_tile::LOGIN)]).await;
    for path in ["/admin/", "/admin/app.js"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-security-policy"],
            seatsync::admin::page::CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
        let text = response.text().await.unwrap();
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            assert!(!text.contains(sink), "{path} uses {sink}");
        }
    }
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'none'"] {
        assert!(seatsync::admin::page::CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
    }
    assert!(!seatsync::admin::page::CONTENT_SECURITY_POLICY.contains("unsafe"));
    let tile = app.client.get(app.url("/sso/login_redirect")).send().await.unwrap();
    assert_eq!(tile.headers()["content-security-policy"], "default-src 'none'; base-uri 'none'; form-action 'none'");
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
    the_scrape_figures_read_only_the_backlogs_indexes,
    ten_refused_tokens_a_minute_brake_that_address_but_never_the_right_token,
    every_admin_answer_is_no_store_and_nosniff,
    the_admin_page_runs_under_a_strict_policy_and_writes_no_markup,
    the_example_token_is_refused_through_a_tunnel,
    the_example_webhook_secret_is_refused_through_a_tunnel,
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

/// A database made before files were created 0600 (or copied in with 0644)
/// is made owner-only when the service opens it (issue 37, item 8).
#[tokio::test]
async fn an_existing_sqlite_database_readable_by_others_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let database = TestDatabase::create(Store::Sqlite).await;
    let app = spawn_app_on(&database, &[]).await;
    app.create_plan(ORG, None).await;
    drop(app);
    let path = database.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    let files = [path.clone(), format!("{path}-wal"), format!("{path}-shm")];
    for file in files.iter().filter(|f| std::path::Path::new(f).exists()) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let app = spawn_app_on(&database, &[]).await;
    app.create_plan("org_01SECONDORGANIZATION", None).await;
    for file in &files {
        let mode = std::fs::metadata(file).unwrap_or_else(|e| panic!("{file}: {e}")).permissions().mode() & 0o777;
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
        // The pool gives up after 1 s; the bound leaves room for a loaded machine
        // and still tells it from the old 5 s.
        assert!(took < Duration::from_millis(2500), "delivery {n} waited {took:?} for its 503");
    }
    let started = Instant::now();
    assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), 503);
    assert!(started.elapsed() < Duration::from_millis(2500), "/readyz took {:?}", started.elapsed());
}
