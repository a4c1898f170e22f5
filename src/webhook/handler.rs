//! The webhook route. Checks the signature header before reading a byte of the
//! body, reads the raw body under a size limit, a deadline and a cap on bodies
//! read at once, verifies it on the exact bytes received, parses only the
//! envelope, stores it and answers.
use super::signature::{self, SignatureError};
use crate::{
    domain::EventId,
    events::{Envelope, InvalidEvent},
    http::{
        body::{self, BodyError, Keep},
        client_address,
        error::{error_response, log_chain, printable},
        request_span,
    },
    inbox::{InboxError, NewEvent, Stored, dead_letter},
    state::AppState,
};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, http::StatusCode, post, web};
use serde::Serialize;
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("the body is not a WorkOS event: {0}")]
    InvalidEvent(String),
    #[error("this address may not post webhooks here")]
    Forbidden,
    #[error(
        "deliveries signed with the WORKOS_WEBHOOK_SECRET shipped in .env.example are accepted from this machine only: \
         set your endpoint's own secret"
    )]
    ExampleSecret,
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
            Self::Body(err) => err.code(),
            Self::InvalidEvent(_) => "invalid_event",
            Self::Forbidden => "forbidden",
            Self::ExampleSecret => "example_secret",
            Self::Busy | Self::Unavailable(_) => "unavailable",
        }
    }
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Signature(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::ExampleSecret => StatusCode::FORBIDDEN,
            Self::Body(err) => err.status_code(),
            Self::InvalidEvent(_) => StatusCode::UNPROCESSABLE_ENTITY,
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
    let client = client_address::of_request(&state.trusted_proxies, &req);
    let result = handle(&req, payload, &state, client).await;
    match &result {
        Ok((_, stored)) => state.metrics.delivery(match stored {
            Stored::Accepted => "accepted",
            Stored::Duplicate => "duplicate",
        }),
        Err(err) => {
            state.metrics.delivery(err.code());
            match err {
                WebhookError::Unavailable(_) => log_chain("webhook could not be stored", err),
                // A flood must not become a flood of log lines: one a second.
                WebhookError::Busy => {
                    if let Some(left_out) = state.webhook.admission.busy_warnings.take_now() {
                        tracing::warn!(client = %client, code = err.code(), left_out, "webhook refused: too many bodies in flight (logged at most once a second)");
                    }
                }
                // Signed by WorkOS, so not a forger's flood: always logged.
                WebhookError::InvalidEvent(_) => {
                    tracing::warn!(client = %client, error = %printable(&err.to_string()), code = err.code(), "webhook refused")
                }
                // Anyone can cause these without the secret: one a second.
                _ => {
                    if let Some(left_out) = state.webhook.admission.refusal_warnings.take_now() {
                        tracing::warn!(client = %client, error = %printable(&err.to_string()), code = err.code(), left_out, "webhook refused (logged at most once a second)")
                    }
                }
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

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    client: std::net::IpAddr,
) -> Result<(EventId, Stored), WebhookError> {
    state.webhook.admission.allows(client).map_err(|_| WebhookError::Forbidden)?;
    // Nothing is read, buffered or hashed for a sender that cannot even present
    // a well-formed, current signature header.
    let header = req.headers().get("workos-signature").map(|v| v.to_str().unwrap_or(""));
    let now_ms = chrono::Utc::now().timestamp_millis();
    let tolerance_ms = i64::try_from(state.webhook.tolerance.as_millis()).unwrap_or(i64::MAX);
    let claimed = signature::check_header(header, now_ms, tolerance_ms)?;
    // Bounded memory: at most this many bodies are in the air at once, and a
    // sender beyond that is told to retry rather than queued without bound.
    // One client address gets a share of them, never all.
    let mut slot = state.webhook.admission.admit(client).map_err(|_| WebhookError::Busy)?;
    let body = body::read(req, payload, state.webhook.max_body_bytes, Keep::Bytes).await?;
    // The client's share bounds its bodies being read (a slow sender's cost);
    // the total still holds until the body is stored, bounding memory.
    slot.body_read();
    let secrets: Vec<&[u8]> = state.webhook.secrets.iter().map(|s| s.expose().as_bytes()).collect();
    let signed_at = signature::verify_body(&claimed, &body, &secrets)?;
    // The example secret is public: through a proxy or tunnel, a delivery it
    // signs could come from anyone (CONTRACT 2), as the example token.
    let is_example = |secret: &&[u8]| crate::config::is_shipped("WORKOS_WEBHOOK_SECRET", secret);
    if secrets.iter().any(is_example) && client_address::arrived_from_elsewhere(req.headers()) {
        let own: Vec<&[u8]> = secrets.iter().copied().filter(|s| !is_example(s)).collect();
        if signature::verify_body(&claimed, &body, &own).is_err() {
            return Err(WebhookError::ExampleSecret);
        }
    }

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
    if !state.reconciler.faults().stores() {
        return Ok((event_id, Stored::Accepted));
    }
    let span = tracing::info_span!("webhook", event_id = %event_id, event = %envelope.event);
    state.metrics.event_received(&envelope.event);
    let stored = state
        .inbox
        .store(NewEvent::from_envelope(event_id.clone(), envelope, body.to_vec()))
        .instrument(span.clone())
        .await
        .map_err(|e: InboxError| WebhookError::Unavailable(Box::new(e)))?;
    span.in_scope(|| tracing::info!(outcome = ?stored, "webhook stored"));
    // This line says what "request finished" would (route, request id; 200):
    // one line per delivery is a real share of intake's CPU at thousands a second.
    req.extensions_mut().insert(request_span::LoggedByHandler);
    Ok((event_id, stored))
}
