//! The binary as an operator runs it: configuration errors, migrations, signals.
use crate::helpers::{SECRET, Store, TestDatabase, base_env, postgres_enabled};
use crate::processes::{seatsync, signal, start_server, wait_exit, with};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

fn env_for(db: &TestDatabase) -> Vec<(String, String)> {
    base_env(&db.url).into_iter().collect()
}

#[test]
fn startup_refuses_bad_configuration_naming_the_variable() {
    let db_dir = tempfile::tempdir().unwrap();
    let base = vec![
        ("DATABASE_URL".to_owned(), format!("sqlite://{}?mode=rwc", db_dir.path().join("x.db").display())),
        ("WORKOS_WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
        ("LISTEN_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
    ];
    for (variable, value) in [
        ("WORKOS_WEBHOOK_SECRET", None),
        ("WORKOS_WEBHOOK_SECRET", Some("")),
        ("WEBHOOK_TOLERANCE_SECS", Some("0")),
        ("WEBHOOK_MAX_BODY_BYTES", Some("lots")),
        ("LISTEN_ADDR", Some("not-an-address")),
        ("DATABASE_URL", Some("mysql://localhost/x")),
        ("LOG_FORMAT", Some("xml")),
        ("BILLING_WEBHOOK_SECRET", Some("whsec_dG9vIHNob3J0")),
        ("BILLING_WEBHOOK_SECRET", Some("not-a-standard-webhooks-secret")),
        ("LOGIN_REDIRECT_URL", Some("http://app.example.com/login")),
        ("LOGIN_REDIRECT_URL", Some("/login")),
        ("ADMIN_TOKEN", Some("short")),
        ("WEBHOOK_ALLOWED_IPS", Some("not-an-address")),
        ("METRICS_ADDR", Some("everywhere")),
    ] {
        let output = seatsync(&with(base.clone(), variable, value)).arg("serve").output().unwrap();
        assert!(!output.status.success(), "{variable}={value:?} should stop start-up");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line expected, got {stderr:?}");
        assert!(lines[0].contains(variable), "{variable} not named in {stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        if variable == "BILLING_WEBHOOK_SECRET" {
            assert!(!stderr.contains(value.unwrap()), "the secret is never printed: {stderr}");
        }
    }
}

fn migrations_run_twice(store: Store) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(store));
    for _ in 0..2 {
        let output = seatsync(&env_for(&db)).arg("migrate").output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    drop(db);
}

fn migrations_are_idempotent(store: Store) {
    migrations_run_twice(store);
}

crate::both_stores_blocking!(migrations_are_idempotent);

/// Starts `serve` and reads its port from the JSON start-up line.

#[test]
fn sigterm_stops_the_server_cleanly() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let (mut child, port) = start_server(&env_for(&db));
    let health =
        rt.block_on(async { reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.unwrap().status() });
    assert_eq!(health, 200);
    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(20)).expect("server stops after SIGTERM");
    assert_eq!(status.code(), Some(0));
}

async fn burst_then_sigkill(store: Store) {
    use seatsync::webhook::signature;
    let db = TestDatabase::create(store).await;
    let env = env_for(&db);
    let (mut child, port) = start_server(&env);
    let client = seatsync::http_client::client();
    let url = format!("http://127.0.0.1:{port}/webhooks/workos");
    let posts = (0..200).map(|i| {
        let body = crate::helpers::UserEvent {
            id: &format!("event_burst_{i:04}"),
            user: &format!("directory_user_{i}"),
            email: &format!("user{i}@example.com"),
            at: &crate::helpers::at(i),
            ..Default::default()
        }
        .json()
        .to_string();
        let header = signature::header_value(SECRET.as_bytes(), crate::helpers::now_ms(), body.as_bytes());
        let (client, url) = (client.clone(), url.clone());
        async move { client.post(url).header("WorkOS-Signature", header).body(body).send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // SIGKILL straight after the last 200: no chance to flush anything.
    signal(&child, "KILL");
    wait_exit(&mut child, Duration::from_secs(10)).expect("killed");

    let (mut child, port) = start_server(&env);
    let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&db.url).unwrap()).await.unwrap();
    // On SQLite an acknowledged delivery may still be in the spool: the new
    // server moves it on its own schedule, so move it now (as backup does) and
    // count the queue, where every one of the 200 must be, once.
    seatsync::inbox::spool::move_all(&conn).await.unwrap();
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(entity::inbox_event::Entity::find().count(&conn).await.unwrap(), 200);
    let health = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.unwrap().status();
    assert_eq!(health, 200);
    signal(&child, "TERM");
    wait_exit(&mut child, Duration::from_secs(20));
}

async fn a_killed_server_keeps_every_accepted_event(store: Store) {
    burst_then_sigkill(store).await;
}

crate::both_stores!(a_killed_server_keeps_every_accepted_event);

async fn reconciler_killed_mid_way(store: Store) {
    use seatsync::webhook::signature;
    let db = TestDatabase::create(store).await;
    let env = env_for(&db);
    let plan_id = create_plan_with_cli(&env).await;

    let (mut child, port) = start_server(&env);
    let client = seatsync::http_client::client();
    let url = format!("http://127.0.0.1:{port}/webhooks/workos");
    let mut bodies = Vec::new();
    for i in 0..40u32 {
        let (user, email) = (format!("directory_user_{i}"), format!("user{i:02}@example.com"));
        bodies.push(
            crate::helpers::UserEvent {
                id: &format!("event_c{i}"),
                user: &user,
                email: &email,
                at: &crate::helpers::at(i),
                ..Default::default()
            }
            .json(),
        );
        if i.is_multiple_of(4) {
            bodies.push(
                crate::helpers::UserEvent {
                    id: &format!("event_u{i}"),
                    kind: "updated",
                    user: &user,
                    email: &email,
                    state: "inactive",
                    at: &crate::helpers::at(100 + i),
                    ..Default::default()
                }
                .json(),
            );
        }
    }
    for body in &bodies {
        let body = body.to_string();
        let header = signature::header_value(SECRET.as_bytes(), crate::helpers::now_ms(), body.as_bytes());
        let status = client.post(&url).header("WorkOS-Signature", header).body(body).send().await.unwrap().status();
        assert_eq!(status, 200);
    }
    // The reconciler is working through the backlog: kill it wherever it is.
    signal(&child, "KILL");
    wait_exit(&mut child, Duration::from_secs(10)).expect("killed");

    let (mut child, _) = start_server(&env);
    let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&db.url).unwrap()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pending = seatsync::inbox::status::backlog(&conn).await.unwrap().1;
        if pending.is_none() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "events still pending after restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let members = seatsync::operator::members(&conn, &plan_id, &all_members()).await.unwrap().data;
    assert_eq!(members.len(), 40);
    for m in &members {
        let i: u32 = m.email[4..6].parse().unwrap();
        let expected = if i.is_multiple_of(4) { ("free", "manual") } else { ("paid", "directory") };
        assert_eq!((m.tier.as_str(), m.source.as_str()), expected, "{}", m.email);
    }
    let shown = seatsync::operator::show(&conn, &plan_id).await.unwrap();
    assert_eq!((shown.mode.as_str(), shown.active_directory_users), ("enforced", 30));
    assert_nothing_applied_twice(&conn).await;
    signal(&child, "TERM");
    wait_exit(&mut child, Duration::from_secs(20));
}

/// An event applied twice would leave the same seat change twice in the audit.
async fn assert_nothing_applied_twice(conn: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM (SELECT event_id, email, reason, COUNT(*) AS c FROM seat_audit \
             GROUP BY event_id, email, reason) t WHERE c > 1",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "a seat change was recorded twice");
}

async fn create_plan_with_cli(env: &[(String, String)]) -> String {
    // Only `serve` and `migrate` create a database.
    let migrated = seatsync(env).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let output = seatsync(env)
        .args(["plans", "create", "--name", "Acme", "--organization", crate::helpers::ORG])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    plan["id"].as_str().unwrap().to_owned()
}

/// Two `seatsync serve` processes on one database, deliveries split between them
/// at random and each sent twice, give exactly the seats one process gives.
async fn two_processes_on_one_database(store: Store) {
    use seatsync::webhook::signature;
    let db = TestDatabase::create(store).await;
    let env = env_for(&db);
    let plan_id = create_plan_with_cli(&env).await;
    let crate::replicas::Story { events, seeds, expected } = crate::replicas::story();
    let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&db.url).unwrap()).await.unwrap();
    // Fifteen of thirty leave: past the release guard's default, which is tested apart.
    let no_guard = seatsync::operator::PlanChanges { release_limit: Some(Some(0)), ..Default::default() };
    seatsync::operator::update(&conn, &plan_id, no_guard).await.unwrap();
    // Everyone is a manual member first, so late creations have a seat to show.
    for (email, tier) in &seeds {
        seatsync::operator::set_tier(&conn, &plan_id, email, tier, seatsync::domain::Actor::Operator).await.unwrap();
    }
    let (mut first, port_a) = start_server(&env);
    let (mut second, port_b) = start_server(&env);
    let client = seatsync::http_client::client();
    let mut draw = 0x9e37_79b9u32;
    let posts = events.iter().rev().chain(events.iter()).map(|event| {
        draw ^= draw << 13;
        draw ^= draw >> 17;
        draw ^= draw << 5;
        let port = if draw.is_multiple_of(2) { port_a } else { port_b };
        let body = event.to_string();
        let header = signature::header_value(SECRET.as_bytes(), crate::helpers::now_ms(), body.as_bytes());
        let request = client
            .post(format!("http://127.0.0.1:{port}/webhooks/workos"))
            .header("WorkOS-Signature", header)
            .body(body);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seatsync::inbox::status::backlog(&conn).await.unwrap().1.is_some() {
        assert!(std::time::Instant::now() < deadline, "events still pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let members: Vec<(String, String, String)> = seatsync::operator::members(&conn, &plan_id, &all_members())
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|m| (m.email, m.tier, m.source))
        .collect();
    assert_eq!(members, expected);
    let shown = seatsync::operator::show(&conn, &plan_id).await.unwrap();
    assert_eq!((shown.mode.as_str(), shown.active_directory_users), ("enforced", 15));
    assert_nothing_applied_twice(&conn).await;
    let audit = seatsync::operator::audit(&conn, &plan_id, None, Some("1000")).await.unwrap();
    let audit = serde_json::to_value(&audit).unwrap();
    let enforced_at = shown.enforced_at.clone().expect("enforced_at is set");
    crate::replicas::assert_enforced_once(audit["data"].as_array().unwrap(), &enforced_at);
    for child in [&mut first, &mut second] {
        signal(child, "TERM");
        wait_exit(child, Duration::from_secs(20));
    }
}

async fn two_processes_on_one_database_give_the_seats_of_one(store: Store) {
    two_processes_on_one_database(store).await;
}

crate::both_stores!(two_processes_on_one_database_give_the_seats_of_one);

async fn a_reconciler_killed_mid_way_finishes_after_restart(store: Store) {
    reconciler_killed_mid_way(store).await;
}

crate::both_stores!(a_reconciler_killed_mid_way_finishes_after_restart);

#[test]
fn sign_prints_the_header_value_for_the_known_vector() {
    let file = std::env::current_dir().unwrap().join("fixtures/vectors/envelope.dsync.user.created.body.json");
    let output = seatsync(&[])
        .args(["sign", file.to_str().unwrap(), "--secret", "whsec_test_secret", "--timestamp", "1735689600000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "t=1735689600000, v1=78c7338413d4c04996c81e2a3b3302ee033769cdbaafeb44016f79cb7c134270\n"
    );
    let output = seatsync(&[]).args(["sign", file.to_str().unwrap()]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("WORKOS_WEBHOOK_SECRET"));
}

#[test]
fn sign_reads_the_secret_from_a_file_or_the_environment_out_of_sight_of_ps() {
    let file = std::env::current_dir().unwrap().join("fixtures/vectors/envelope.dsync.user.created.body.json");
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "whsec_test_secret\n").unwrap();
    let expected = "t=1735689600000, v1=78c7338413d4c04996c81e2a3b3302ee033769cdbaafeb44016f79cb7c134270\n";
    let from_file = seatsync(&[])
        .args(["sign", file.to_str().unwrap(), "--timestamp", "1735689600000", "--secret-file"])
        .arg(&secret_file)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&from_file.stdout), expected);
    let from_env = seatsync(&[("WORKOS_WEBHOOK_SECRET".into(), "whsec_test_secret".into())])
        .args(["sign", file.to_str().unwrap(), "--timestamp", "1735689600000"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&from_env.stdout), expected);
    let help = seatsync(&[]).args(["replay", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--secret-file"));
}

/// A kill -9 while the release guard holds events loses nothing: after a restart
/// they are still held, the plan still shows its hold, and approval applies them.
async fn held_events_survive_a_kill(store: Store) {
    use seatsync::webhook::signature;
    let db = TestDatabase::create(store).await;
    let env = env_for(&db);
    let plan_id = create_plan_with_cli(&env).await;
    let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&db.url).unwrap()).await.unwrap();
    let one = seatsync::operator::PlanChanges { release_limit: Some(Some(1)), ..Default::default() };
    seatsync::operator::update(&conn, &plan_id, one).await.unwrap();
    let (mut child, port) = start_server(&env);
    let client = seatsync::http_client::client();
    let base = format!("http://127.0.0.1:{port}");
    let deliver = |port: u16, body: serde_json::Value| {
        let client = client.clone();
        async move {
            let body = body.to_string();
            let header = signature::header_value(SECRET.as_bytes(), crate::helpers::now_ms(), body.as_bytes());
            let url = format!("http://127.0.0.1:{port}/webhooks/workos");
            client.post(url).header("WorkOS-Signature", header).body(body).send().await.unwrap().status()
        }
    };
    let user = |i: u32, kind: &str, state: &str, t: u32| {
        crate::helpers::UserEvent {
            id: &format!("event_{kind}{i}"),
            kind,
            user: &format!("directory_user_{i}"),
            email: &format!("user{i:02}@example.com"),
            state,
            at: &crate::helpers::at(t),
            ..Default::default()
        }
        .json()
    };
    for i in 0..12 {
        assert_eq!(deliver(port, user(i, "created", "active", i)).await, 200);
    }
    for i in 0..3 {
        assert_eq!(deliver(port, user(i, "updated", "inactive", 100 + i)).await, 200);
    }
    let status = |base: String, id: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("{base}/admin/events/{id}"))
                .bearer_auth(crate::helpers::ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            response.json::<serde_json::Value>().await.unwrap()["status"].as_str().unwrap_or("").to_owned()
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while status(base.clone(), "event_updated2").await != "held" {
        assert!(std::time::Instant::now() < deadline, "the third deactivation was never held");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(&child, "KILL");
    wait_exit(&mut child, Duration::from_secs(10)).expect("killed");

    let (mut child, port) = start_server(&env);
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(status(base.clone(), "event_updated0").await, "applied");
    assert_eq!(status(base.clone(), "event_updated1").await, "held");
    assert_eq!(status(base.clone(), "event_updated2").await, "held");
    let plan = seatsync::operator::show(&conn, &plan_id).await.unwrap();
    let hold = plan.hold.expect("the hold survives the restart");
    assert_eq!((hold.held_events, hold.would_release.len()), (2, 2));
    assert_eq!(hold.through.as_deref(), Some("event_updated2"));
    // `plans approve` shows the preview and approves through the event it showed,
    // while the server runs.
    let cli_env = env.clone();
    let plan = plan_id.clone();
    let approved =
        tokio::task::spawn_blocking(move || seatsync(&cli_env).args(["plans", "approve", &plan]).output().unwrap())
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&approved.stdout);
    assert!(approved.status.success(), "{stdout}{}", String::from_utf8_lossy(&approved.stderr));
    assert!(stdout.contains("2 held event(s), through event_updated2"), "{stdout}");
    assert!(stdout.contains("releases 2 paid seat(s):\n  user01@example.com\n  user02@example.com\n"), "{stdout}");
    // The answer is the plan after the approved events are applied.
    let answer: serde_json::Value = serde_json::from_str(&stdout[stdout.find('{').unwrap()..]).unwrap();
    assert_eq!((answer["paid_seats"].as_u64(), answer["hold"].clone()), (Some(9), serde_json::Value::Null));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while status(base.clone(), "event_updated2").await != "applied" {
        assert!(std::time::Instant::now() < deadline, "approved events were not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seatsync::operator::show(&conn, &plan_id).await.unwrap().paid_seats, 9);
    assert_nothing_applied_twice(&conn).await;
    signal(&child, "TERM");
    wait_exit(&mut child, Duration::from_secs(20));
}

crate::both_stores!(held_events_survive_a_kill);

#[test]
fn serve_warns_about_each_secret_still_set_to_its_development_value() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let mut env = env_for(&db);
    for (name, value) in seatsync::config::SHIPPED_SECRETS {
        env = with(env, name, Some(value));
    }
    let mut child = seatsync(&with(env, "LOG_FORMAT", Some("json")))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut warned = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap_or_default();
        if value["message"] == "seatsync listening" {
            break;
        }
        if value["level"] == "WARN" {
            warned.push(value["variable"].as_str().unwrap_or("").to_owned());
        }
    }
    signal(&child, "KILL");
    let _ = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(warned, vec!["WORKOS_WEBHOOK_SECRET", "ADMIN_TOKEN"]);
}

fn all_members() -> seatsync::operator::MembersQuery {
    seatsync::operator::MembersQuery { limit: Some("1000".into()), ..Default::default() }
}

/// Two `serve` processes on one database: one that pulls the Events API and,
/// by the `slow-store` fault, commits what it pulled three seconds late; one
/// that receives webhooks (its port returned).
fn slow_poller_and_receiver(
    env: &[(String, String)],
    fake: &crate::fake_workos::FakeWorkos,
) -> (std::process::Child, std::process::Child, u16) {
    let mut poller_env = with(env.to_vec(), "WORKOS_API_BASE", Some(&fake.base));
    poller_env = with(poller_env, "WORKOS_API_KEY", Some(crate::fake_workos::API_KEY));
    poller_env = with(poller_env, "WORKOS_EVENTS_POLL_SECS", Some("1"));
    poller_env = with(poller_env, "SEATSYNC_TEST_FAULT", Some("slow-store"));
    let (poller, _) = start_server(&poller_env);
    let (receiver, port) = start_server(env);
    (poller, receiver, port)
}

/// A delivery to the webhook on `port`, signed as WorkOS signs.
fn signed_delivery(client: &reqwest::Client, port: u16, body: serde_json::Value) -> reqwest::RequestBuilder {
    let body = body.to_string();
    let header =
        seatsync::webhook::signature::header_value(SECRET.as_bytes(), crate::helpers::now_ms(), body.as_bytes());
    client.post(format!("http://127.0.0.1:{port}/webhooks/workos")).header("WorkOS-Signature", header).body(body)
}

/// Two storers in two processes: one pulls the Events API (and, by a test
/// fault, commits what it pulled three seconds late), the other receives
/// webhooks. "User 0 deleted" is pulled first; "user 10 created" arrives by
/// webhook a moment later and commits at once. Applied in commit order the
/// plan (ten active, two members paid by hand) would pass its threshold and
/// enforce for good; applied in stored order it stays in test mode.
async fn the_poller_and_the_webhook_storing_at_once_apply_in_stored_order(store: Store) {
    use crate::helpers::{UserEvent, at};
    use sea_orm::ConnectionTrait;
    let db = TestDatabase::create(store).await;
    let fake = crate::fake_workos::FakeWorkos::start();
    let env = env_for(&db);
    let plan_id = create_plan_with_cli(&env).await;
    let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&db.url).unwrap()).await.unwrap();
    for hand in ["hand1@example.com", "hand2@example.com"] {
        seatsync::operator::set_tier(&conn, &plan_id, hand, "paid", seatsync::domain::Actor::Operator).await.unwrap();
    }
    let email =
        |i: u32| if i == 0 { seatsync::faults::SLOW_STORE_EMAIL.to_owned() } else { format!("user{i:02}@example.com") };
    let user = |id: &str, kind: &str, i: u32, t: u32| {
        let (user, email) = (format!("directory_user_{i:02}"), email(i));
        UserEvent { id, kind, user: &user, email: &email, at: &at(t), ..Default::default() }.json()
    };
    let (mut poller, mut receiver, port) = slow_poller_and_receiver(&env, &fake);
    let client = seatsync::http_client::client();
    let deliver = |body: serde_json::Value| signed_delivery(&client, port, body);
    for i in 0..10 {
        let status = deliver(user(&format!("event_c{i}"), "created", i, i)).send().await.unwrap().status();
        assert_eq!(status, 200);
    }
    let settled = |conn: sea_orm::DatabaseConnection| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while seatsync::inbox::status::backlog(&conn).await.unwrap().1.is_some() {
            assert!(std::time::Instant::now() < deadline, "events still pending");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    settled(conn.clone()).await;

    // The leaver appears in the Events API; wait until the poller has read it.
    let asked_before = fake.requests().len();
    fake.state.lock().unwrap().events = vec![user("event_leaver", "deleted", 0, 1000)];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fake.requests().len() <= asked_before {
        assert!(std::time::Instant::now() < deadline, "the poller never asked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The joiner, by webhook, while the leaver is stored but not committed.
    let joiner = tokio::spawn(deliver(user("event_c10", "created", 10, 1001)).send());
    if store == Store::Postgres {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(joiner.is_finished(), "the webhook is not held up by the poller");
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT status FROM inbox_events WHERE event_id = 'event_c10'".to_owned(),
            ))
            .await
            .unwrap()
            .expect("the joiner is stored");
        assert_eq!(row.try_get::<String>("", "status").unwrap(), "pending", "applied before the leaver committed");
    }
    assert_eq!(joiner.await.unwrap().unwrap().status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM inbox_events WHERE event_id = 'event_leaver'".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the poller never stored the leaver");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    settled(conn.clone()).await;
    let shown = seatsync::operator::show(&conn, &plan_id).await.unwrap();
    assert_eq!((shown.mode.as_str(), shown.active_directory_users), ("test", 10));
    let members = seatsync::operator::members(&conn, &plan_id, &all_members()).await.unwrap().data;
    for hand in ["hand1@example.com", "hand2@example.com"] {
        assert!(members.iter().any(|m| m.email == hand && m.tier == "paid" && m.source == "manual"), "{hand}");
    }
    for child in [&mut poller, &mut receiver] {
        signal(child, "TERM");
        wait_exit(child, Duration::from_secs(20));
    }
}

crate::both_stores!(the_poller_and_the_webhook_storing_at_once_apply_in_stored_order);

/// A legacy event (no organization in its payload, so keyed by its directory)
/// is still being stored by the poller when another process learns the
/// directory (`dsync.activated`) and applies the organization's later events
/// (issue 35, item 7). Users 0 to 9 were created by legacy webhooks and wait
/// parked; the poller pulls "user 0 deleted" (and commits it three seconds
/// late); "user 10 created" arrives by webhook after it. In stored order the
/// plan has 10 active users and stays in test mode (its two hand-paid members
/// keep their seats); had user 10 gone first, it would pass its threshold and
/// enforce for good.
async fn a_legacy_event_still_being_stored_when_its_directory_becomes_known_keeps_its_place(store: Store) {
    use crate::helpers::{DIRECTORY, ORG, UserEvent, at, directory_event};
    use sea_orm::ConnectionTrait;
    let db = TestDatabase::create(store).await;
    let fake = crate::fake_workos::FakeWorkos::start();
    let env = env_for(&db);
    let plan_id = create_plan_with_cli(&env).await;
    let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&db.url).unwrap()).await.unwrap();
    for hand in ["hand1@example.com", "hand2@example.com"] {
        seatsync::operator::set_tier(&conn, &plan_id, hand, "paid", seatsync::domain::Actor::Operator).await.unwrap();
    }
    let email =
        |i: u32| if i == 0 { seatsync::faults::SLOW_STORE_EMAIL.to_owned() } else { format!("user{i:02}@example.com") };
    let user = |id: &str, kind: &str, i: u32, t: u32, legacy: bool| {
        let (user, email) = (format!("directory_user_{i:02}"), email(i));
        let mut body = UserEvent { id, kind, user: &user, email: &email, at: &at(t), ..Default::default() }.json();
        if legacy {
            body["data"].as_object_mut().unwrap().remove("organization_id");
        }
        body
    };
    let (mut poller, mut receiver, port) = slow_poller_and_receiver(&env, &fake);
    let client = seatsync::http_client::client();
    let deliver = |body: serde_json::Value| signed_delivery(&client, port, body);
    let count = |sql: String| {
        let conn = conn.clone();
        async move {
            let row = conn
                .query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    for i in 0..10 {
        let status = deliver(user(&format!("event_c{i}"), "created", i, i, true)).send().await.unwrap().status();
        assert_eq!(status, 200);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count("SELECT COUNT(*) AS n FROM inbox_events WHERE status = 'parked'".into()).await < 10 {
        assert!(std::time::Instant::now() < deadline, "the legacy creations never parked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The leaver appears in the Events API; wait until the poller has read it.
    let asked_before = fake.requests().len();
    fake.state.lock().unwrap().events = vec![user("event_leaver", "deleted", 0, 1000, true)];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fake.requests().len() <= asked_before {
        assert!(std::time::Instant::now() < deadline, "the poller never asked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The directory becomes known, and the joiner arrives, while the leaver
    // is stored but not committed.
    let activated = directory_event("event_dir", "dsync.activated", ORG, DIRECTORY);
    let (activated, joiner) = tokio::join!(deliver(activated).send(), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        deliver(user("event_c10", "created", 10, 1001, false)).send().await
    });
    assert_eq!(activated.unwrap().status(), 200);
    assert_eq!(joiner.unwrap().status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let settled = "SELECT COUNT(*) AS n FROM inbox_events WHERE status IN ('pending', 'parked')";
    while count("SELECT COUNT(*) AS n FROM inbox_events WHERE event_id = 'event_leaver'".into()).await == 0
        || count(settled.into()).await > 0
    {
        assert!(std::time::Instant::now() < deadline, "events still waiting");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = seatsync::operator::show(&conn, &plan_id).await.unwrap();
    assert_eq!((shown.mode.as_str(), shown.active_directory_users), ("test", 10));
    let members = seatsync::operator::members(&conn, &plan_id, &all_members()).await.unwrap().data;
    for hand in ["hand1@example.com", "hand2@example.com"] {
        assert!(members.iter().any(|m| m.email == hand && m.tier == "paid" && m.source == "manual"), "{hand}");
    }
    for child in [&mut poller, &mut receiver] {
        signal(child, "TERM");
        wait_exit(child, Duration::from_secs(20));
    }
}

crate::both_stores!(a_legacy_event_still_being_stored_when_its_directory_becomes_known_keeps_its_place);

/// `seatsync healthcheck`: 0 while the service is ready; 1 when nothing
/// answers, or nothing answers within two seconds.
fn healthcheck_exits_zero_only_when_the_service_is_ready(store: Store) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(store));
    let env = env_for(&db);
    let (mut child, port) = start_server(&env);
    let check = |url: &str| seatsync(&env).args(["healthcheck", "--url", url]).output().unwrap();

    let ready = check(&format!("http://127.0.0.1:{port}"));
    assert_eq!(ready.status.code(), Some(0), "{}", String::from_utf8_lossy(&ready.stderr));
    assert_eq!(String::from_utf8_lossy(&ready.stdout), "ready\n");

    // Nothing listens on port 1.
    let gone = check("http://127.0.0.1:1");
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("could not be reached"));

    // A listener that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let started = std::time::Instant::now();
    let slow = check(&format!("http://{}", silent.local_addr().unwrap()));
    assert_eq!(slow.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&slow.stderr).contains("within 2 s"), "{}", String::from_utf8_lossy(&slow.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));

    signal(&child, "TERM");
    wait_exit(&mut child, Duration::from_secs(20));
}

crate::both_stores_blocking!(healthcheck_exits_zero_only_when_the_service_is_ready);

#[test]
fn check_config_prints_the_configuration_masked_and_lists_every_problem() {
    let db_dir = tempfile::tempdir().unwrap();
    let good = vec![
        ("DATABASE_URL".to_owned(), format!("sqlite://{}?mode=rwc", db_dir.path().join("x.db").display())),
        ("WORKOS_WEBHOOK_SECRET".to_owned(), "whsec_keepthisquiet".to_owned()),
        ("ADMIN_TOKEN".to_owned(), "admin-keepthisquiet".to_owned()),
        ("STRIPE_API_KEY".to_owned(), "sk_test_keepthisquiet".to_owned()),
    ];
    let output = seatsync(&good).arg("check-config").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("WORKOS_WEBHOOK_SECRET=whsec_****"), "{stdout}");
    assert!(stdout.contains("STRIPE_API_KEY=sk_****"), "{stdout}");
    assert!(stdout.contains("ADMIN_TOKEN=****"), "{stdout}");
    assert!(!stdout.contains("keepthisquiet"), "a secret was printed: {stdout}");

    let bad = with(with(good.clone(), "LOG_FORMAT", Some("xml")), "BILLING_WEBHOOK_SECRET", Some("keepthisquiet"));
    let output = seatsync(&with(bad, "LISTEN_ADDR", Some("nowhere"))).arg("check-config").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(78), "{stdout}");
    for variable in ["LOG_FORMAT", "BILLING_WEBHOOK_SECRET", "LISTEN_ADDR"] {
        assert!(stdout.contains(&format!("problem: {variable}:")), "{variable} not listed: {stdout}");
    }
    assert!(!stdout.contains("keepthisquiet"), "a secret was printed: {stdout}");
}

/// Children killed and reaped when dropped, so a failing test leaves no
/// server running.
struct KillOnDrop(Vec<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What `serve` prints when it refuses to start, which it must within 30 s.
fn serve_refusal(env: &[(String, String)]) -> String {
    let child = seatsync(env).arg("serve").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut serve = KillOnDrop(vec![child]);
    let status = wait_exit(&mut serve.0[0], Duration::from_secs(30)).expect("serve refuses to start");
    assert!(!status.success(), "serve exited 0");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.0[0].stderr.take().unwrap(), &mut stderr).unwrap();
    stderr
}

/// The refusals `serve` makes at start from the configuration alone, after it
/// reads the settings, are check-config's problems too.
#[test]
fn check_config_reports_what_serve_refuses_at_start() {
    let db_dir = tempfile::tempdir().unwrap();
    let base = vec![
        ("DATABASE_URL".to_owned(), format!("sqlite://{}?mode=rwc", db_dir.path().join("x.db").display())),
        ("WORKOS_WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
    ];
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let same = format!("127.0.0.1:{port}");
    let polling = with(base.clone(), "WORKOS_EVENTS_POLL_SECS", Some("60"));
    let clashing = with(with(base, "LISTEN_ADDR", Some(&same)), "METRICS_ADDR", Some(&same));
    // serve names the listener it could not bind; check-config the setting to change.
    for (env, serve_names, problem) in [
        (
            polling,
            "WORKOS_API_KEY",
            "problem: WORKOS_API_KEY: must be set when WORKOS_EVENTS_POLL_SECS is\n".to_owned(),
        ),
        (
            clashing,
            "LISTEN_ADDR",
            format!(
                "problem: METRICS_ADDR: shares its port with LISTEN_ADDR ({same}): serve could not listen on both\n"
            ),
        ),
    ] {
        let refusal = serve_refusal(&env);
        assert!(refusal.contains(serve_names), "{refusal}");
        let output = seatsync(&env).arg("check-config").output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(78), "{stdout}");
        assert!(
            stdout.ends_with(&format!("{problem}1 problem(s): serve would refuse this configuration\n")),
            "{stdout}"
        );
    }
}

/// A `.env` line that cannot be parsed is named by its number; its value,
/// which may be a secret, is never shown.
#[test]
fn check_config_names_a_broken_env_line_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "LOG_FORMAT=json\nWORKOS_WEBHOOK_SECRET=whsec_keepthisquiet 'oops\n")
        .unwrap();
    let output = seatsync(&[]).current_dir(dir.path()).arg("check-config").output().unwrap();
    assert_eq!(output.status.code(), Some(78));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "problem: .env: line 2 could not be parsed\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// `seatsync healthcheck`: 1 when `/readyz` answers 503 (the database is
/// down), and it says so.
#[test]
fn healthcheck_exits_one_when_readyz_answers_503() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Answers one request with 503 and returns its request line.
    let unready = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&request).lines().next().unwrap_or_default().to_owned()
    });
    let output = seatsync(&[]).args(["healthcheck", "--url", &url]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(unready.join().unwrap(), "GET /readyz HTTP/1.1");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("not ready: {url}/readyz answered 503 Service Unavailable\n")
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}

/// The app tile's form post is read and dropped: at `RUST_LOG=trace`, with
/// every dependency's own logging on, no line carries the assertion.
#[test]
fn the_saml_assertion_appears_in_no_log_line_at_trace() {
    use crate::{
        app_tile::LOGIN,
        saml::{ASSERTION_MARKER, saml_form},
    };
    use base64::Engine;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let env = with(with(env_for(&db), "LOGIN_REDIRECT_URL", Some(LOGIN)), "RUST_LOG", Some("trace"));
    let mut child = seatsync(&with(env, "LOG_FORMAT", Some("json")))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let collect = |stream: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    };
    let out = collect(Box::new(child.stdout.take().unwrap()));
    let err = collect(Box::new(child.stderr.take().unwrap()));
    let mut logged = Vec::new();
    let port: u16 = loop {
        let line = out.recv_timeout(Duration::from_secs(30)).expect("the server starts");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        logged.push(line);
        if value["message"] == "seatsync listening" {
            break value["listen"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    let form = saml_form("https://evil.example/");
    let client = seatsync::http_client::client();
    rt.block_on(async {
        let url = format!("http://127.0.0.1:{port}/sso/login_redirect");
        let response = client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let response = client.get(format!("{url}?SAMLRequest={ASSERTION_MARKER}")).send().await.unwrap();
        assert_eq!(response.status(), 303);
    });
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "TERM");
    let _ = wait_exit(&mut child, Duration::from_secs(20));
    logged.extend(out.try_iter());
    logged.extend(err.try_iter());
    assert!(logged.len() > 10, "trace logging is on: {logged:?}");
    assert!(logged.iter().any(|l| l.contains("/sso/login_redirect")), "the request is logged by its route");
    // The assertion's text, its base64 and the form's encoding of it.
    let base64 = base64::engine::general_purpose::STANDARD.encode(ASSERTION_MARKER.as_bytes());
    let encoded = form.split('&').next().unwrap()[13..60].to_owned();
    for needle in [ASSERTION_MARKER, &base64[..16], &encoded, "SAMLResponse", "evil.example"] {
        let found: Vec<&String> = logged.iter().filter(|l| l.contains(needle)).collect();
        assert!(found.is_empty(), "{needle} was logged: {found:?}");
    }
}

/// `serve` raises its open-files soft limit to the hard one: the usual 1,024
/// is below what the connection cap allows.
#[test]
fn serve_raises_its_open_files_limit() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let env = with(env_for(&db), "LOG_FORMAT", Some("json"));
    // Through a shell that lowers the soft limit first.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -Sn 1024 && exec \"$SEATSYNC_BIN\" serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEATSYNC_BIN", env!("CARGO_BIN_EXE_seatsync"))
        .current_dir(std::env::temp_dir());
    for (k, v) in &env {
        command.env(k, v);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = loop {
        let line = lines.next().expect("the server starts").unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if value["message"] == "seatsync listening" {
            break value;
        }
    };
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    signal(&child, "KILL");
    let _ = child.wait();
    let row = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_owned();
    let figures: Vec<&str> = row.split_whitespace().skip(3).take(2).collect();
    assert_eq!(figures[0], figures[1], "the soft limit is raised to the hard one: {row}");
    assert_ne!(figures[0], "1024", "{row}");
    let cap = listening["max_connections"].as_u64().unwrap();
    assert!(cap < figures[0].parse::<u64>().unwrap_or(u64::MAX), "{cap} connections vs {row}");
}

/// Read-only commands never migrate: a database that a different version of
/// `serve` runs on is not changed under it. `check-config --connect` says
/// whether the database answers and is current.
fn read_only_commands_change_nothing(store: Store) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(store));
    let env = env_for(&db);
    let tables = || {
        rt.block_on(async {
            let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&db.url).unwrap()).await.unwrap();
            let sql = match store {
                Store::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'",
                Store::Postgres => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
            };
            let row = sea_orm::ConnectionTrait::query_one_raw(
                &conn,
                sea_orm::Statement::from_string(conn.get_database_backend(), sql),
            )
            .await
            .unwrap()
            .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        })
    };
    for args in [&["plans", "list"][..], &["outbound", "list"], &["plans", "show", "plan_x"]] {
        let output = seatsync(&env).args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} on an empty database");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("seatsync migrate"), "{args:?}: {stderr}");
        assert_eq!(tables(), 0, "{args:?} created tables");
    }
    let check = seatsync(&env).args(["check-config", "--connect"]).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "{}", String::from_utf8_lossy(&check.stdout));
    let said = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(said.contains("problem: DATABASE_URL: the database has no seatsync tables"), "{said}");
    assert!(!said.contains("ok: serve would start") && !said.contains("Error:"), "{said}");
    assert_eq!(tables(), 0);

    assert!(seatsync(&env).arg("migrate").output().unwrap().status.success());
    let listed = seatsync(&env).args(["plans", "list"]).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let check = seatsync(&env).args(["check-config", "--connect"]).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    assert!(String::from_utf8_lossy(&check.stdout).contains("migrations are current"));
}

crate::both_stores_blocking!(read_only_commands_change_nothing);

/// A proxy from the environment is used for other hosts, never for this
/// machine: a loopback target is plain http, and its key would cross the
/// proxy in clear.
#[test]
fn outbound_calls_to_this_machine_never_go_through_a_proxy() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = || {
        let mut n = 0;
        while proxy.accept().is_ok() {
            n += 1;
        }
        n
    };
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let env = env_for(&db);
    let (mut server, port) = start_server(&env);
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/events");
    let replay = |url: &str| {
        seatsync(&env)
            .env("HTTP_PROXY", &proxy_url)
            .env("HTTPS_PROXY", &proxy_url)
            .env("ALL_PROXY", &proxy_url)
            .args(["replay", "--url", url, fixture])
            .output()
            .unwrap()
    };
    let direct = replay(&format!("http://127.0.0.1:{port}"));
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));
    assert_eq!(connections(), 0, "a loopback call went through the proxy");
    // Another host does go through it (TEST-NET-1: nothing answers there).
    let mut elsewhere = seatsync(&env)
        .env("HTTP_PROXY", &proxy_url)
        .args(["replay", "--url", "http://192.0.2.1:9", fixture])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = 0;
    for _ in 0..100 {
        seen += connections();
        if seen > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = elsewhere.kill();
    let _ = elsewhere.wait();
    assert!(seen > 0, "the environment's proxy was not used for another host");
    signal(&server, "KILL");
    let _ = server.wait();
}

/// `sslmode=require` means a verified server: one without TLS is refused
/// (never used in clear), and so is one whose certificate nobody signed.
#[test]
fn postgres_tls_is_verified_or_refused_with_a_clear_line() {
    // A "server" that answers the TLS request with N (no TLS), as a
    // misconfigured or hostile one would, then waits.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in plain.incoming().flatten() {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut stream = stream;
                let mut request = [0u8; 8];
                if stream.read_exact(&mut request).is_ok() {
                    let _ = stream.write_all(b"N");
                    std::thread::sleep(Duration::from_secs(5));
                }
            });
        }
    });
    let cases = [format!("postgres://postgres@127.0.0.1:{port}/seatsync?sslmode=require")]
        .into_iter()
        .chain(postgres_enabled().then(|| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=require".to_owned()));
    for url in cases {
        let env = vec![
            ("DATABASE_URL".to_owned(), url.clone()),
            ("WORKOS_WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
            ("LISTEN_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        let output = seatsync(&env).arg("serve").output().unwrap();
        assert!(!output.status.success(), "{url} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
        assert!(stderr.contains("could not connect to the database"), "{url}: {stderr}");
        assert!(stderr.contains("tls") || stderr.contains("certificate"), "{url}: the cause is not said: {stderr}");
    }
}

/// Several replicas started at once on a fresh PostgreSQL database: one
/// migrates (an advisory lock), the others wait for it, and all three serve.
#[test]
#[cfg_attr(test_postgres_off, ignore = "TEST_POSTGRES_URL is not set")]
fn three_replicas_started_together_on_a_fresh_database_all_come_up() {
    if !postgres_enabled() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Postgres));
    let env = with(env_for(&db), "LOG_FORMAT", Some("json"));
    let mut replicas = KillOnDrop(
        (0..3)
            .map(|_| seatsync(&env).arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
            .collect(),
    );
    let listening: Vec<_> =
        replicas.0.iter_mut().map(|child| port_once_listening(child.stdout.take().unwrap())).collect();
    // Each must be ready within 60 s: a replica stuck behind the migration
    // lock fails the test instead of hanging it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let left = || deadline.saturating_duration_since(std::time::Instant::now());
    let mut ports = Vec::new();
    for (i, port) in listening.iter().enumerate() {
        match port.recv_timeout(left()) {
            Ok(port) => ports.push(port),
            Err(why) => {
                let child = &mut replicas.0[i];
                let _ = child.kill();
                let mut stderr = String::new();
                let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
                panic!("replica {i} was not listening within 60 s ({why}): {stderr}");
            }
        }
    }
    let client = seatsync::http_client::client();
    rt.block_on(async {
        for port in &ports {
            let ready = client.get(format!("http://127.0.0.1:{port}/readyz")).timeout(left()).send().await.unwrap();
            assert_eq!(ready.status(), 200, "replica on {port}");
        }
        let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&db.url).unwrap()).await.unwrap();
        assert!(seatsync::db::pending_migrations(&conn).await.unwrap().is_empty());
        let row = sea_orm::ConnectionTrait::query_one_raw(
            &conn,
            sea_orm::Statement::from_string(conn.get_database_backend(), "SELECT COUNT(*) AS n FROM seaql_migrations"),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            row.try_get::<i64>("", "n").unwrap() as usize,
            <migration::Migrator as migration::MigratorTrait>::migrations().len()
        );
    });
    drop(replicas);
}

/// The port `serve` logs once it listens, sent when it does; the rest of its
/// log is drained so it never blocks on a full pipe.
fn port_once_listening(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<u16> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let port = value["listen"].as_str().and_then(|l| l.rsplit(':').next()?.parse().ok());
            if let (true, Some(port)) = (value["message"] == "seatsync listening", port) {
                let _ = tx.send(port);
            }
        }
    });
    rx
}

/// A backup taken while the service takes deliveries holds every delivery
/// acknowledged before it began, and a second server starts from the copy.
#[test]
fn a_backup_under_load_restores_every_acknowledged_event() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let env = env_for(&db);
    let (mut server, port) = start_server(&env);
    let url = format!("http://127.0.0.1:{port}/webhooks/workos");
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (acknowledged, stop, url) = (acknowledged.clone(), stop.clone(), url.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let client = seatsync::http_client::client();
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sends = (0..8).map(|_| {
                        n += 1;
                        let id = format!("event_load_{n:06}");
                        let body =
                            serde_json::json!({"id": id, "event": "connection.activated", "data": {}}).to_string();
                        let header = seatsync::webhook::signature::header_value(
                            SECRET.as_bytes(),
                            chrono::Utc::now().timestamp_millis(),
                            body.as_bytes(),
                        );
                        let request = client.post(&url).header("WorkOS-Signature", header).body(body).send();
                        async move { (id, request.await.is_ok_and(|r| r.status() == 200)) }
                    });
                    for (id, ok) in futures_util::future::join_all(sends).await {
                        if ok {
                            acknowledged.lock().unwrap().push(id);
                        }
                    }
                }
            });
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let backup = seatsync(&env).args(["backup", "--to", copy.to_str().unwrap()]).output().unwrap();
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    signal(&server, "KILL");
    let _ = server.wait();
    assert!(before.len() > 50, "the service was under load: {} acknowledged before the backup", before.len());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);

    // A second server on the copy.
    let copy_url = format!("sqlite://{}?mode=rwc", copy.display());
    let restored_env = with(env.clone(), "DATABASE_URL", Some(&copy_url));
    let (mut restored, port) = start_server(&restored_env);
    let ready = rt.block_on(async {
        seatsync::http_client::client().get(format!("http://127.0.0.1:{port}/readyz")).send().await.unwrap().status()
    });
    assert_eq!(ready, 200);
    signal(&restored, "KILL");
    let _ = restored.wait();
    let stored: std::collections::HashSet<String> = rt.block_on(async {
        let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&copy_url).unwrap()).await.unwrap();
        sea_orm::ConnectionTrait::query_all_raw(
            &conn,
            sea_orm::Statement::from_string(conn.get_database_backend(), "SELECT event_id FROM inbox_events"),
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "event_id").unwrap())
        .collect()
    });
    let missing: Vec<&String> = before.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged before the backup are not in it: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

/// Only `serve` and `migrate` create a database: a command run from another
/// folder (a relative `DATABASE_URL`) says which file it looked for and
/// creates nothing, instead of answering "no such plan" from an empty one
/// (issue 36, item 9).
#[test]
fn a_command_run_where_there_is_no_database_says_which_file_it_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("DATABASE_URL".to_owned(), "sqlite://seatsync.db?mode=rwc".to_owned()),
        ("WORKOS_WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
    ];
    for args in [&["plans", "set-tier", "plan_x", "ada@example.com", "paid"][..], &["plans", "list"], &["prune"]] {
        let output = seatsync(&env).current_dir(dir.path()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        let expected = format!("no database at {}", dir.path().join("seatsync.db").display());
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        assert!(!dir.path().join("seatsync.db").exists(), "{args:?} created a database");
    }
    let migrated = seatsync(&env).current_dir(dir.path()).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let listed = seatsync(&env).current_dir(dir.path()).args(["plans", "list"]).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
}

/// `seatsync plans update` takes every field `PATCH` does, `null` clearing
/// one (issue 36, item 8): the CLI is the API's equal.
fn plans_update_sets_and_clears_every_field_patch_takes(store: Store) {
    use serde_json::{Value, json};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(store));
    let env = env_for(&db);
    assert!(seatsync(&env).arg("migrate").output().unwrap().status.success());
    let plan = rt.block_on(create_plan_with_cli(&env));
    let update = |args: &[&str]| {
        let output = seatsync(&env).args(["plans", "update", &plan]).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let set = update(&[
        "--name",
        "Acme Renamed",
        "--external-id",
        "cus_42",
        "--test-mode-max-users",
        "25",
        "--release-limit",
        "3",
        "--stripe-subscription-item",
        "si_cli1",
    ]);
    assert_eq!(
        (
            &set["name"],
            &set["external_id"],
            &set["test_mode_max_users"],
            &set["release_limit"],
            &set["stripe_subscription_item"]
        ),
        (&json!("Acme Renamed"), &json!("cus_42"), &json!(25), &json!(3), &json!("si_cli1"))
    );
    let cleared = update(&["--external-id", "null", "--release-limit", "null", "--stripe-subscription-item", "null"]);
    assert_eq!(
        (&cleared["external_id"], &cleared["release_limit"], &cleared["stripe_subscription_item"], &cleared["name"]),
        (&Value::Null, &Value::Null, &Value::Null, &json!("Acme Renamed"))
    );
    let refused = seatsync(&env).args(["plans", "update", &plan, "--release-limit", "lots"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--release-limit must be a whole number or null"));
}

crate::both_stores_blocking!(plans_update_sets_and_clears_every_field_patch_takes);

/// `backup --to file:NAME` writes exactly that path (SQLite never reads it as
/// a URI), owner-only, and reports the copy's real size (issue 37, item 7).
#[test]
fn a_backup_goes_to_exactly_the_path_given() {
    use std::os::unix::fs::PermissionsExt;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let env = env_for(&db);
    rt.block_on(create_plan_with_cli(&env));
    let dir = tempfile::tempdir().unwrap();
    let output = seatsync(&env).current_dir(dir.path()).args(["backup", "--to", "file:copy.db"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let copy = dir.path().join("file:copy.db");
    let meta = std::fs::metadata(&copy).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(meta.len() > 4096, "a real copy: {} bytes", meta.len());
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(said.contains(&format!("({} bytes)", meta.len())), "{said}");
    let others: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(others.len(), 1, "nothing else left behind: {others:?}");
}

/// A backup through a read-only URL cannot move SQLite's intake spool into
/// the copy, which would then miss acknowledged deliveries: it is refused, and
/// nothing is written (issue 40).
#[test]
fn a_backup_through_a_read_only_url_is_refused_while_the_spool_exists() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let mut env = env_for(&db);
    rt.block_on(create_plan_with_cli(&env));
    for (name, value) in env.iter_mut() {
        if name == "DATABASE_URL" {
            *value = value.replace("mode=rwc", "mode=ro");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let output = seatsync(&env).args(["backup", "--to", copy.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("the intake spool beside the database cannot be moved into the copy"), "{said}");
    assert!(!copy.exists(), "no partial copy");
}

/// A `.env` someone else could have written is never read (issue 37, item
/// 11): group- or world-writable, it stops the command with a line saying
/// why; owner-only, it is read and check-config says which file;
/// `--no-env-file` (the shipped deployment files) reads none.
#[test]
fn a_env_file_is_read_only_when_only_its_owner_could_have_written_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, "WORKOS_WEBHOOK_SECRET=whsec_from_the_env_file\nLOG_FORMAT=json\n").unwrap();
    let check = |args: &[&str]| seatsync(&[]).current_dir(dir.path()).args(args).arg("check-config").output().unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let loose = check(&[]);
    assert_eq!(loose.status.code(), Some(78));
    let said = String::from_utf8_lossy(&loose.stdout);
    assert!(said.contains("problem: .env: is writable by anyone: not read"), "{said}");

    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let read = check(&[]);
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stdout));
    let said = String::from_utf8_lossy(&read.stdout);
    assert!(said.starts_with(&format!("read {}\n", env_file.display())), "{said}");
    assert!(said.contains("LOG_FORMAT=json"), "{said}");

    let none = check(&["--no-env-file"]);
    let said = String::from_utf8_lossy(&none.stdout);
    assert!(said.starts_with("read no .env file"), "{said}");
    assert!(said.contains("problem: WORKOS_WEBHOOK_SECRET"), "without the file there is no secret: {said}");
}

/// Run as root on a SQLite database another user (the service's) owns, a
/// command would leave root-owned `-wal`/`-shm` files the service cannot
/// open: it is refused, saying how to run it as that user (issue 37, item 12).
#[test]
fn root_is_refused_on_a_database_the_service_user_owns() {
    let me = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap();
    if me != 0 {
        eprintln!("not root: nothing to check");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let env = env_for(&db);
    rt.block_on(create_plan_with_cli(&env));
    let file = db.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    for path in [file.clone(), format!("{file}-wal"), format!("{file}-shm")] {
        if std::path::Path::new(&path).exists() {
            std::os::unix::fs::chown(&path, Some(61_234), Some(61_234)).unwrap();
        }
    }
    let output = seatsync(&env).args(["plans", "list"]).output().unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("belongs to uid 61234") && said.contains("systemd-run"), "{said}");
}

/// A stored webhook delivery is one log line at info: "webhook stored", with
/// its route and request id (the request's span), its event, event id and
/// what became of it; the request's own "request finished" goes to debug. At
/// thousands of deliveries a second a second line each was a share of
/// intake's CPU. A refused delivery keeps its "request finished" line.
#[test]
fn a_delivery_is_one_log_line_naming_its_event_and_outcome() {
    use crate::helpers::{UserEvent, at};
    use crate::processes::start_server_logged;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let (mut child, port, lines) = start_server_logged(&with(env_for(&db), "RUST_LOG", Some("info")));
    let client = seatsync::http_client::client();
    let event = UserEvent { id: "event_logged_once", at: &at(1), ..Default::default() }.json();
    rt.block_on(async {
        for _ in 0..2 {
            assert_eq!(signed_delivery(&client, port, event.clone()).send().await.unwrap().status(), 200);
        }
        let unsigned = client.post(format!("http://127.0.0.1:{port}/webhooks/workos")).body(event.to_string());
        assert_eq!(unsigned.send().await.unwrap().status(), 401);
    });
    let mut webhook_lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let finished = |lines: &Vec<serde_json::Value>| lines.last().is_some_and(|l| l["message"] == "request finished");
    while !finished(&webhook_lines) && std::time::Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200))
            && line["spans"][0]["route"] == "/webhooks/workos"
        {
            webhook_lines.push(line);
        }
    }
    signal(&child, "KILL");
    let _ = child.wait();
    let described: Vec<(String, String, String, String)> = webhook_lines
        .iter()
        .map(|line| {
            let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
            let last = line["spans"].as_array().and_then(|spans| spans.last()).cloned().unwrap_or_default();
            (text(&line["message"]), text(&last["event_id"]), text(&line["outcome"]), text(&last["status"]))
        })
        .collect();
    let stored = |outcome: &str| ("webhook stored".into(), "event_logged_once".into(), outcome.into(), "null".into());
    let refused = [
        ("webhook refused (logged at most once a second)".into(), "null".into(), "null".into(), "null".into()),
        ("request finished".into(), "null".into(), "null".into(), "401".into()),
    ];
    let expected = [vec![stored("Accepted"), stored("Duplicate")], refused.to_vec()].concat();
    assert_eq!(described, expected, "{webhook_lines:#?}");
    assert!(webhook_lines.iter().all(|l| l.get("span").is_none()), "the current span is not written twice");
}
