//! Liveness and readiness.
use crate::{http::error::error_response, state::AppState};
use actix_web::{HttpResponse, get, http::StatusCode, web};

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match crate::db::ping(&state.db).await {
        Ok(()) if state.example_values.is_empty() => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        // Ready, and said plainly: a proxy in front of a loopback listener
        // could be publishing these (CONTRACT 2).
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({
            "status": "ready",
            "example_values_in_use": state.example_values,
            "warning": "these settings are still the development values from .env.example: set real ones",
        })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer")
        }
    }
}
