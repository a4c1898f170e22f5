//! Logging and tracing set-up: logs pretty on a terminal, JSON in production,
//! filtered by RUST_LOG; traces over OTLP/HTTP when the standard OpenTelemetry
//! environment asks for them (`export.rs`), off (nothing started) otherwise.
//! `trace_context.rs` carries a trace across the hand-offs: the inbox, the
//! reconciler's batch and the billing outbox.
pub mod export;
pub mod trace_context;

use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

/// `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// What to shut down at exit: the trace exporter, when one runs.
#[must_use = "shut the exporter down at exit, or the last spans are lost"]
pub struct Telemetry {
    exporter: Option<export::Exporter>,
}

impl Telemetry {
    /// Sends what is queued (at most a few seconds) and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(exporter) = self.exporter {
            exporter.shutdown().await;
        }
    }
}

/// Logs only (commands other than `serve`).
pub fn init(format: LogFormat) {
    let _ = install(format, None);
}

/// Logs, and traces when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces
/// variant) is set. Call inside the tokio runtime.
pub fn init_with_traces(format: LogFormat) -> anyhow::Result<Telemetry> {
    let exporter = export::from_env()?;
    let layer = exporter.as_ref().map(|e| e.layer());
    install(format, layer);
    Ok(Telemetry { exporter })
}

type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

fn install(format: LogFormat, traces: Option<BoxedLayer>) -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs: BoxedLayer = match format {
        LogFormat::Pretty => fmt::layer().with_target(false).with_filter(filter).boxed(),
        // The span list only: the current span is its last entry, and writing it
        // twice made every line half as long again.
        LogFormat::Json => fmt::layer().json().flatten_event(true).with_current_span(false).with_filter(filter).boxed(),
    };
    let layers: Vec<BoxedLayer> = traces.into_iter().chain(std::iter::once(logs)).collect();
    // try_init: a second call (tests) keeps the first subscriber.
    tracing_subscriber::registry().with(layers).try_init().is_ok()
}
