//! Reading a request body under a size limit and a deadline, for every route
//! that takes one: a slow or endless sender never holds a connection longer
//! than the deadline, and never makes us hold more than the limit.
use actix_web::{
    HttpRequest,
    http::{StatusCode, header},
    web,
};
use futures_util::StreamExt;
use std::time::Duration;

/// How long a whole body may take to arrive (CONTRACT 3.1, and the app tile's
/// form post of 3.5).
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the body could not be read")]
    Unreadable(#[source] actix_web::error::PayloadError),
    #[error("the body did not arrive within {} s", BODY_DEADLINE.as_secs())]
    TimedOut,
}

impl BodyError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unreadable(_) => StatusCode::BAD_REQUEST,
            Self::TimedOut => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "payload_too_large",
            Self::Unreadable(_) => "bad_request",
            Self::TimedOut => "request_timeout",
        }
    }
}

/// What to do with the bytes as they arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Return them (a webhook: they are verified and stored).
    Bytes,
    /// Count and drop them (the app tile's SAML assertion: never looked at).
    Nothing,
}

/// Reads the body, refusing with `TooLarge` as soon as it passes `limit`
/// (before reading any of it when Content-Length already says so).
pub async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    keep: Keep,
) -> Result<web::BytesMut, BodyError> {
    tokio::time::timeout(BODY_DEADLINE, read_limited(req, payload, limit, keep))
        .await
        .map_err(|_| BodyError::TimedOut)?
}

async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    keep: Keep,
) -> Result<web::BytesMut, BodyError> {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let capacity = if keep == Keep::Bytes { declared.unwrap_or(0).min(limit as u64) as usize } else { 0 };
    let mut body = web::BytesMut::with_capacity(capacity);
    let mut seen = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(BodyError::Unreadable)?;
        seen += chunk.len();
        if seen > limit {
            return Err(BodyError::TooLarge(limit));
        }
        if keep == Keep::Bytes {
            body.extend_from_slice(&chunk);
        }
    }
    Ok(body)
}
