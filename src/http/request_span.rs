//! Every request runs in one span (method, route pattern, request id), opened by
//! `tracing-actix-web` before routing and closed with one "request finished"
//! line carrying the status and the time the timing middleware measured. A
//! handler that wrote its own line for a request that succeeded (a stored
//! webhook delivery) marks it `LoggedByHandler`, and this one goes to debug:
//! one line per delivery, since at thousands a second each line is a real
//! share of intake's CPU (docs/benchmarks.md).
use super::client_address::TrustedProxies;
use crate::telemetry::trace_context;
use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
};
use tracing::{Span, field::Empty};
use tracing_actix_web::{RequestId, RootSpanBuilder};

pub struct RequestSpan;

/// A request extension: the handler logged the request's outcome at info.
pub struct LoggedByHandler;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(req: &ServiceRequest) -> Span {
        // The route pattern, never the raw path: the path holds ids, and its
        // text comes from the client.
        let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let request_id = req.extensions().get::<RequestId>().copied();
        let span = tracing::info_span!(
            "request",
            otel.name = %format!("{} {route}", req.method()),
            method = %req.method(),
            route = %route,
            request_id = request_id.map(tracing::field::display),
            status = Empty,
            elapsed_ms = Empty,
            trace_id = Empty,
            span_id = Empty,
        );
        if trace_context::enabled() {
            // A caller's trace is continued only from a trusted proxy: anyone
            // else could graft our spans onto a trace of their choosing.
            let from_proxy = req.app_data::<actix_web::web::Data<TrustedProxies>>().is_some_and(|trusted| {
                let peer = req.peer_addr().map(|a| a.ip());
                peer.is_some_and(|ip| super::client_address::contains(&trusted.0, ip))
            });
            if from_proxy {
                let incoming = req.headers().get("traceparent").and_then(|v| v.to_str().ok());
                trace_context::set_parent(&span, incoming);
            }
            trace_context::record_ids(&span);
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, logged) = match outcome {
            Ok(response) => {
                let logged = response.request().extensions().get::<LoggedByHandler>().is_some();
                (response.status().as_u16(), logged && response.status().is_success())
            }
            Err(err) => (err.as_response_error().status_code().as_u16(), false),
        };
        span.record("status", status);
        if logged {
            span.in_scope(|| tracing::debug!("request finished"));
        } else {
            span.in_scope(|| tracing::info!("request finished"));
        }
    }
}
