//! Issue 26: nobody can starve WorkOS's deliveries. Forged senders from one
//! address hold at most their own share of the body slots; an allowlist and
//! trusted proxies decide who may post at all.
use crate::both_stores;
use crate::helpers::*;
use seatsync::webhook::signature;
use serde_json::{Value, json};
use std::{net::IpAddr, time::Duration};
use tokio::{io::AsyncWriteExt, net::TcpSocket};

/// A client whose connections leave from `from` (any 127.x.y.z is this host).
fn client_from(from: &str) -> reqwest::Client {
    seatsync::http_client::client_builder().local_address(from.parse::<IpAddr>().unwrap()).build().unwrap()
}

/// What anyone can send without the secret: a current timestamp and a
/// well-formed but wrong signature, then a body that trickles.
async fn forged_slow_sender(app: &TestApp, from: &str) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(app.address.trim_start_matches("http://").parse().unwrap()).await.unwrap();
    let head = format!(
        "POST /webhooks/workos HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\
         WorkOS-Signature: t={}, v1={}\r\n\r\n{{\"id",
        now_ms(),
        "0".repeat(64)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn in_flight(app: &TestApp) -> String {
    let text = app.metrics_text().await;
    text.lines().find(|l| l.starts_with("seatsync_webhook_bodies_in_flight ")).unwrap_or("").to_owned()
}

async fn post_from(app: &TestApp, client: &reqwest::Client, body: &Value) -> reqwest::Response {
    let body = body.to_string();
    client
        .post(app.url("/webhooks/workos"))
        .header("WorkOS-Signature", signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn forged_slow_senders_from_one_address_cannot_starve_real_deliveries(store: Store) {
    let app = spawn_app_with(store, &[("WEBHOOK_MAX_INFLIGHT", "32"), ("WEBHOOK_MAX_INFLIGHT_PER_CLIENT", "16")]).await;
    let mut forged = Vec::new();
    for _ in 0..64 {
        forged.push(forged_slow_sender(&app, "127.0.0.1").await);
    }
    // They hold their address's share (16, the default) and no more.
    let mut reading = String::new();
    for _ in 0..100 {
        reading = in_flight(&app).await;
        if reading.ends_with(" 16") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reading, "seatsync_webhook_bodies_in_flight 16");

    let workos = client_from("127.0.0.2");
    for n in 0..10u32 {
        let event = json!({"id": format!("event_real_{n}"), "event": "dsync.user.created", "data": {}});
        let response = post_from(&app, &workos, &event).await;
        assert_eq!(response.status(), 200, "real delivery {n} was refused");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 10);
    assert_eq!(in_flight(&app).await, "seatsync_webhook_bodies_in_flight 16", "still held by the forgers");
    drop(forged);
}

async fn only_allowed_addresses_may_post_and_only_trusted_proxies_name_the_client(store: Store) {
    let app = spawn_app_with(
        store,
        &[("WEBHOOK_ALLOWED_IPS", "127.0.0.2, 203.0.113.0/24"), ("TRUSTED_PROXIES", "127.0.0.3")],
    )
    .await;
    let event = |id: &str| json!({"id": id, "event": "dsync.user.created", "data": {}});

    let stranger = post_from(&app, &client_from("127.0.0.1"), &event("event_stranger")).await;
    assert_eq!(stranger.status(), 403);
    assert_eq!(stranger.json::<Value>().await.unwrap()["error"], "forbidden");
    assert_eq!(post_from(&app, &client_from("127.0.0.2"), &event("event_allowed")).await.status(), 200);

    // Through the trusted proxy, the forwarded address decides.
    let proxy = client_from("127.0.0.3");
    let via = |xff: &'static str, id: &'static str| {
        let body = event(id).to_string();
        proxy
            .post(app.url("/webhooks/workos"))
            .header("WorkOS-Signature", signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes()))
            .header("X-Forwarded-For", xff)
            .body(body)
            .send()
    };
    assert_eq!(via("203.0.113.7", "event_proxied").await.unwrap().status(), 200);
    assert_eq!(via("198.51.100.1", "event_proxied_stranger").await.unwrap().status(), 403);
    // A client's own claim in front of the proxy's entry is not believed.
    assert_eq!(via("203.0.113.7, 198.51.100.1", "event_spoofed").await.unwrap().status(), 403);
    // Nor when the proxy appends a line of its own (HAProxy's `option
    // forwardfor`) after the client's: every line counts, in order.
    let body = event("event_spoofed_lines").to_string();
    let two_lines = proxy
        .post(app.url("/webhooks/workos"))
        .header("WorkOS-Signature", signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes()))
        .header("X-Forwarded-For", "203.0.113.7")
        .header("X-Forwarded-For", "198.51.100.1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(two_lines.status(), 403, "the client's own first line named an allowed address");
    // From anyone else the header is ignored.
    let spoof = event("event_untrusted").to_string();
    let response = client_from("127.0.0.1")
        .post(app.url("/webhooks/workos"))
        .header("WorkOS-Signature", signature::header_value(SECRET.as_bytes(), now_ms(), spoof.as_bytes()))
        .header("X-Forwarded-For", "203.0.113.7")
        .body(spoof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.count("SELECT COUNT(*) FROM inbox_events").await, 2);
}

both_stores!(
    forged_slow_senders_from_one_address_cannot_starve_real_deliveries,
    only_allowed_addresses_may_post_and_only_trusted_proxies_name_the_client
);

/// A delivery anyone can send: a current timestamp, a wrong signature.
async fn forged_delivery(client: &reqwest::Client, base: &str) -> u16 {
    let header = format!("t={}, v1={}", now_ms(), "0".repeat(64));
    let response = client.post(format!("{base}/webhooks/workos")).header("WorkOS-Signature", header).body("{}");
    response.send().await.unwrap().status().as_u16()
}

/// An operator must see who is knocking: the busy refusal, a refused signature
/// and a refused admin token are warn lines that name the client's address
/// (CONTRACT 3.1, 3.4), at most one a second of each kind.
#[test]
fn refusals_are_logged_at_warn_naming_the_client_address() {
    use crate::processes::{signal, start_server_logged, wait_exit, with};
    use std::io::Write;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create(Store::Sqlite));
    let env = with(base_env(&db.url).into_iter().collect(), "WEBHOOK_MAX_INFLIGHT_PER_CLIENT", Some("1"));
    let (mut child, port, logs) = start_server_logged(&env);

    // One forged sender from 127.0.0.8 holds its address's only slot; its next
    // request is refused as busy.
    let connect_from = |from: &str| {
        rt.block_on(async {
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
            let stream = socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
            let stream = stream.into_std().unwrap();
            stream.set_nonblocking(false).unwrap();
            stream
        })
    };
    let forged = format!(
        "POST /webhooks/workos HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\
         WorkOS-Signature: t={}, v1={}\r\n\r\n{{\"id",
        now_ms(),
        "0".repeat(64)
    );
    let mut holder = connect_from("127.0.0.8");
    holder.write_all(forged.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let client =
        seatsync::http_client::client_builder().local_address("127.0.0.8".parse::<IpAddr>().unwrap()).build().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(rt.block_on(forged_delivery(&client, &url)), 503);
    let guesser = client_from("127.0.0.9");
    let refused = rt.block_on(async {
        guesser.get(format!("{url}/admin/plans")).bearer_auth("a-wrong-token-of-some-length").send().await.unwrap()
    });
    assert_eq!(refused.status(), 401);

    // Fifty forged deliveries: a flood of refusals is not a flood of lines.
    let forger = client_from("127.0.0.10");
    let forge = || forged_delivery(&forger, &url);
    let flood = std::time::Instant::now();
    for _ in 0..50 {
        assert_eq!(rt.block_on(forge()), 401);
    }
    let flood_secs = flood.elapsed().as_secs();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(rt.block_on(forge()), 401);

    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let warned = |seen: &[Value], client: &str, words: &str| {
        seen.iter().any(|line| {
            line["level"] == "WARN"
                && line["client"] == client
                && line["message"].as_str().is_some_and(|m| m.contains(words))
        })
    };
    while !(warned(&seen, "127.0.0.8", "too many bodies in flight")
        && warned(&seen, "127.0.0.9", "admin token refused"))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match logs.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no warn line naming each client: {seen:?}"),
        }
    }
    let forged = |seen: &[Value]| -> Vec<Value> {
        seen.iter().filter(|l| l["client"] == "127.0.0.10" && l["code"] == "signature_mismatch").cloned().collect()
    };
    while forged(&seen).len() < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match logs.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("the refusal after the flood was not logged: {seen:?}"),
        }
    }
    // Every line the flood caused, not only the first two.
    while let Ok(line) = logs.recv_timeout(Duration::from_millis(500)) {
        seen.push(line);
    }
    let lines = forged(&seen);
    assert!(lines.len() as u64 <= flood_secs + 2, "{} lines for 51 refusals in {flood_secs} s", lines.len());
    let last = lines.last().unwrap();
    assert!(last["left_out"].as_u64().unwrap() >= 1, "the line after the flood says how many were left out: {last}");
    drop(holder);
    signal(&child, "TERM");
    let _ = wait_exit(&mut child, Duration::from_secs(20));
}
