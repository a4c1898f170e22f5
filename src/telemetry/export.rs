//! The OTLP/HTTP trace exporter (CONTRACT 2: the standard `OTEL_*`
//! environment). Off unless an endpoint is set: then no thread, no queue, no
//! layer. On, spans go through a batch processor with a bounded queue on the
//! SDK's own thread (a full queue drops spans, never waits), sent by our own
//! reqwest client (no redirects, proxies as every client here) on the tokio
//! runtime. The SDK reads the endpoint, headers, time-out, sampler and resource
//! variables itself; this module refuses only what it cannot honour.
use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider},
};
use std::time::Duration;
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{self, FilterExt},
};

/// Spans waiting to be sent at most; past it new spans are dropped (and counted
/// by the SDK), so a collector that is down costs bounded memory.
const MAX_QUEUE: usize = 4096;
const BATCH: usize = 512;

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether the environment asks for traces.
pub fn wanted() -> bool {
    !matches!(std::env::var("OTEL_SDK_DISABLED").as_deref(), Ok("true"))
        && !matches!(std::env::var("OTEL_TRACES_EXPORTER").as_deref(), Ok("none"))
        && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// A running exporter.
pub struct Exporter {
    provider: SdkTracerProvider,
}

/// Our HTTP client for the exporter: the SDK's thread waits on a task the
/// tokio runtime runs.
#[derive(Debug, Clone)]
struct OtlpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OtlpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request: reqwest::Request = request.try_into()?;
        let client = self.client.clone();
        self.runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let (status, headers) = (response.status(), response.headers().clone());
                let mut out = Response::builder().status(status).body(response.bytes().await?)?;
                *out.headers_mut() = headers;
                Ok::<_, HttpError>(out)
            })
            .await?
    }
}

/// The exporter the environment asks for, or None.
pub fn from_env() -> anyhow::Result<Option<Exporter>> {
    if !wanted() {
        return Ok(None);
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    if !matches!(protocol.trim(), "" | "http/protobuf") {
        anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (the only protocol built in), not {protocol:?}"
        );
    }
    let client = OtlpClient {
        client: crate::http_client::client_builder().timeout(Duration::from_secs(10)).build()?,
        runtime: tokio::runtime::Handle::try_current().context("traces need the tokio runtime")?,
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(client)
        .build()
        .context("OTEL_EXPORTER_OTLP_ENDPOINT: the trace exporter could not be built")?;
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(MAX_QUEUE)
                .with_max_export_batch_size(BATCH)
                .with_scheduled_delay(Duration::from_secs(2))
                .build(),
        )
        .build();
    // The SDK reads OTEL_TRACES_SAMPLER (default: parent-based, always on),
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
    let mut builder = SdkTracerProvider::builder().with_span_processor(processor);
    builder = if set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name"))
    {
        builder.with_resource(Resource::builder().build())
    } else {
        builder.with_resource(Resource::builder().with_service_name("seatsync").build())
    };
    let provider = builder.build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    super::trace_context::enable();
    Ok(Some(Exporter { provider }))
}

impl Exporter {
    /// The tracing layer that turns our spans into OpenTelemetry spans. The
    /// exporter's own HTTP work is never traced (it would trace itself).
    pub fn layer(&self) -> Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> {
        let quiet = "info,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,opentelemetry_http=off,\
                     reqwest=off,hyper=off,hyper_util=off,h2=off,sqlx=off,sea_orm=off";
        let tracer = self.provider.tracer("seatsync");
        // Spans only: log lines stay log lines (they carry the trace's ids),
        // and a span names no source file or thread.
        let spans_only = filter::filter_fn(|metadata| metadata.is_span());
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(spans_only.and(EnvFilter::new(quiet)))
            .boxed()
    }

    /// Sends what is queued and stops (the SDK waits at most a few seconds).
    pub async fn shutdown(self) {
        let provider = self.provider;
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
}
