use crate::both_stores;
use crate::helpers::*;
use sea_orm::ConnectionTrait;
use seatsync::webhook::signature;
use serde_json::{Value, json};

fn sample_body() -> Vec<u8> {
    UserEvent {
        id: "event_01SAMPLE",
        user: "directory_user_1",
        email: "lela@example.com",
        at: &at(1),
        ..Default::default()
    }
    .json()
    .to_string()
    .into_bytes()
}

async fn refused(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn a_delivery_without_a_signature_is_refused(store: Store) {
    let app = spawn_app(store).await;
    refused(app.post_webhook_with(&sample_body(), None).await, 401, "missing_signature").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 0);
}

async fn an_unparseable_signature_is_malformed(store: Store) {
    let app = spawn_app(store).await;
    for header in ["", "garbage", "t=abc, v1=00", "v1=ab", &format!("t={}", now_ms())] {
        refused(app.post_webhook_with(&sample_body(), Some(header)).await, 401, "malformed_signature").await;
    }
}

async fn a_signature_from_too_long_ago_or_the_future_is_refused(store: Store) {
    let app = spawn_app(store).await;
    let body = sample_body();
    for t in [now_ms() - 181_000, now_ms() + 181_000] {
        let header = signature::header_value(SECRET.as_bytes(), t, &body);
        refused(app.post_webhook_with(&body, Some(&header)).await, 401, "timestamp_out_of_tolerance").await;
    }
}

async fn a_signature_with_the_wrong_secret_is_a_mismatch(store: Store) {
    let app = spawn_app(store).await;
    let body = sample_body();
    let header = signature::header_value(b"whsec_wrong", now_ms(), &body);
    refused(app.post_webhook_with(&body, Some(&header)).await, 401, "signature_mismatch").await;
    // The body as a proxy might re-serialise it: also a mismatch.
    let header = signature::header_value(SECRET.as_bytes(), now_ms(), &body);
    let pretty = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    refused(app.post_webhook_with(&pretty, Some(&header)).await, 401, "signature_mismatch").await;
}

async fn the_previous_secret_is_accepted_while_rotating(store: Store) {
    let app = spawn_app(store).await;
    let body = sample_body();
    let header = signature::header_value(PREVIOUS_SECRET.as_bytes(), now_ms(), &body);
    let response = app.post_webhook_with(&body, Some(&header)).await;
    assert_eq!(response.status(), 200);
}

async fn a_body_over_the_limit_is_413_before_anything_else(store: Store) {
    let app = spawn_app_with(store, &[("WEBHOOK_MAX_BODY_BYTES", "1024")]).await;
    let big = json!({"id": "event_big", "event": "dsync.user.created", "pad": "x".repeat(2000)}).to_string();
    let header = signature::header_value(SECRET.as_bytes(), now_ms(), big.as_bytes());
    refused(app.post_webhook_with(big.as_bytes(), Some(&header)).await, 413, "payload_too_large").await;
    // Streamed without a Content-Length, too.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.clone().into_bytes())]);
    let response = app
        .client
        .post(app.url("/webhooks/workos"))
        .header("WorkOS-Signature", header)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    refused(response, 413, "payload_too_large").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 0);
}

async fn a_verified_body_that_is_not_an_event_is_422_and_kept(store: Store) {
    let app = spawn_app(store).await;
    let overlong = json!({"id": "e".repeat(300), "event": "dsync.user.created"}).to_string();
    for body in
        [&b"not json at all"[..], br#"{"id": 5, "event": "dsync.user.created"}"#, br#"["a"]"#, overlong.as_bytes()]
    {
        refused(app.post_webhook(body).await, 422, "invalid_event").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM dead_letters").await, 4);
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 0);
}

async fn a_new_event_is_stored_and_accepted(store: Store) {
    let app = spawn_app(store).await;
    let response = app.post_webhook(&sample_body()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"id": "event_01SAMPLE", "status": "accepted"}));
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events WHERE event_id = 'event_01SAMPLE'").await, 1);
}

async fn the_stored_body_is_the_exact_bytes_received(store: Store) {
    let app = spawn_app(store).await;
    let body = std::fs::read("fixtures/vectors/envelope.dsync.user.created.body.json").unwrap();
    assert_eq!(app.post_webhook(&body).await.status(), 200);
    let row = entity_body(&app, "event_07FKJ843CVE8F7BXQSPFH0M53V").await;
    assert_eq!(row, body);
}

async fn entity_body(app: &TestApp, id: &str) -> Vec<u8> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    seatsync::inbox::spool::move_all(&app.db).await.unwrap();
    entity::inbox_event::Entity::find()
        .filter(entity::inbox_event::Column::EventId.eq(id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .body
}

async fn the_same_event_twice_is_a_duplicate_and_changes_nothing(store: Store) {
    let app = spawn_app(store).await;
    assert_eq!(app.post_webhook(&sample_body()).await.status(), 200);
    let again = app.post_webhook(&sample_body()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), json!({"id": "event_01SAMPLE", "status": "duplicate"}));
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 1);
}

async fn concurrent_copies_of_one_event_store_one_row(store: Store) {
    let app = spawn_app(store).await;
    let body = sample_body();
    let posts = (0..24).map(|_| {
        let client = seatsync::http_client::client();
        let url = app.url("/webhooks/workos");
        let header = signature::header_value(SECRET.as_bytes(), now_ms(), &body);
        let body = body.clone();
        async move { client.post(url).header("WorkOS-Signature", header).body(body).send().await.unwrap() }
    });
    let responses = futures_util::future::join_all(posts).await;
    let mut statuses = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        statuses.push(response.json::<Value>().await.unwrap()["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses.iter().filter(|s| *s == "accepted").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 23);
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 1);
}

async fn a_database_failure_is_503_and_stores_nothing(store: Store) {
    let app = spawn_app(store).await;
    app.db.close_by_ref().await.unwrap();
    match store {
        Store::Postgres => refused(app.post_webhook(&sample_body()).await, 503, "unavailable").await,
        // SQLite's intake commits to its spool file, which needs nothing from
        // the seats' pool: the delivery is kept, and moved once the seats'
        // file can be written again (a full disk fails the spool too: faults.rs).
        Store::Sqlite => {
            assert_eq!(app.post_webhook(&sample_body()).await.status(), 200);
            let again = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&app.database_url).unwrap()).await;
            let again = again.unwrap();
            assert_eq!(seatsync::inbox::spool::move_all(&again).await.unwrap(), 1);
            let stored = "SELECT COUNT(*) AS n FROM inbox_events WHERE event_id = 'event_01SAMPLE'";
            let row = again.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, stored));
            assert_eq!(row.await.unwrap().unwrap().try_get::<i64>("", "n").unwrap(), 1);
        }
    }
}

async fn unknown_event_types_are_accepted_and_ignored(store: Store) {
    let app = spawn_app(store).await;
    let body = json!({"id": "event_conn", "event": "connection.activated", "data": {}}).to_string();
    let response = app.post_webhook(body.as_bytes()).await;
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"id": "event_conn", "status": "accepted"}));
    assert_eq!(app.event_status("event_conn").await, "ignored");
}

async fn event_status_answers_the_contract_shape(store: Store) {
    let app = spawn_app(store).await;
    app.post_webhook(&sample_body()).await;
    let status = app.admin_json("/admin/events/event_01SAMPLE").await;
    assert_eq!(status["id"], "event_01SAMPLE");
    assert_eq!(status["event"], "dsync.user.created");
    // No plan for the organization yet, so after reconciling it is parked.
    assert!(["pending", "parked"].contains(&status["status"].as_str().unwrap()));
    assert!(status["received_at"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&str> = status.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["applied_at", "error", "event", "id", "received_at", "status"]);
    app.settle().await;
    assert_eq!(app.event_status("event_01SAMPLE").await, "parked");
}

async fn the_admin_api_needs_the_token(store: Store) {
    let app = spawn_app(store).await;
    let response = app.client.get(app.url("/admin/events/event_x")).send().await.unwrap();
    refused(response, 401, "unauthorized").await;
    let response = app.client.get(app.url("/admin/plans")).bearer_auth("wrong").send().await.unwrap();
    refused(response, 401, "unauthorized").await;
    refused(app.admin_get("/admin/events/event_unknown").await, 404, "not_found").await;
}

async fn the_admin_api_is_disabled_without_a_token(store: Store) {
    let app = spawn_app_with(store, &[("ADMIN_TOKEN", "")]).await;
    let response = app.client.get(app.url("/admin/plans")).bearer_auth("anything").send().await.unwrap();
    refused(response, 503, "admin_disabled").await;
}

async fn metrics_count_deliveries_by_outcome_and_type(store: Store) {
    let app = spawn_app(store).await;
    app.post_webhook(&sample_body()).await;
    app.post_webhook(&sample_body()).await;
    app.post_webhook_with(&sample_body(), None).await;
    let text = app.metrics_text().await;
    for line in [
        "seatsync_webhook_deliveries_total{outcome=\"accepted\"} 1\n",
        "seatsync_webhook_deliveries_total{outcome=\"duplicate\"} 1\n",
        "seatsync_webhook_deliveries_total{outcome=\"missing_signature\"} 1\n",
        "seatsync_events_received_total{event=\"dsync.user.created\"} 2\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

both_stores!(
    a_delivery_without_a_signature_is_refused,
    an_unparseable_signature_is_malformed,
    a_signature_from_too_long_ago_or_the_future_is_refused,
    a_signature_with_the_wrong_secret_is_a_mismatch,
    the_previous_secret_is_accepted_while_rotating,
    a_body_over_the_limit_is_413_before_anything_else,
    a_verified_body_that_is_not_an_event_is_422_and_kept,
    a_new_event_is_stored_and_accepted,
    the_stored_body_is_the_exact_bytes_received,
    the_same_event_twice_is_a_duplicate_and_changes_nothing,
    concurrent_copies_of_one_event_store_one_row,
    a_database_failure_is_503_and_stores_nothing,
    unknown_event_types_are_accepted_and_ignored,
    event_status_answers_the_contract_shape,
    the_admin_api_needs_the_token,
    the_admin_api_is_disabled_without_a_token,
    metrics_count_deliveries_by_outcome_and_type,
);

/// A move takes about 8 MiB of bodies at a time, however many events wait:
/// large payloads are never all loaded at once (issue 40).
#[tokio::test]
async fn a_spool_move_takes_a_bounded_amount_of_bodies() {
    use sea_orm::TransactionTrait;
    use seatsync::{domain::EventStatus, inbox::spool};
    let database = TestDatabase::create(Store::Sqlite).await;
    let (db, lane) = with_lane(&database).await;
    let large = |id: &str| new_event(id, vec![b' '; 5 * 1024 * 1024], EventStatus::Ignored, None);
    let (_, stored) = lane.store(vec![large("event_1"), large("event_2"), large("event_3")]).await.unwrap();
    stored.unwrap();
    let txn = db.begin().await.unwrap();
    // 0 and 5 MiB of bodies came before the first two; 10 MiB before the third.
    assert_eq!(spool::move_into_queue(&txn, spool::MOVE_AT_MOST).await.unwrap(), 2);
    assert_eq!(spool::move_into_queue(&txn, spool::MOVE_AT_MOST).await.unwrap(), 1);
    assert_eq!(spool::move_into_queue(&txn, spool::MOVE_AT_MOST).await.unwrap(), 0);
    txn.commit().await.unwrap();
}

/// The seats' file is checkpointed by a thread of its own, not inside a
/// commit of the pool's one connection (issue 40): the pool's automatic
/// checkpoint is only a far backstop, and a write far below SQLite's default
/// 1,000-page trigger still reaches the file itself within moments.
#[tokio::test]
async fn the_seats_file_is_checkpointed_beside_its_writer_not_by_it() {
    let database = TestDatabase::create(Store::Sqlite).await;
    let db = migrated(&database).await;
    let pragma = sea_orm::Statement::from_string(db.get_database_backend(), "PRAGMA wal_autocheckpoint");
    let automatic = db.query_one_raw(pragma).await.unwrap().expect("the pragma answers");
    assert_eq!(
        automatic.try_get::<i64>("", "wal_autocheckpoint").unwrap(),
        seatsync::db::checkpointer::BACKSTOP_PAGES,
        "the pool's connection checkpoints only past the backstop"
    );

    let file = seatsync::db::sqlite_file(&database.url).expect("a file database").to_owned();
    db.execute_unprepared("CREATE TABLE filler (body BLOB NOT NULL)").await.unwrap();
    let size_before = std::fs::metadata(&file).unwrap().len();
    // About 1.2 MB: 300 pages, far below the automatic checkpoint's 1,000.
    db.execute_unprepared(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) \
         INSERT INTO filler (body) SELECT randomblob(4000) FROM n",
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut size_after = size_before;
    while size_after < size_before + 1_000_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        size_after = std::fs::metadata(&file).unwrap().len();
    }
    assert!(size_after >= size_before + 1_000_000, "the write reached the file: {size_before} -> {size_after} bytes");
}

/// An event the spool acknowledged is pending wherever it is: in the spool,
/// half of a backlog moved, or all moved; the oldest pending stays the first
/// one's arrival throughout (a waiter once saw an empty backlog mid-move).
#[tokio::test]
async fn the_backlog_counts_spooled_events_as_pending_before_during_and_after_a_move() {
    use sea_orm::TransactionTrait;
    use seatsync::{
        domain::{EventStatus, Micros},
        inbox::{spool, status::backlog},
    };
    let database = TestDatabase::create(Store::Sqlite).await;
    let (db, lane) = with_lane(&database).await;
    let event = |id: &str| new_event(id, format!("{{\"id\": \"{id}\"}}").into_bytes(), EventStatus::Pending, None);
    let before = Micros::now();
    lane.store(vec![event("event_first")]).await.unwrap().1.unwrap();
    lane.store(vec![event("event_second")]).await.unwrap().1.unwrap();
    let pending = |(by_status, _): &(Vec<(String, i64)>, Option<Micros>)| {
        by_status.iter().find(|(s, _)| s == "pending").map(|(_, n)| *n)
    };

    let spooled = backlog(&db).await.unwrap();
    assert_eq!(pending(&spooled), Some(2));
    let oldest = spooled.1.expect("a spooled event is pending");
    assert!(oldest >= before && oldest <= Micros::now());

    let txn = db.begin().await.unwrap();
    assert_eq!(spool::move_into_queue(&txn, 1).await.unwrap(), 1);
    txn.commit().await.unwrap();
    assert_eq!(backlog(&db).await.unwrap(), (spooled.0.clone(), Some(oldest)), "one in the queue, one spooled");

    assert_eq!(spool::move_all(&db).await.unwrap(), 1);
    assert_eq!(backlog(&db).await.unwrap(), (spooled.0, Some(oldest)), "both in the queue");
}

/// Issue 40: SQLite's intake commits to its spool, so a delivery never waits
/// for the seats' file's writer.
#[tokio::test]
async fn a_sqlite_delivery_is_stored_while_another_holds_the_seats_write_lock() {
    use sea_orm::TransactionTrait;
    let app = spawn_app(Store::Sqlite).await;
    // Another process's transaction holds the seats' file's one writer, as a
    // long reconciler batch does.
    let other = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&app.database_url).unwrap()).await.unwrap();
    let txn = other.begin().await.unwrap();
    seatsync::db::write_first(&txn).await.unwrap();
    // Stored in the spool and answered: the delivery never waits for it.
    assert_eq!(app.post_webhook(&sample_body()).await.status(), 200);
    txn.commit().await.unwrap();
    app.settle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events WHERE event_id = 'event_01SAMPLE'").await, 1);
    assert_eq!(app.event_status("event_01SAMPLE").await, "parked", "no plan for its organization yet");
}

/// SQLite's inbox lane (issue 28) stores a batch, into the spool, as the pool's path does:
/// each id once, in id order, a repeat in the batch or of a stored event
/// answered as a duplicate; and it is used only for a file this process writes.
#[tokio::test]
async fn the_sqlite_inbox_lane_stores_each_id_once_in_id_order() {
    use seatsync::{
        db::DatabaseUrl,
        domain::EventStatus,
        inbox::{Stored, sqlite_lane},
    };
    let database = TestDatabase::create(Store::Sqlite).await;
    let (db, lane) = with_lane(&database).await;
    let body = |id: &str| format!("{{\"id\": \"{id}\"}}").into_bytes();
    let event = |id: &str| new_event(id, body(id), EventStatus::Pending, Some("org:org_1"));
    let (_, stored) = lane.store(vec![event("event_b"), event("event_a"), event("event_b")]).await.unwrap();
    assert_eq!(stored.unwrap(), [Stored::Accepted, Stored::Accepted, Stored::Duplicate]);
    let (_, again) = lane.store(vec![event("event_a"), event("event_c")]).await.unwrap();
    assert_eq!(again.unwrap(), [Stored::Duplicate, Stored::Accepted]);
    // The lane commits to the spool; the queue's table has them once moved.
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, sql)).await;
            row.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM inbox_events").await, 0);
    assert_eq!(seatsync::inbox::spool::move_all(&db).await.unwrap(), 3);
    assert_eq!(seatsync::inbox::spool::move_all(&db).await.unwrap(), 0, "nothing is moved twice");
    // A retry of an event already moved, and gone from the spool, is still a duplicate.
    db.execute_unprepared("DELETE FROM spool.inbox_spool").await.unwrap();
    let (_, late) = lane.store(vec![event("event_c"), event("event_d")]).await.unwrap();
    assert_eq!(late.unwrap(), [Stored::Duplicate, Stored::Accepted]);
    assert_eq!(seatsync::inbox::spool::move_all(&db).await.unwrap(), 1);
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT event_id, status, attempts, order_key FROM inbox_events ORDER BY seq",
        ))
        .await
        .unwrap();
    let read: Vec<(String, String, i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "event_id").unwrap(),
                r.try_get("", "status").unwrap(),
                r.try_get("", "attempts").unwrap(),
                r.try_get("", "order_key").unwrap(),
            )
        })
        .collect();
    let row = |id: &str| (id.to_owned(), "pending".to_owned(), 0, "org:org_1".to_owned());
    assert_eq!(read, [row("event_a"), row("event_b"), row("event_c"), row("event_d")]);

    // A mark past this spool's own numbers (an older spool copied back by
    // hand) never loses an event: the lane keeps rows whose copies are not in
    // the queue, and the move starts over from the spool's beginning.
    db.execute_unprepared("UPDATE inbox_spool_moves SET moved_seq = 1000000").await.unwrap();
    let (_, after_copy) = lane.store(vec![event("event_e")]).await.unwrap();
    assert_eq!(after_copy.unwrap(), [Stored::Accepted]);
    let (_, next) = lane.store(vec![event("event_f")]).await.unwrap();
    assert_eq!(next.unwrap(), [Stored::Accepted]);
    assert_eq!(seatsync::inbox::spool::move_all(&db).await.unwrap(), 2);
    assert_eq!(count("SELECT COUNT(*) FROM inbox_events WHERE event_id IN ('event_e', 'event_f')").await, 2);

    // In memory, each connection would see a database of its own: no lane.
    let memory = DatabaseUrl::parse("sqlite::memory:").unwrap();
    let in_memory = seatsync::db::connect(&memory).await.unwrap();
    assert_eq!(sqlite_lane::file_of(&in_memory, &memory), None);
}

/// A migrated SQLite database and its inbox lane, started on its file.
async fn with_lane(database: &TestDatabase) -> (sea_orm::DatabaseConnection, seatsync::inbox::sqlite_lane::SqliteLane) {
    use seatsync::{db::DatabaseUrl, inbox::sqlite_lane};
    let db = migrated(database).await;
    let path =
        sqlite_lane::file_of(&db, &DatabaseUrl::parse(&database.url).unwrap()).expect("a file database has a lane");
    let lane = sqlite_lane::SqliteLane::start(path, seatsync::faults::Faults::default()).unwrap();
    (db, lane)
}

/// A `dsync.user.created` event to store, with its body, status and group.
fn new_event(
    id: &str,
    body: Vec<u8>,
    status: seatsync::domain::EventStatus,
    order_key: Option<&str>,
) -> seatsync::inbox::NewEvent {
    seatsync::inbox::NewEvent {
        event_id: seatsync::domain::EventId::parse(id).unwrap(),
        event_type: "dsync.user.created".into(),
        body,
        status,
        order_key: order_key.map(str::to_owned),
        traceparent: None,
    }
}
