//! `GET /admin/events/{event_id}`: what became of a delivery.
use crate::{
    domain::EventId,
    http::error::{ErrorBody, error_response, log_chain},
    inbox::status,
    state::AppState,
};
use actix_web::{HttpResponse, get, http::StatusCode, web};
use serde::Serialize;

/// What became of a stored event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventView {
    id: String,
    event: String,
    status: String,
    received_at: String,
    applied_at: Option<String>,
    error: Option<String>,
}

#[utoipa::path(
    operation_id = "getEvent",
    tag = "events",
    params(("event_id" = String, Path, description = "The WorkOS event id")),
    responses(
        (status = 200, description = "The event's status", body = EventView),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/events/{event_id}")]
pub async fn show(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let Ok(id) = EventId::parse(&path) else {
        return error_response(StatusCode::NOT_FOUND, "not_found", "no such event");
    };
    match status::find(&state.db, &id).await {
        Ok(Some(e)) => HttpResponse::Ok().json(EventView {
            id: e.id,
            event: e.event,
            // A retry note is kept in `error` while the event stays pending.
            error: e.error,
            status: e.status.as_str().to_owned(),
            received_at: e.received_at.to_rfc3339(),
            applied_at: e.applied_at.map(|t| t.to_rfc3339()),
        }),
        Ok(None) => error_response(StatusCode::NOT_FOUND, "not_found", "no such event"),
        Err(err) => {
            log_chain("event lookup failed", &err);
            error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unavailable; retry later")
        }
    }
}
