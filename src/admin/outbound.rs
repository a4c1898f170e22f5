//! Billing deliveries (CONTRACT 3.3, 7): the list, a retry, a resend. Thin
//! adapters over `crate::operator::outbound`.
use crate::{
    http::error::ErrorBody,
    operator::{
        PlanError,
        outbound::{self, DeliveriesQuery},
        views::{DeliveryPage, DeliveryView},
    },
    state::AppState,
};
use actix_web::{HttpResponse, get, post, web};

#[utoipa::path(
    operation_id = "listOutboundMessages",
    tag = "billing",
    summary = "List outbound billing messages, newest first",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 400, description = "A bad filter", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/outbound")]
pub async fn list(state: web::Data<AppState>, query: web::Query<DeliveriesQuery>) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(outbound::list(&state.db, &query).await?))
}

#[utoipa::path(
    operation_id = "retryOutboundMessage",
    tag = "billing",
    summary = "Send an outbound message again now (a dead one too)",
    params(("id" = String, Path, description = "The message id (msg_…)")),
    responses(
        (status = 200, description = "The delivery after the attempt", body = DeliveryView),
        (status = 404, description = "No such delivery", body = ErrorBody),
        (status = 409, description = "billing_not_configured", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/outbound/{id}/retry")]
pub async fn retry(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(outbound::retry(state.deliverer.as_ref(), &state.db, &path).await?))
}

#[utoipa::path(
    operation_id = "resendPlanBilling",
    tag = "billing",
    summary = "Send the plan's current seats to every configured target again",
    params(("plan_id" = String, Path, description = "The plan's id")),
    responses(
        (status = 202, description = "Queued: a new message for each target"),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 409, description = "billing_not_configured", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/plans/{plan_id}/billing/resend")]
pub async fn resend(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, PlanError> {
    let messages = outbound::resend(&state.db, &path).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "messages": messages })))
}
