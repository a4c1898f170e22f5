//! A small WorkOS API client: bearer key, timeouts, list pagination over
//! `list_metadata.after`, 429 and 5xx retried a bounded number of times.
use crate::config::Secret;
use serde::{Deserialize, de::DeserializeOwned};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("WorkOS rejected WORKOS_API_KEY (401 Unauthorized): check the key")]
    Unauthorized,
    #[error("WorkOS answered {status} for {path}: {body}")]
    Status { status: u16, path: String, body: String },
    #[error("WorkOS kept answering {status} for {path} after {attempts} attempts")]
    GaveUp { status: u16, path: String, attempts: u32 },
    #[error("could not reach WorkOS at {base}")]
    Unreachable {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("WorkOS sent an unexpected answer for {path}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
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
    backoff: Duration,
}

impl WorkosClient {
    pub fn new(base: &str, key: Secret) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
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
            backoff: Duration::from_millis(500),
        })
    }

    /// Shorter waits, for tests against a local fake.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// One GET, decoded. 429 waits `Retry-After` (or backs off), 5xx and transport
    /// errors back off; both a bounded number of times.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let delay = self.backoff * 2u32.pow(attempt.min(6) - 1);
            let response = match self.http.get(&url).bearer_auth(self.key.expose()).query(query).send().await {
                Ok(response) => response,
                Err(source) if attempt >= self.max_attempts => {
                    return Err(ApiError::Unreachable { base: self.base.clone(), source });
                }
                Err(err) => {
                    tracing::warn!(error = %err, path, attempt, "WorkOS request failed; retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|source| ApiError::Unreachable { base: self.base.clone(), source })?;
                return serde_json::from_slice(&bytes)
                    .map_err(|source| ApiError::Decode { path: path.to_owned(), source });
            }
            if status == reqwest::StatusCode::UNAUTHORIZED {
                return Err(ApiError::Unauthorized);
            }
            let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if !retryable {
                let body = response.text().await.unwrap_or_default().chars().take(300).collect();
                return Err(ApiError::Status { status: status.as_u16(), path: path.to_owned(), body });
            }
            if attempt >= self.max_attempts {
                return Err(ApiError::GaveUp { status: status.as_u16(), path: path.to_owned(), attempts: attempt });
            }
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|secs| Duration::from_secs(secs.min(60)))
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
