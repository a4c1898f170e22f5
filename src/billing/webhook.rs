//! Sends one message to `BILLING_WEBHOOK_URL`, signed the Standard Webhooks way
//! (CONTRACT 7.1). No redirect is followed, one attempt has a time-out, and an
//! answer is read up to 64 KiB (a receiver cannot make us hold more).
use super::{
    schedule::Answer,
    signature::{self, SigningSecret},
};
use std::time::Duration;

/// How much of an answer is read.
pub const ANSWER_LIMIT: usize = 64 * 1024;
/// How much of an answer is kept as the message's `last_error`.
const ERROR_EXCERPT: usize = 200;

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub answer: Answer,
    pub status: Option<u16>,
    /// For anything but a 2xx: what went wrong, for operators.
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    secrets: Vec<SigningSecret>,
}

impl WebhookSender {
    pub fn new(url: String, secrets: Vec<SigningSecret>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self { client: client(timeout)?, url, secrets })
    }

    /// Posts `body` as message `id`, signed at `timestamp` (unix seconds).
    /// `traceparent`: the delivery span's W3C context, when traces are on.
    pub async fn send(&self, id: &str, timestamp: i64, body: Vec<u8>, traceparent: Option<String>) -> Attempted {
        let signature = signature::sign(&self.secrets, id, timestamp, &body);
        let mut request = self.client.post(&self.url);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let sent = request
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return unreachable(&err),
        };
        let status = response.status().as_u16();
        let answer = Answer::from_status(status, retry_after_of(&response));
        let excerpt = read_some(response).await;
        let error = match answer {
            Answer::Accepted => None,
            _ => Some(match excerpt {
                Ok(text) if !text.is_empty() => format!("HTTP {status}: {text}"),
                Ok(_) => format!("HTTP {status}"),
                Err(err) => format!("HTTP {status}; {err}"),
            }),
        };
        Attempted { answer, status: Some(status), error }
    }
}

/// The client both targets send with: no redirects, one time-out per attempt.
pub(super) fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(crate::http_client::client_builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("seatsync/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The answer's `Retry-After`, if it has a readable one.
pub(super) fn retry_after_of(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    crate::retry::retry_after(value, chrono::Utc::now())
}

/// No answer at all: retried on the schedule.
pub(super) fn unreachable(err: &reqwest::Error) -> Attempted {
    Attempted { answer: Answer::Failed { retry_after: None }, status: None, error: Some(describe(err)) }
}

/// A transport error in words, without the URL (it may carry a token): the
/// operating system's own words are kept ("could not connect: connection
/// refused"), since they tell a firewall from a server that is down.
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(err);
    let mut io = None;
    while let Some(cause) = source {
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            io = Some(e.kind());
        }
        source = cause.source();
    }
    match io {
        Some(kind) => format!("{what}: {kind}"),
        None => what.to_owned(),
    }
}

/// Reads at most `ANSWER_LIMIT` bytes of the answer and keeps the start of it,
/// printable, for `last_error`.
async fn read_some(mut response: reqwest::Response) -> Result<String, &'static str> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() >= ANSWER_LIMIT {
                    body.truncate(ANSWER_LIMIT);
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => return Err("the answer could not be read"),
        }
    }
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_EXCERPT)
        .collect();
    Ok(text.trim().to_owned())
}
