//! One delivery, one trace (CONTRACT 7.1, issue "follow one delivery end to
//! end"): `serve` exports to an in-test OTLP/HTTP collector, whose bodies
//! OpenTelemetry's own protobuf definitions decode (`tests/decode_otlp.py`).
//! The webhook's intake, the event's apply and the billing delivery are spans
//! of one trace; the billing receiver gets that trace's `traceparent`; no span
//! attribute holds an email or a secret. Both stores.
use crate::both_stores;
use crate::fake_billing::{BILLING_SECRET, FakeBilling};
use crate::helpers::*;
use actix_web::{HttpResponse, web};
use base64::Engine;
use serde_json::{Value, json};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// An OTLP/HTTP collector that keeps every body it is sent.
struct Collector {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    _handle: actix_web::dev::ServerHandle,
}

impl Collector {
    fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let kept = bodies.clone();
        let (url, handle) = serve_fake(1, move |app| {
            let kept = kept.clone();
            app.route(
                "/v1/traces",
                web::post().to(move |body: web::Bytes| {
                    let kept = kept.clone();
                    async move {
                        kept.lock().unwrap().push(body.to_vec());
                        HttpResponse::Ok().content_type("application/x-protobuf").body(Vec::<u8>::new())
                    }
                }),
            );
        });
        Self { url, bodies, _handle: handle }
    }

    /// Every span received, decoded by the reference definitions (None
    /// without the venv, outside CI).
    fn spans(&self) -> Option<Vec<Value>> {
        let python = crate::helpers::venv_python("opentelemetry.proto")?;
        let bodies: Vec<String> =
            self.bodies.lock().unwrap().iter().map(|b| base64::engine::general_purpose::STANDARD.encode(b)).collect();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/decode_otlp.py");
        let mut child = std::process::Command::new(python)
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(serde_json::to_string(&bodies).unwrap().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "the reference decoder refused a body");
        Some(serde_json::from_slice(&out.stdout).unwrap())
    }
}

async fn one_delivery_is_one_trace_from_the_webhook_to_billing(store: Store) {
    let collector = Collector::start();
    let receiver = FakeBilling::start();
    let database = TestDatabase::create(store).await;
    let mut env: Vec<(String, String)> = base_env(&database.url).into_iter().collect();
    env.extend(receiver.env().into_iter().map(|(k, v)| (k.to_owned(), v)));
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), collector.url.clone()),
        ("OTEL_SERVICE_NAME".to_owned(), "seatsync-under-test".to_owned()),
    ]);
    let (mut child, port, lines) =
        tokio::task::spawn_blocking(move || crate::processes::start_server_logged(&env)).await.unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = seatsync::http_client::client();
    let created: Value = client
        .post(format!("{base}/admin/plans"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "Acme", "organization_id": ORG}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let plan = created["id"].as_str().unwrap().to_owned();
    let body =
        UserEvent { id: "event_traced", user: "directory_user_ada", email: "ada@example.com", ..Default::default() }
            .json()
            .to_string();
    let signature = seatsync::webhook::signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes());
    let accepted =
        client.post(format!("{base}/webhooks/workos")).header("WorkOS-Signature", signature).body(body).send().await;
    assert_eq!(accepted.unwrap().status(), 200);
    let got = receiver.wait_for("the seat message", |d| d.iter().any(|d| d.plan() == plan)).await;
    let delivery = got.iter().find(|d| d.plan() == plan).unwrap().clone();
    // Stopped gracefully: the exporter sends what it holds before exiting.
    crate::processes::signal(&child, "TERM");
    let exited = tokio::task::spawn_blocking(move || crate::processes::wait_exit(&mut child, Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(exited.is_some_and(|s| s.success()), "serve stopped cleanly on TERM");
    // The reader thread ends with the pipe: every line is in.
    let log: Vec<Value> = lines.iter().collect();

    let parts: Vec<&str> = delivery.traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "the receiver got a traceparent: {:?}", delivery.traceparent);
    let (trace_id, delivery_span) = (parts[1].to_owned(), parts[2].to_owned());
    let Some(spans) = collector.spans() else { return };
    let in_trace: Vec<&Value> = spans.iter().filter(|s| s["trace_id"] == trace_id.as_str()).collect();
    let named = |name: &str| in_trace.iter().copied().find(|s| s["name"] == name);
    let intake = named("POST /webhooks/workos").unwrap_or_else(|| panic!("no intake span in {in_trace:#?}"));
    let apply = named("apply event").unwrap_or_else(|| panic!("no apply span in {in_trace:#?}"));
    let sent = named("billing delivery").unwrap_or_else(|| panic!("no delivery span in {in_trace:#?}"));
    assert_eq!(apply["parent_span_id"], intake["span_id"], "the apply is a child of the intake");
    assert_eq!(sent["span_id"], delivery_span.as_str(), "the receiver got the delivery span's context");
    assert_eq!(sent["parent_span_id"], apply["span_id"], "the delivery follows the change that wrote it");
    assert_eq!(apply["attributes"]["event_id"], "event_traced");
    assert_eq!(apply["attributes"]["event_type"], "dsync.user.created");
    assert_eq!(apply["attributes"]["outcome"], "applied");
    assert_eq!(apply["attributes"]["plan_id"], plan.as_str());
    assert_eq!(apply["attributes"]["organization_id"], ORG);
    assert_eq!(sent["attributes"]["message_id"], delivery.id.as_str());
    assert_eq!(sent["attributes"]["outcome"], "delivered");
    assert_eq!(sent["service"], "seatsync-under-test");
    // The batch that applied it links to the intake.
    let batch = spans
        .iter()
        .find(|s| {
            s["name"] == "reconcile batch"
                && s["links"].as_array().unwrap().iter().any(|l| l["span_id"] == intake["span_id"])
        })
        .unwrap_or_else(|| panic!("no batch linking to the intake in {spans:#?}"));
    assert_ne!(batch["trace_id"], trace_id.as_str(), "a batch is a trace of its own, linked");
    // Kept for the docs' rendering of a real trace (docs/operating.md).
    let mut kept: Vec<&Value> = in_trace.clone();
    kept.push(batch);
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/trace-example.json");
    let _ = std::fs::write(example, serde_json::to_string_pretty(&kept).unwrap());
    // Nothing personal or secret in any attribute.
    let text = serde_json::to_string(&spans).unwrap();
    for secret in ["ada@example.com", SECRET, ADMIN_TOKEN, BILLING_SECRET] {
        assert!(!text.contains(secret), "{secret} is in a span: {text}");
    }
    // Log lines in a span carry its trace.
    let traced = log.iter().any(|line| line.to_string().contains(&format!("\"trace_id\":\"{trace_id}\"")));
    assert!(traced, "no log line names the trace: {log:?}");
    drop(database);
}

both_stores!(one_delivery_is_one_trace_from_the_webhook_to_billing);
