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
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer")
        }
    }
}
