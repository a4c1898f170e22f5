//! Issue 26 (3): no route waits for a body without end, and a small refused
//! body that has arrived does not cost the connection.
use crate::both_stores;
use crate::helpers::*;
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

/// Sends a chunk a second after `head` until the server closes the
/// connection; how long that took, or None if it was still open after `limit`.
async fn trickle_until_closed(stream: &mut TcpStream, head: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    while started.elapsed() < limit {
        if stream.write_all(b"1\r\na\r\n").await.is_err() {
            return Some(started.elapsed());
        }
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    None
}

async fn a_trickling_chunked_body_never_holds_a_connection_open(store: Store) {
    let app = spawn_app(store).await;
    // A route that answers without reading the body.
    let mut healthz = connect(&app).await;
    let head = "POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    let closed = trickle_until_closed(&mut healthz, head, Duration::from_secs(30)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_secs(13)), "/healthz held the connection: {closed:?}");
    // An admin request refused for its token, and one whose JSON trickles.
    let mut refused = connect(&app).await;
    let head = "POST /admin/plans HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    let closed = trickle_until_closed(&mut refused, head, Duration::from_secs(30)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_secs(13)), "a 401 held the connection: {closed:?}");
    let mut admin = connect(&app).await;
    let head = format!(
        "POST /admin/plans HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n"
    );
    let closed = trickle_until_closed(&mut admin, &head, Duration::from_secs(30)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_secs(13)), "an admin body held the connection: {closed:?}");
}

/// Reads one whole answer (head and a Content-Length body) from the stream.
async fn one_answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buffer = vec![0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await.unwrap().unwrap();
        assert!(n > 0, "closed before a whole answer: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn a_small_refused_body_that_has_arrived_keeps_the_connection(store: Store) {
    let app = spawn_app(store).await;
    let mut stream = connect(&app).await;
    let body = "{\"id\": \"event_unsigned\", \"event\": \"dsync.user.created\"}";
    let request =
        format!("POST /webhooks/workos HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.unwrap();
    let first = one_answer(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    assert!(!first.to_ascii_lowercase().contains("connection: close"), "{first}");
    // The same connection serves the next request.
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let second = one_answer(&mut stream).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}

both_stores!(
    a_trickling_chunked_body_never_holds_a_connection_open,
    a_small_refused_body_that_has_arrived_keeps_the_connection
);
