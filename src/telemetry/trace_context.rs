//! A trace across the hand-offs (CONTRACT 7.1, W3C Trace Context): the
//! intake's span context is stored with the event as a `traceparent`, the
//! reconciler's spans take it up again, the billing message stores the context
//! of the change that wrote it, and its delivery sends it on. Every function
//! here does nothing when traces are off.
use opentelemetry::{Context, propagation::TextMapPropagator, trace::TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ON: AtomicBool = AtomicBool::new(false);

pub(super) fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Whether traces are exported (checked before any work for them).
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The span's context as a `traceparent` (sampled ones only: an unsampled
/// trace is not worth a column).
pub fn traceparent_of(span: &Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if !span_context.is_valid() || !span_context.is_sampled() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// The current span's `traceparent`.
pub fn current() -> Option<String> {
    traceparent_of(&Span::current())
}

/// A stored or received `traceparent`, as a context (invalid when malformed).
fn context_of(traceparent: &str) -> Context {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    TraceContextPropagator::new().extract(&carrier)
}

/// Makes `span` a child of `traceparent` (call before the span is entered).
pub fn set_parent(span: &Span, traceparent: Option<&str>) {
    if let (true, Some(traceparent)) = (enabled(), traceparent) {
        let context = context_of(traceparent);
        if context.span().span_context().is_valid() {
            let _ = span.set_parent(context);
        }
    }
}

/// Links `span` to the span `traceparent` names (a batch to its events).
pub fn link(span: &Span, traceparent: Option<&str>) {
    if let (true, Some(traceparent)) = (enabled(), traceparent) {
        let context = context_of(traceparent);
        let span_context = context.span().span_context().clone();
        if span_context.is_valid() {
            span.add_link(span_context);
        }
    }
}

/// Records `trace_id` and `span_id` on `span` (declared `Empty` there), so
/// its log lines carry them.
pub fn record_ids(span: &Span) {
    if !enabled() {
        return;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
        span.record("span_id", span_context.span_id().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_through_a_context() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = context_of(tp);
        assert!(context.span().span_context().is_valid());
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
        assert_eq!(carrier.get("traceparent").map(String::as_str), Some(tp));
        assert!(!context_of("garbage").span().span_context().is_valid());
    }

    #[test]
    fn nothing_is_made_while_traces_are_off() {
        assert!(!enabled());
        assert_eq!(current(), None);
    }
}
