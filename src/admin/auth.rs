//! Bearer-token check for `/admin`, in constant time.
use crate::{http::error::error_response, startup::AppState};
use actix_web::{
    Error,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{StatusCode, header::AUTHORIZATION},
    middleware::Next,
    web,
};
use subtle::ConstantTimeEq;

pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "not configured")));
    };
    let Some(token) = state.admin_token.as_ref() else {
        return Ok(req.into_response(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin_disabled",
            "the admin API is disabled: set ADMIN_TOKEN",
        )));
    };
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
        return Ok(req.into_response(error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid Authorization: Bearer token is required",
        )));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
