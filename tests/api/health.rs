use crate::both_stores;
use crate::helpers::{Store, spawn_app, spawn_app_with};

async fn health_answers_while_the_process_runs(store: Store) {
    let app = spawn_app(store).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
}

async fn readiness_answers_when_the_database_does(store: Store) {
    let app = spawn_app(store).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ready"}));
    // With a value of .env.example still in use it says so, naming the
    // setting, never its value (CONTRACT 2).
    let example = seatsync::config::SHIPPED_SECRETS.iter().find(|(name, _)| *name == "ADMIN_TOKEN").unwrap().1;
    let app = spawn_app_with(store, &[("ADMIN_TOKEN", example)]).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["example_values_in_use"], serde_json::json!(["ADMIN_TOKEN"]), "{body}");
    assert!(!body.to_string().contains(example));
}

async fn readiness_is_503_when_the_database_is_gone(store: Store) {
    let app = spawn_app(store).await;
    app.db.close_by_ref().await.unwrap();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

async fn metrics_count_requests_by_route_and_status(store: Store) {
    let app = spawn_app(store).await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    app.client.get(app.url("/healthz")).send().await.unwrap();
    app.client.get(app.url("/nowhere")).send().await.unwrap();
    let text = app.metrics_text().await;
    assert!(text.contains("seatsync_http_requests_total{route=\"/healthz\",status=\"200\"} 2\n"), "{text}");
    assert!(text.contains("seatsync_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n"), "{text}");
    assert!(text.contains("seatsync_database_up 1\n"), "{text}");
    let lag = text.lines().find_map(|l| l.strip_prefix("seatsync_reconciler_lag_seconds ")).expect("a lag gauge");
    assert_eq!(lag.parse::<f64>().unwrap(), 0.0, "{text}");
}

both_stores!(
    health_answers_while_the_process_runs,
    readiness_answers_when_the_database_does,
    readiness_is_503_when_the_database_is_gone,
    metrics_count_requests_by_route_and_status,
);
