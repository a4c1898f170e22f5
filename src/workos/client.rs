//! A small WorkOS API client: bearer key, timeouts, no redirects, answers capped
//! in size, list pagination over `list_metadata.after`, and 429, 5xx and
//! transport errors retried a bounded number of times (the one policy in
//! `retry`). POSTs carry an `Idempotency-Key`, so retrying them is safe.
use crate::{
    config::{ConfigError, Settings, problem},
    domain::Secret,
    http_client,
    retry::{Backoff, Retries},
};
use backon::Retryable;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The largest answer read from WorkOS (a page of 100 users is far smaller).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("WorkOS rejected WORKOS_API_KEY (401 Unauthorized): {message}")]
    Unauthorized { message: String },
    #[error("WorkOS answered {status} for {path}: {message}")]
    Status { status: u16, path: String, message: String },
    #[error("WorkOS kept answering {status} for {path} after {attempts} attempts")]
    GaveUp { status: u16, path: String, attempts: u32 },
    #[error("could not reach WorkOS at {base}")]
    Unreachable {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("WorkOS sent an answer larger than {MAX_ANSWER_BYTES} bytes for {path}")]
    TooLarge { path: String },
    #[error("WorkOS sent an unexpected answer for {path}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ApiError {
    /// WorkOS could not be reached or kept failing (as opposed to refusing).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::GaveUp { .. })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListMetadata {
    #[serde(default)]
    pub after: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListPage<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub list_metadata: Option<ListMetadata>,
}

impl<T> ListPage<T> {
    pub fn after(&self) -> Option<&str> {
        self.list_metadata.as_ref().and_then(|m| m.after.as_deref()).filter(|a| !a.is_empty())
    }
}

#[derive(Clone)]
pub struct WorkosClient {
    http: reqwest::Client,
    base: String,
    key: Secret,
    max_attempts: u32,
    backoff: Backoff,
}

enum Method<'a> {
    Get(&'a [(&'a str, String)]),
    Post { body: &'a serde_json::Value, idempotency_key: Option<&'a str> },
}

impl WorkosClient {
    /// A client when `WORKOS_API_KEY` is set (the admin API's "Configure SCIM"
    /// needs one only then).
    pub fn when_configured(settings: &Settings) -> Result<Option<Self>, ConfigError> {
        let Some(key) = settings.workos_api_key.clone() else { return Ok(None) };
        Self::new(&settings.workos_api_base, key).map(Some).map_err(|e| problem("WORKOS_API_BASE", e.to_string()))
    }

    /// A client when `serve` has pulls to do (polling, resync); they need the key.
    pub fn for_pulls(settings: &Settings) -> Result<Option<Self>, ConfigError> {
        crate::config::pulls_need_the_api_key(settings)?;
        if settings.events_poll_every.is_none() && settings.resync_every.is_none() {
            return Ok(None);
        }
        Self::when_configured(settings)
    }

    pub fn new(base: &str, key: Secret) -> Result<Self, ApiError> {
        let http = http_client::client_builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("seatsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ApiError::Unreachable { base: base.to_owned(), source })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
            max_attempts: 5,
            backoff: Backoff { first: Duration::from_millis(500), max: Duration::from_secs(30) },
        })
    }

    /// Shorter waits, for tests against a local fake.
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = Backoff { first, max: first * 16 };
        self
    }

    /// One GET, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ApiError> {
        self.call(path, Method::Get(query)).await
    }

    /// One POST of a JSON body, decoded. With an idempotency key, WorkOS answers
    /// a repeat with what the first created, so retries never create twice.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T, ApiError> {
        let body = serde_json::to_value(body).map_err(|source| ApiError::Decode { path: path.to_owned(), source })?;
        self.call(path, Method::Post { body: &body, idempotency_key }).await
    }

    /// 429 waits `Retry-After` (seconds or a date; else backs off), 5xx and
    /// transport errors back off; both a bounded number of times, with the one
    /// retry policy (`retry::Retries`) driven by `backon`.
    async fn call<T: DeserializeOwned>(&self, path: &str, method: Method<'_>) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let attempts = AtomicU32::new(0);
        let (url, method, counted) = (&url, &method, &attempts);
        let attempt = || async move {
            counted.fetch_add(1, Ordering::Relaxed);
            self.once(url, path, method).await
        };
        let policy = Retries { backoff: self.backoff, retries: self.max_attempts.saturating_sub(1) };
        attempt
            .retry(policy)
            .sleep(tokio::time::sleep)
            .when(Failure::is_retryable)
            // WorkOS's Retry-After replaces our wait, never adds an attempt.
            .adjust(|failure, wait| wait.map(|ours| failure.retry_after().unwrap_or(ours)))
            .notify(|failure, wait| failure.log(path, attempts.load(Ordering::Relaxed), wait))
            .await
            .map_err(|failure| failure.into_error(path, &self.base, attempts.load(Ordering::Relaxed)))
    }

    /// One attempt.
    async fn once<T: DeserializeOwned>(&self, url: &str, path: &str, method: &Method<'_>) -> Result<T, Failure> {
        let request = match method {
            Method::Get(query) => self.http.get(url).query(query),
            Method::Post { body, idempotency_key } => {
                let request = self.http.post(url).json(body);
                match idempotency_key {
                    Some(key) => request.header("Idempotency-Key", *key),
                    None => request,
                }
            }
        };
        let response = request.bearer_auth(self.key.expose()).send().await.map_err(Failure::Transport)?;
        let status = response.status();
        if status.is_success() {
            let bytes = http_client::read_capped(response, MAX_ANSWER_BYTES).await.map_err(|e| {
                Failure::Final(match e {
                    http_client::CappedReadError::TooLarge(_) => ApiError::TooLarge { path: path.to_owned() },
                    http_client::CappedReadError::Transport(source) => {
                        ApiError::Unreachable { base: self.base.clone(), source }
                    }
                })
            })?;
            return serde_json::from_slice(&bytes)
                .map_err(|source| Failure::Final(ApiError::Decode { path: path.to_owned(), source }));
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::retry::retry_after(v, chrono::Utc::now()))
                .map(|d| d.min(MAX_RETRY_AFTER));
            return Err(Failure::Busy { status: status.as_u16(), retry_after });
        }
        let message = refusal_message(response).await;
        Err(Failure::Final(if status == reqwest::StatusCode::UNAUTHORIZED {
            ApiError::Unauthorized { message }
        } else {
            ApiError::Status { status: status.as_u16(), path: path.to_owned(), message }
        }))
    }
}

/// How one attempt failed: worth another try, or final.
#[derive(Debug)]
enum Failure {
    Transport(reqwest::Error),
    /// 429 or 5xx, with WorkOS's `Retry-After` when it gave one.
    Busy {
        status: u16,
        retry_after: Option<Duration>,
    },
    Final(ApiError),
}

impl Failure {
    fn is_retryable(&self) -> bool {
        !matches!(self, Self::Final(_))
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn log(&self, path: &str, attempt: u32, wait: Duration) {
        let wait_ms = wait.as_millis() as u64;
        match self {
            Self::Transport(err) => {
                let error = err.to_string();
                let error = crate::http::error::printable(&error);
                tracing::warn!(%error, path, attempt, wait_ms, "WorkOS request failed; retrying");
            }
            Self::Busy { status, .. } => tracing::warn!(status, path, attempt, wait_ms, "WorkOS asked to retry"),
            Self::Final(_) => {}
        }
    }

    /// The error of a call whose last attempt failed this way.
    fn into_error(self, path: &str, base: &str, attempts: u32) -> ApiError {
        match self {
            Self::Transport(source) => ApiError::Unreachable { base: base.to_owned(), source },
            Self::Busy { status, .. } => ApiError::GaveUp { status, path: path.to_owned(), attempts },
            Self::Final(err) => err,
        }
    }
}

/// WorkOS's own words for a refusal (`message`, else `error_description` or
/// `error`), one line, at most 300 characters of printable text.
async fn refusal_message(response: reqwest::Response) -> String {
    let status = response.status();
    let bytes = http_client::read_capped(response, 64 * 1024).await.unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| ["message", "error_description", "error"].iter().find_map(|k| v.get(k)?.as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if text.trim().is_empty() { status.canonical_reason().unwrap_or("refused").to_owned() } else { text }
}
