//! Every request runs in one span (method, route pattern, request id), opened by
//! `tracing-actix-web` before routing and closed with one "request finished"
//! line carrying the status and the time the timing middleware measured; for
//! a webhook delivery also its event, event id and outcome. One line per
//! request: at thousands of deliveries a second, each log line is a real share
//! of the intake's CPU (docs/benchmarks.md).
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
            // A webhook delivery's: what it was and what became of it, so its
            // one line says everything (`webhook::handler`).
            event = Empty,
            event_id = Empty,
            outcome = Empty,
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
        let status = match outcome {
            Ok(response) => response.status().as_u16(),
            Err(err) => err.as_response_error().status_code().as_u16(),
        };
        span.record("status", status);
        span.in_scope(|| tracing::info!("request finished"));
    }
}
