//! Hostile input (issue 13). Property tests over arbitrary bytes and arbitrary
//! JSON for the signature header parser, the envelope parser and the event
//! translation: nothing panics, every refusal is a typed error. 2,000 cases
//! each in every `cargo test` (seconds of a debug build's time); CI and a
//! release run ask for more: `HOSTILE_CASES=10000000 cargo test --release --test api
//! hostile_input` runs ten million. Then adversarial deliveries against the
//! real server, which must answer each with its contract status and stay up.
use crate::both_stores;
use crate::helpers::*;
use futures_util::StreamExt;
use proptest::prelude::*;
use seatsync::{
    events::{Envelope, translate},
    webhook::signature,
};
use serde_json::{Value, json};

fn cases() -> u32 {
    std::env::var("HOSTILE_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000)
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![Just("active"), Just("inactive"), Just("suspended"), Just("deleted")].prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("email".to_owned()),
                    Just("emails".to_owned()),
                    Just("state".to_owned()),
                    Just("directory_id".to_owned()),
                    Just("organization_id".to_owned()),
                    Just("updated_at".to_owned()),
                    Just("primary".to_owned()),
                    Just("value".to_owned()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_event_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("dsync.activated".to_owned()),
        Just("dsync.deleted".to_owned()),
        Just("dsync.user.created".to_owned()),
        Just("dsync.user.updated".to_owned()),
        Just("dsync.user.deleted".to_owned()),
        ".{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_signature_header_parser_never_panics(raw in ".{0,200}", now in any::<i64>(), tolerance in any::<i64>()) {
        let _ = signature::parse_header(&raw);
        let _ = signature::check_header(Some(&raw), now, tolerance);
    }

    #[test]
    fn well_formed_looking_headers_never_panic(t in any::<i64>(), v1 in "[0-9a-fA-F]{0,70}", extra in "[ ,=a-z0-9]{0,20}") {
        let raw = format!("t={t},{extra} v1={v1}");
        if let Ok(header) = signature::check_header(Some(&raw), t, 1) {
            let _ = signature::verify_body(&header, b"body", &[b"secret"]);
        }
    }

    #[test]
    fn the_envelope_parser_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(envelope) = Envelope::parse(&body) {
            let _ = translate(&envelope);
        }
    }

    #[test]
    fn translation_never_panics_on_any_payload(id in ".{0,40}", event in any_event_type(), data in any_json()) {
        let body = json!({"object": "event", "id": id, "event": event, "data": data, "created_at": "2026-01-01T00:00:00.000Z"});
        if let Ok(envelope) = Envelope::parse(body.to_string().as_bytes()) {
            let _ = translate(&envelope);
        }
    }
}

async fn status_and_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

async fn adversarial_deliveries_get_their_contract_answers_and_the_server_stays_up(store: Store) {
    let app = spawn_app_with(store, &[("WEBHOOK_MAX_BODY_BYTES", "4096")]).await;
    let body = br#"{"id": "event_x", "event": "dsync.user.created", "data": {}}"#;

    // 10,000 distinct invalid signatures.
    let url = app.url("/webhooks/workos");
    let statuses: Vec<u16> = futures_util::stream::iter(0..10_000u32)
        .map(|i| {
            let header = format!("t={}, v1={:064x}", now_ms(), i);
            let request = app.client.post(&url).header("WorkOS-Signature", header).body(body.to_vec());
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(statuses.len(), 10_000);
    assert!(statuses.iter().all(|s| *s == 401), "only 401s expected");

    // Bodies one byte under and over the limit.
    let padded = |len: usize| {
        let head = r#"{"id": "event_pad", "event": "connection.activated", "data": {}, "pad": ""#;
        let mut s = head.to_owned();
        s.push_str(&"x".repeat(len - head.len() - 2));
        s.push_str("\"}");
        assert_eq!(s.len(), len);
        s.into_bytes()
    };
    assert_eq!(status_and_code(app.post_webhook(&padded(4095)).await).await, (200, String::new()));
    assert_eq!(status_and_code(app.post_webhook(&padded(4097)).await).await, (413, "payload_too_large".into()));

    let big = spawn_app(store).await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("deep nesting", format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(), 422, "invalid_event"),
        (
            "deep object nesting",
            format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)).into_bytes(),
            422,
            "invalid_event",
        ),
        (
            "a huge string",
            json!({"id": "event_huge", "event": "dsync.user.created", "data": {"x": "y".repeat(500_000)}})
                .to_string()
                .into_bytes(),
            200,
            "",
        ),
        (
            "invalid UTF-8",
            b"{\"id\": \"event_\xff\xfe\", \"event\": \"dsync.user.created\"}".to_vec(),
            422,
            "invalid_event",
        ),
        (
            "duplicate keys",
            br#"{"id": "event_dup", "id": "event_dup2", "event": "dsync.user.created", "data": {}}"#.to_vec(),
            422,
            "invalid_event",
        ),
        (
            "an id of 10,000 characters",
            json!({"id": "e".repeat(10_000), "event": "dsync.user.created", "data": {}}).to_string().into_bytes(),
            422,
            "invalid_event",
        ),
    ];
    for (what, body, status, code) in cases {
        let answer = status_and_code(big.post_webhook(&body).await).await;
        assert_eq!(answer, (status, code.to_owned()), "{what}");
    }
    // A `t` of i64::MAX is out of tolerance, not an overflow.
    let header = format!("t={}, v1={}", i64::MAX, "0".repeat(64));
    let answer = status_and_code(big.post_webhook_with(body, Some(&header)).await).await;
    assert_eq!(answer, (401, "timestamp_out_of_tolerance".into()));
    let header = format!("t={}9, v1={}", i64::MAX, "0".repeat(64));
    let answer = status_and_code(big.post_webhook_with(body, Some(&header)).await).await;
    assert_eq!(answer, (401, "malformed_signature".into()));

    // Still up, still storing.
    for server in [&app, &big] {
        assert_eq!(server.client.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    }
    let fine = json!({"id": "event_after", "event": "dsync.user.created", "data": {}}).to_string();
    assert_eq!(big.post_webhook(fine.as_bytes()).await.status(), 200);
}

both_stores!(adversarial_deliveries_get_their_contract_answers_and_the_server_stays_up);
