//! Issue 15: nothing read before the signature header, a deadline and a cap on
//! bodies, paged members, outbound calls that follow no redirect.
use crate::both_stores;
use crate::fake_workos::FakeWorkos;
use crate::helpers::*;
use seatsync::webhook::signature;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Opens a connection and sends a webhook request's head and the first bytes
/// of a body that claims `declared` bytes, then leaves it open.
async fn start_delivery(app: &TestApp, signature: Option<&str>, declared: usize, sent: &[u8]) -> TcpStream {
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut head = format!(
        "POST /webhooks/workos HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n"
    );
    if let Some(signature) = signature {
        head.push_str(&format!("WorkOS-Signature: {signature}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(sent).await.unwrap();
    stream
}

/// The status line and body of the answer, or None if none came in `within`.
async fn answer(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buffer = vec![0u8; 8192];
    let mut read = 0;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buffer[read..])).await.ok()?.ok()?;
        read += n;
        let text = String::from_utf8_lossy(&buffer[..read]).into_owned();
        // Answers here are small JSON objects: complete once the object closes.
        if n == 0 || text.trim_end().ends_with('}') {
            return Some(text);
        }
    }
}

fn signed_now(body: &[u8]) -> String {
    signature::header_value(SECRET.as_bytes(), now_ms(), body)
}

async fn an_unsigned_delivery_is_refused_before_its_body_arrives(store: Store) {
    let app = spawn_app(store).await;
    // A megabyte is announced, ten bytes are sent, and the sender waits.
    let mut stream = start_delivery(&app, None, 1_000_000, b"{\"id\": \"ev").await;
    let text = answer(&mut stream, Duration::from_secs(5)).await.expect("an answer before the body");
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("missing_signature"), "{text}");
    let stale = signature::header_value(SECRET.as_bytes(), now_ms() - 600_000, b"x");
    let mut stream = start_delivery(&app, Some(&stale), 1_000_000, b"{").await;
    let text = answer(&mut stream, Duration::from_secs(5)).await.expect("an answer before the body");
    assert!(text.starts_with("HTTP/1.1 401") && text.contains("timestamp_out_of_tolerance"), "{text}");
}

async fn a_body_that_does_not_arrive_within_ten_seconds_is_408(store: Store) {
    let app = spawn_app(store).await;
    let body = br#"{"id": "event_slow", "event": "dsync.user.created", "data": {}}"#;
    let mut stream = start_delivery(&app, Some(&signed_now(body)), body.len(), &body[..10]).await;
    let started = std::time::Instant::now();
    let text = answer(&mut stream, Duration::from_secs(30)).await.expect("an answer at the deadline");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(started.elapsed() >= Duration::from_secs(9), "answered before the deadline: {:?}", started.elapsed());
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 0);
}

async fn deliveries_beyond_the_inflight_cap_get_503_at_once(store: Store) {
    let app = spawn_app_with(store, &[("WEBHOOK_MAX_INFLIGHT", "2")]).await;
    let body = br#"{"id": "event_stalled", "event": "dsync.user.created", "data": {}}"#;
    // Two senders that stall mid-body. Both hold a permit once their handlers
    // run, which the in-flight gauge shows (on a loaded machine, a moment later).
    let mut stalled = Vec::new();
    for _ in 0..2 {
        stalled.push(start_delivery(&app, Some(&signed_now(body)), body.len(), &body[..5]).await);
    }
    eventually(Duration::from_secs(15), "both stalled bodies being read", || async {
        let text = app.metrics_text().await;
        let reading =
            text.lines().find(|l| l.starts_with("seatsync_webhook_bodies_in_flight ")).unwrap_or("").to_owned();
        if reading == "seatsync_webhook_bodies_in_flight 2" { Ok(()) } else { Err(reading) }
    })
    .await;
    // A third delivery is refused at once, whole as it is.
    let full = json!({"id": "event_third", "event": "dsync.user.created", "data": {}}).to_string();
    let response = app.post_webhook(full.as_bytes()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "unavailable");
    // The senders give up: their permits come back and deliveries go on.
    drop(stalled);
    let again = json!({"id": "event_fourth", "event": "dsync.user.created", "data": {}}).to_string();
    eventually(Duration::from_secs(5), "a delivery accepted again", || async {
        match app.post_webhook(again.as_bytes()).await.status().as_u16() {
            200 => Ok(()),
            other => Err(other),
        }
    })
    .await;
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events WHERE event_id = 'event_stalled'").await, 0);
}

async fn members_come_in_pages_with_filters(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    for (email, tier) in [
        ("ann@example.com", "paid"),
        ("bob@example.com", "free"),
        ("cat@other.org", "paid"),
        ("dan@example.com", "paid"),
        ("eve@other.org", "free"),
    ] {
        assert_eq!(app.set_tier(&plan, email, tier).await.status(), 200);
    }
    let emails = |page: &Value| -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_owned()).collect()
    };
    let first = app.admin_json(&format!("/admin/plans/{plan}/members?limit=2")).await;
    assert_eq!(emails(&first), ["ann@example.com", "bob@example.com"]);
    assert_eq!(first["next"], "bob@example.com");
    let second = app.admin_json(&format!("/admin/plans/{plan}/members?limit=2&after=bob%40example.com")).await;
    assert_eq!(emails(&second), ["cat@other.org", "dan@example.com"]);
    let last = app.admin_json(&format!("/admin/plans/{plan}/members?limit=2&after=dan%40example.com")).await;
    assert_eq!(emails(&last), ["eve@other.org"]);
    assert_eq!(last["next"], Value::Null);

    let paid = app.admin_json(&format!("/admin/plans/{plan}/members?tier=paid")).await;
    assert_eq!(emails(&paid), ["ann@example.com", "cat@other.org", "dan@example.com"]);
    let other_paid = app.admin_json(&format!("/admin/plans/{plan}/members?tier=paid&q=OTHER")).await;
    assert_eq!(emails(&other_paid), ["cat@other.org"]);
    let directory = app.admin_json(&format!("/admin/plans/{plan}/members?source=directory")).await;
    assert_eq!(emails(&directory), Vec::<String>::new());
    // A `%` or `_` in the text is matched as itself, not as a wildcard.
    let wildcard = app.admin_json(&format!("/admin/plans/{plan}/members?q=%25")).await;
    assert_eq!(emails(&wildcard), Vec::<String>::new());

    for bad in ["limit=0", "limit=1001", "limit=ten", "tier=gold", "source=hand"] {
        let response = app.admin_get(&format!("/admin/plans/{plan}/members?{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "bad_request", "{bad}");
    }
}

async fn metrics_time_requests_by_route(store: Store) {
    let app = spawn_app(store).await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    let text = app.metrics_text().await;
    assert!(text.contains("# TYPE seatsync_http_request_duration_seconds histogram\n"), "{text}");
    assert!(text.contains("seatsync_http_request_duration_seconds_count{route=\"/healthz\"} 1\n"), "{text}");
    assert!(
        text.contains("seatsync_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 1\n"),
        "{text}"
    );
}

both_stores!(
    an_unsigned_delivery_is_refused_before_its_body_arrives,
    a_body_that_does_not_arrive_within_ten_seconds_is_408,
    deliveries_beyond_the_inflight_cap_get_503_at_once,
    members_come_in_pages_with_filters,
    metrics_time_requests_by_route,
);

#[tokio::test]
async fn the_workos_client_follows_no_redirect_and_caps_answers() {
    let fake = FakeWorkos::start();
    let client = fake.client();
    let redirected = client.get::<Value>("/redirect", &[]).await.unwrap_err();
    assert!(redirected.to_string().contains("302"), "{redirected}");
    assert!(!fake.requests().iter().any(|r| r.starts_with("/events")), "{:?}", fake.requests());
    let huge = client.get::<Value>("/huge", &[]).await.unwrap_err();
    assert!(matches!(huge, seatsync::workos::ApiError::TooLarge { .. }), "{huge}");
}
