//! The webhook route. Checks the signature header before reading a byte of the
//! body, reads the raw body under a size limit, a deadline and a cap on bodies
//! read at once, verifies it on the exact bytes received, parses only the
//! envelope, stores it and answers.
use super::signature::{self, SignatureError};
use crate::{
    domain::EventId,
    events::{Envelope, InvalidEvent},
    http::error::{error_response, log_chain, printable},
    inbox::{InboxError, NewEvent, Stored, dead_letter},
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, post, web};
use futures_util::StreamExt;
use serde::Serialize;
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the body is not a WorkOS event: {0}")]
    InvalidEvent(String),
    #[error("the body could not be read")]
    BodyUnreadable(#[source] actix_web::error::PayloadError),
    #[error("the body did not arrive within {} s", BODY_DEADLINE.as_secs())]
    BodyTimeout,
    #[error("too many deliveries are being read at once; retry later")]
    Busy,
    #[error("the event could not be stored")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl WebhookError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Signature(SignatureError::Missing) => "missing_signature",
            Self::Signature(SignatureError::Malformed(_)) => "malformed_signature",
            Self::Signature(SignatureError::OutOfTolerance) => "timestamp_out_of_tolerance",
            Self::Signature(SignatureError::Mismatch) => "signature_mismatch",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::InvalidEvent(_) => "invalid_event",
            Self::BodyUnreadable(_) => "bad_request",
            Self::BodyTimeout => "request_timeout",
            Self::Busy | Self::Unavailable(_) => "unavailable",
        }
    }
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Signature(_) => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidEvent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BodyUnreadable(_) => StatusCode::BAD_REQUEST,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Busy | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Unavailable(_) => "the event could not be stored; retry later".to_owned(),
            other => other.to_string(),
        };
        error_response(self.status_code(), self.code(), &message)
    }
}

#[derive(Serialize)]
struct Receipt<'a> {
    id: &'a str,
    status: &'static str,
}

#[post("/webhooks/workos")]
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebhookError> {
    let result = handle(&req, payload, &state).await;
    match &result {
        Ok((_, stored)) => state.metrics.delivery(match stored {
            Stored::Accepted => "accepted",
            Stored::Duplicate => "duplicate",
        }),
        Err(err) => {
            state.metrics.delivery(err.code());
            match err {
                WebhookError::Unavailable(_) => log_chain("webhook could not be stored", err),
                WebhookError::Busy => tracing::debug!(code = err.code(), "webhook refused: too many in flight"),
                _ => tracing::warn!(error = %printable(&err.to_string()), code = err.code(), "webhook refused"),
            }
        }
    }
    let (id, stored) = result?;
    let status = match stored {
        Stored::Accepted => "accepted",
        Stored::Duplicate => "duplicate",
    };
    Ok(HttpResponse::Ok().json(Receipt { id: id.as_str(), status }))
}

/// How long a whole body may take to arrive (CONTRACT 3.1).
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

async fn handle(req: &HttpRequest, payload: web::Payload, state: &AppState) -> Result<(EventId, Stored), WebhookError> {
    // Nothing is read, buffered or hashed for a sender that cannot even present
    // a well-formed, current signature header.
    let header = req.headers().get("workos-signature").map(|v| v.to_str().unwrap_or(""));
    let now_ms = chrono::Utc::now().timestamp_millis();
    let tolerance_ms = i64::try_from(state.webhook.tolerance.as_millis()).unwrap_or(i64::MAX);
    let claimed = signature::check_header(header, now_ms, tolerance_ms)?;
    // Bounded memory: at most this many bodies are in the air at once, and a
    // sender beyond that is told to retry rather than queued without bound.
    let _permit = state.webhook.inflight.clone().try_acquire_owned().map_err(|_| WebhookError::Busy)?;
    let body = tokio::time::timeout(BODY_DEADLINE, read_limited(req, payload, state.webhook.max_body_bytes))
        .await
        .map_err(|_| WebhookError::BodyTimeout)??;
    let secrets: Vec<&[u8]> = state.webhook.secrets.iter().map(|s| s.expose().as_bytes()).collect();
    let signed_at = signature::verify_body(&claimed, &body, &secrets)?;

    let parsed = Envelope::parse(&body).and_then(|envelope| {
        let id = EventId::parse(&envelope.id).map_err(|e| InvalidEvent(e.to_string()))?;
        Ok((id, envelope))
    });
    let (event_id, envelope) = match parsed {
        Ok(parsed) => parsed,
        Err(invalid) => {
            // Genuine but not an event: keep it, so nothing WorkOS sent is lost.
            dead_letter::keep(&state.db, &body, signed_at, &invalid.0)
                .await
                .map_err(|e| WebhookError::Unavailable(Box::new(e)))?;
            return Err(WebhookError::InvalidEvent(invalid.0));
        }
    };
    let span = tracing::info_span!("webhook", event_id = %event_id, event = %envelope.event);
    state.metrics.event_received(&envelope.event);
    let stored = state
        .inbox
        .store(NewEvent::from_envelope(event_id.clone(), envelope, body.to_vec()))
        .instrument(span.clone())
        .await
        .map_err(|e: InboxError| WebhookError::Unavailable(Box::new(e)))?;
    span.in_scope(|| tracing::info!(outcome = ?stored, "webhook stored"));
    Ok((event_id, stored))
}

/// Reads the body, refusing with 413 as soon as it passes the limit (before any
/// hashing, and before reading the rest when Content-Length already says so).
async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, WebhookError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(WebhookError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(WebhookError::BodyUnreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(WebhookError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
