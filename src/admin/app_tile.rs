//! `GET /admin/app-tile`: what a customer pastes into their identity
//! provider's app (CONTRACT 3.5), for the admin page's plan view.
use crate::{http::error::ErrorBody, sso::login_redirect::PATH, state::AppState};
use actix_web::{HttpResponse, get, web};
use serde::Serialize;

/// Both the "SAML Audience URL" and the "SAML Consumer URL" (OneLogin's names;
/// Okta's "Audience URI (SP Entity ID)" and "Single sign-on URL") take `url`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AppTileView {
    /// `PUBLIC_URL/sso/login_redirect`, or null when `PUBLIC_URL` is unset.
    url: Option<String>,
    /// The route's path, to put after wherever people reach this service.
    path: &'static str,
    /// Whether `LOGIN_REDIRECT_URL` is set; without it the route answers 404.
    configured: bool,
    /// Where the tile sends people.
    login_redirect_url: Option<String>,
}

#[utoipa::path(
    operation_id = "getAppTile",
    tag = "plans",
    summary = "The URL to paste into the identity provider's app (SAML Audience and Consumer URL)",
    responses(
        (status = 200, description = "The app tile's URL", body = AppTileView),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/app-tile")]
pub async fn show(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(view(&state))
}

/// The app tile's URL and state (the admin page's and the plan portal's).
pub fn view(state: &AppState) -> AppTileView {
    AppTileView {
        url: state.public_url.as_ref().map(|base| format!("{base}{PATH}")),
        path: PATH,
        configured: state.login_redirect_url.is_some(),
        login_redirect_url: state.login_redirect_url.clone(),
    }
}
