//! A small WorkOS API client: bearer key, timeouts, no redirects, answers capped
//! in size, list pagination over `list_metadata.after`, and 429, 5xx and
//! transport errors retried a bounded number of times (the one policy in
//! `retry`). POSTs carry an `Idempotency-Key`, so retrying them is safe.
use crate::{
    config::{ConfigError, Secret, Settings, problem},
    outbound,
    retry::Backoff,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::time::Duration;

/// The largest answer read from WorkOS (a page of 100 users is far smaller).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

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
        let wanted = [
            ("WORKOS_EVENTS_POLL_SECS", settings.events_poll_every),
            ("WORKOS_RESYNC_EVERY_SECS", settings.resync_every),
        ];
        let Some((variable, _)) = wanted.iter().find(|(_, every)| every.is_some()) else {
            return Ok(None);
        };
        if settings.workos_api_key.is_none() {
            return Err(problem("WORKOS_API_KEY", format!("must be set when {variable} is")));
        }
        Self::when_configured(settings)
    }

    pub fn new(base: &str, key: Secret) -> Result<Self, ApiError> {
        let http = outbound::client_builder()
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
    /// transport errors back off; both a bounded number of times.
    async fn call<T: DeserializeOwned>(&self, path: &str, method: Method<'_>) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let delay = self.backoff.jittered(attempt - 1);
            let request = match &method {
                Method::Get(query) => self.http.get(&url).query(query),
                Method::Post { body, idempotency_key } => {
                    let request = self.http.post(&url).json(body);
                    match idempotency_key {
                        Some(key) => request.header("Idempotency-Key", *key),
                        None => request,
                    }
                }
            };
            let response = match request.bearer_auth(self.key.expose()).send().await {
                Ok(response) => response,
                Err(source) if attempt >= self.max_attempts => {
                    return Err(ApiError::Unreachable { base: self.base.clone(), source });
                }
                Err(err) => {
                    tracing::warn!(error = %crate::http::error::printable(&err.to_string()), path, attempt, "WorkOS request failed; retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                let bytes = outbound::read_capped(response, MAX_ANSWER_BYTES).await.map_err(|e| match e {
                    outbound::BodyError::TooLarge(_) => ApiError::TooLarge { path: path.to_owned() },
                    outbound::BodyError::Transport(source) => ApiError::Unreachable { base: self.base.clone(), source },
                })?;
                return serde_json::from_slice(&bytes)
                    .map_err(|source| ApiError::Decode { path: path.to_owned(), source });
            }
            let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if !retryable {
                let message = refusal_message(response).await;
                if status == reqwest::StatusCode::UNAUTHORIZED {
                    return Err(ApiError::Unauthorized { message });
                }
                return Err(ApiError::Status { status: status.as_u16(), path: path.to_owned(), message });
            }
            if attempt >= self.max_attempts {
                return Err(ApiError::GaveUp { status: status.as_u16(), path: path.to_owned(), attempts: attempt });
            }
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::retry::retry_after(v, chrono::Utc::now()))
                .map(|d| d.min(Duration::from_secs(60)))
                .unwrap_or(delay);
            tracing::warn!(
                status = status.as_u16(),
                path,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "WorkOS asked to retry"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// WorkOS's own words for a refusal (`message`, else `error_description` or
/// `error`), one line, at most 300 characters of printable text.
async fn refusal_message(response: reqwest::Response) -> String {
    let status = response.status();
    let bytes = outbound::read_capped(response, 64 * 1024).await.unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| ["message", "error_description", "error"].iter().find_map(|k| v.get(k)?.as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if text.trim().is_empty() { status.canonical_reason().unwrap_or("refused").to_owned() } else { text }
}
