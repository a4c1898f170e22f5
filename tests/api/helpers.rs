//! `spawn_app`: the real application on port 0 with a fresh database per test,
//! SQLite (a temporary file) or PostgreSQL (a uniquely named database, dropped
//! afterwards) when `TEST_POSTGRES_URL` is set.
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use seatsync::{config::Settings, metrics::Metrics, reconcile, startup::Application, webhook::signature};
use serde_json::{Value, json};
use std::{collections::HashMap, sync::Arc};

pub const SECRET: &str = "whsec_test_secret";
pub const PREVIOUS_SECRET: &str = "whsec_previous_secret";
pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const ORG: &str = "org_01TESTORGANIZATION";
pub const DIRECTORY: &str = "directory_01TESTDIRECTORY";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL").ok().filter(|v| !v.is_empty())
}

/// Whether a PostgreSQL test may run. Without `TEST_POSTGRES_URL` these tests
/// are compiled ignored (build.rs); this covers a binary built with it and run
/// without. Under `CI=true` a missing URL fails the test instead.
pub fn postgres_enabled() -> bool {
    if postgres_url().is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true needs TEST_POSTGRES_URL: every behaviour test runs on PostgreSQL too"
    );
    eprintln!("skipped: TEST_POSTGRES_URL is not set");
    false
}

/// Runs each named `async fn name(store: Store)` once per store.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),+ $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Store::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(test_postgres_off, ignore = "TEST_POSTGRES_URL is not set")]
            async fn postgres() {
                if !$crate::helpers::postgres_enabled() {
                    return;
                }
                super::$name($crate::helpers::Store::Postgres).await
            }
        }
    )+ };
}

/// Runs each named blocking `fn name(store: Store)` (property tests, child
/// processes) once per store.
#[macro_export]
macro_rules! both_stores_blocking {
    ($($name:ident),+ $(,)?) => { $(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::helpers::Store::Sqlite)
            }
            #[test]
            #[cfg_attr(test_postgres_off, ignore = "TEST_POSTGRES_URL is not set")]
            fn postgres() {
                if !$crate::helpers::postgres_enabled() {
                    return;
                }
                super::$name($crate::helpers::Store::Postgres)
            }
        }
    )+ };
}

/// A fresh database; removed when dropped.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(store: Store) -> Self {
        match store {
            Store::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("seatsync.db").display());
                Self { url, _dir: Some(dir), pg: None }
            }
            Store::Postgres => {
                let admin_url = postgres_url().expect("TEST_POSTGRES_URL");
                let name = format!("seatsync_test_{}", ulid::Ulid::new().to_string().to_lowercase());
                let admin = Database::connect(&admin_url).await.expect("connect to TEST_POSTGRES_URL");
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
                admin.close().await.unwrap();
                let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin_url.clone());
                Self { url: format!("{base}/{name}"), _dir: None, pg: Some((admin_url, name)) }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop is synchronous: a short-lived runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        let _ =
                            admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A connection to `database`, migrated: for tests that drive the library
/// without a server.
pub async fn migrated(database: &TestDatabase) -> DatabaseConnection {
    let db = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&database.url).unwrap()).await.unwrap();
    seatsync::db::migrate(&db).await.unwrap();
    db
}

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:<port>` of the `METRICS_ADDR` listener, when set.
    pub metrics_address: Option<String>,
    /// The database's URL, for a second connection to it.
    pub database_url: String,
    pub db: DatabaseConnection,
    pub metrics: Arc<Metrics>,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Last: the database outlives the server using it.
    _database: Option<TestDatabase>,
}

pub fn base_env(database_url: &str) -> HashMap<String, String> {
    HashMap::from([
        ("DATABASE_URL".into(), database_url.to_owned()),
        ("LISTEN_ADDR".into(), "127.0.0.1:0".into()),
        ("WORKOS_WEBHOOK_SECRET".into(), SECRET.into()),
        ("WORKOS_WEBHOOK_SECRET_PREVIOUS".into(), PREVIOUS_SECRET.into()),
        ("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
        // Every test client is 127.0.0.1: the per-client share is the whole
        // cap here, except in the tests of that share.
        ("WEBHOOK_MAX_INFLIGHT_PER_CLIENT".into(), "256".into()),
    ])
}

pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_with(store, &[]).await
}

/// `overrides`: extra or changed variables; an empty value removes one.
pub async fn spawn_app_with(store: Store, overrides: &[(&str, &str)]) -> TestApp {
    let database = TestDatabase::create(store).await;
    let mut app = spawn_app_on(&database, overrides).await;
    app._database = Some(database);
    app
}

/// Starts a server on an existing database (two replicas, restarts).
pub async fn spawn_app_on(database: &TestDatabase, overrides: &[(&str, &str)]) -> TestApp {
    let mut env = base_env(&database.url);
    for (k, v) in overrides {
        if v.is_empty() {
            env.remove(*k);
        } else {
            env.insert(k.to_string(), v.to_string());
        }
    }
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("test settings");
    let app = Application::build(&settings, false).await.expect("application starts");
    let port = app.port();
    let metrics_address = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
    let db = app.db();
    let metrics = app.metrics();
    let handle = app.server_handle();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        metrics_address,
        database_url: database.url.clone(),
        db,
        metrics,
        client: seatsync::http_client::client(),
        handle,
        task: Some(task),
        _database: None,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

/// Asks `probe` every 50 ms until it answers `Ok`, for at most `within`, and
/// returns that answer; otherwise panics with `what` and the last `Err` seen.
/// The one way tests wait for something the service does in the background.
pub async fn eventually<T, E: std::fmt::Debug, F, Fut>(within: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if std::time::Instant::now() >= deadline => panic!("{what}: still {last:?} after {within:?}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl TestApp {
    /// Waits (up to 15 s) for the server to stop by itself; its result.
    pub async fn stopped(&mut self) -> anyhow::Result<()> {
        let task = self.task.take().expect("the server task");
        tokio::time::timeout(std::time::Duration::from_secs(15), task)
            .await
            .expect("the server stops by itself")
            .expect("the server task is not cancelled")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Posts a body signed now with the current secret.
    pub async fn post_webhook(&self, body: &[u8]) -> reqwest::Response {
        let header = signature::header_value(SECRET.as_bytes(), now_ms(), body);
        self.post_webhook_with(body, Some(&header)).await
    }

    pub async fn post_webhook_with(&self, body: &[u8], header: Option<&str>) -> reqwest::Response {
        let mut request = self.client.post(self.url("/webhooks/workos")).body(body.to_vec());
        if let Some(header) = header {
            request = request.header("WorkOS-Signature", header);
        }
        request.send().await.expect("webhook request")
    }

    pub async fn deliver(&self, body: &Value) -> Value {
        let response = self.post_webhook(body.to_string().as_bytes()).await;
        assert_eq!(response.status(), 200, "delivery refused");
        response.json().await.unwrap()
    }

    /// Delivers a `dsync.user.*` event.
    pub async fn user(&self, event: UserEvent<'_>) -> Value {
        self.deliver(&event.json()).await
    }

    /// A user created for an organization that has no plan: it parks.
    pub async fn user_in_other_org(&self, id: &str) -> Value {
        let body = UserEvent {
            id,
            org: "org_01NOPLANORGANIZATION",
            dir: "directory_01NOPLAN",
            user: "directory_user_noplan",
            email: "nobody@example.com",
            at: &at(1),
            ..Default::default()
        }
        .json();
        self.deliver(&body).await
    }

    /// `/metrics` with the database's figures read just before (the server
    /// reads them every 15 s; a test wants the ones of this moment).
    pub async fn metrics_text(&self) -> String {
        seatsync::probes::scrape::refresh(&self.db, &self.metrics).await;
        self.client.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(ADMIN_TOKEN).send().await.unwrap()
    }

    pub async fn admin_json(&self, path: &str) -> Value {
        let response = self.admin_get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn admin_json_owned(&self, path: String) -> Value {
        self.admin_json(&path).await
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(ADMIN_TOKEN).json(body).send().await.unwrap()
    }

    pub async fn admin_patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.patch(self.url(path)).bearer_auth(ADMIN_TOKEN).json(body).send().await.unwrap()
    }

    pub async fn admin_put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.put(self.url(path)).bearer_auth(ADMIN_TOKEN).json(body).send().await.unwrap()
    }

    /// Approves the plan's hold through the last held event it shows now (its
    /// `hold.through`), as the page and `seatsync plans approve` do.
    pub async fn approve_hold(&self, plan: &str) -> reqwest::Response {
        let through = self.plan(plan).await["hold"]["through"].clone();
        self.admin_post(&format!("/admin/plans/{plan}/hold/approve"), &json!({ "through": through })).await
    }

    pub async fn create_plan(&self, org: &str, max: Option<u32>) -> String {
        let mut body = json!({"name": "Acme", "organization_id": org});
        if let Some(max) = max {
            body["test_mode_max_users"] = json!(max);
        }
        let response = self.admin_post("/admin/plans", &body).await;
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    pub async fn set_tier(&self, plan: &str, email: &str, tier: &str) -> reqwest::Response {
        self.admin_put(&format!("/admin/plans/{plan}/members/{email}"), &json!({"tier": tier})).await
    }

    /// Applies everything stored, as the background reconciler would.
    pub async fn settle(&self) {
        let limits = reconcile::worker::BatchLimits::for_backend(self.db.get_database_backend());
        reconcile::worker::drain_with(&self.db, &self.metrics, limits).await.expect("reconciler drains");
    }

    pub async fn event_status(&self, id: &str) -> String {
        self.admin_json(&format!("/admin/events/{id}")).await["status"].as_str().unwrap().to_owned()
    }

    pub async fn plan(&self, plan: &str) -> Value {
        self.admin_json(&format!("/admin/plans/{plan}")).await
    }

    /// Members as `(email, tier, source)`, sorted by email.
    pub async fn seats(&self, plan: &str) -> Vec<(String, String, String)> {
        seats_at(&self.client, &self.address, plan).await
    }

    pub async fn audit(&self, plan: &str) -> Vec<Value> {
        self.admin_json(&format!("/admin/plans/{plan}/audit?limit=1000")).await["data"].as_array().unwrap().clone()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        // What SQLite's intake spool acknowledged is in the queue's table first.
        seatsync::inbox::spool::move_all(&self.db).await.unwrap();
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(self.db.get_database_backend(), sql.to_owned()))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

/// A plan's members on the server at `address`, as `(email, tier, source)`,
/// sorted by email: every page of them, following `next`.
pub async fn seats_at(client: &reqwest::Client, address: &str, plan: &str) -> Vec<(String, String, String)> {
    let mut seats = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("{address}/admin/plans/{plan}/members?limit=1000&after={}", encode(&after));
        let response = client.get(&path).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        let page: Value = response.json().await.unwrap();
        seats.extend(page["data"].as_array().unwrap().iter().map(|m| {
            let s = |k: &str| m[k].as_str().unwrap().to_owned();
            (s("email"), s("tier"), s("source"))
        }));
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return seats,
        }
    }
}

/// `(email, tier, source)` for readable expectations.
pub fn seat(email: &str, tier: &str, source: &str) -> (String, String, String) {
    (email.to_owned(), tier.to_owned(), source.to_owned())
}

/// A `dsync.user.*` delivery, fields by name; `..Default::default()` gives a
/// `created` event of an active user of the test organization's directory.
#[derive(Debug, Clone, Copy)]
pub struct UserEvent<'a> {
    pub id: &'a str,
    /// `created`, `updated` or `deleted`.
    pub kind: &'a str,
    pub org: &'a str,
    pub dir: &'a str,
    /// The directory user's id.
    pub user: &'a str,
    pub email: &'a str,
    pub state: &'a str,
    /// The user's `updated_at`, also the event's `created_at`.
    pub at: &'a str,
}

impl Default for UserEvent<'_> {
    fn default() -> Self {
        Self {
            id: "event_user",
            kind: "created",
            org: ORG,
            dir: DIRECTORY,
            user: "directory_user_1",
            email: "user@example.com",
            state: "active",
            at: "2026-01-01T00:00:00.000Z",
        }
    }
}

impl UserEvent<'_> {
    /// The envelope in the 2026 shape.
    pub fn json(&self) -> Value {
        json!({
            "object": "event",
            "id": self.id,
            "event": format!("dsync.user.{}", self.kind),
            "data": {
                "id": self.user,
                "directory_id": self.dir,
                "organization_id": self.org,
                "idp_id": "idp",
                "email": self.email,
                "first_name": "Test",
                "last_name": "User",
                "state": self.state,
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": self.at,
                "custom_attributes": {"emails": [{"primary": true, "type": "work", "value": self.email}]},
                "role": {"slug": "member"},
            },
            "created_at": self.at,
            "context": {},
        })
    }
}

/// The `n`th user of a burst, created: `directory_user_{n}`, `u{n}@example.com`,
/// at second `n`; the body as sent.
pub fn nth_user_created(id: &str, n: u32) -> String {
    let (user, email) = (format!("directory_user_{n}"), format!("u{n}@example.com"));
    UserEvent { id, user: &user, email: &email, at: &at(n), ..Default::default() }.json().to_string()
}

pub fn directory_event(id: &str, kind: &str, org: &str, dir: &str) -> Value {
    json!({
        "object": "event",
        "id": id,
        "event": kind,
        "data": {
            "object": "directory",
            "id": dir,
            "organization_id": org,
            "state": if kind == "dsync.deleted" { "deleting" } else { "active" },
            "type": "generic scim v2.0",
            "name": "Test Directory",
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
        },
        "created_at": "2026-01-01T00:00:00.000Z",
    })
}

/// `2026-01-01T00:00:00Z` plus `n` seconds.
pub fn at(n: u32) -> String {
    (chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap() + chrono::Duration::seconds(n.into()))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Percent-encodes a query value.
pub fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs a test's fake HTTP service (WorkOS, a billing receiver, Stripe, a web
/// site) on a free loopback port: its base URL and the handle that stops it.
pub fn serve_fake(
    workers: usize,
    configure: impl Fn(&mut actix_web::web::ServiceConfig) + Send + Clone + 'static,
) -> (String, actix_web::dev::ServerHandle) {
    let server = actix_web::HttpServer::new(move || actix_web::App::new().configure(configure.clone()))
        .workers(workers)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), handle)
}

/// The project's `.venv/bin/python` (`.ci/run` makes it) when it can import
/// `module`, an independent verifier. Without it the check is skipped, except
/// under `CI=true`, where it fails.
pub fn venv_python(module: &str) -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let usable = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success());
    if usable {
        return Some(python);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true needs .venv/bin/python with {module} (.ci/run makes it)"
    );
    eprintln!("skipped a check: no .venv/bin/python with {module}");
    None
}
