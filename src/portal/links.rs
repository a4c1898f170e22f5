//! Plan portal links (made by `operator::portal` for the product's backend:
//! single use, five minutes), opened here by the customer's admin's browser. Opening one starts a
//! session and redirects to `/portal/` with nothing secret left in the address.
use super::session;
use crate::{domain::Micros, state::AppState, store::portal};
use actix_web::{HttpRequest, HttpResponse, get, http::header, web};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct OpenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /portal/open?token=…`: the link. Used once, it becomes a session
/// cookie and a redirect to `/portal/`.
#[get("/portal/open")]
pub async fn open(state: web::Data<AppState>, query: web::Query<OpenQuery>, req: HttpRequest) -> HttpResponse {
    let now = Micros::now();
    let opened = match portal::use_link(&state.db, query.token.trim(), now).await {
        Ok(opened) => opened,
        Err(err) => {
            crate::http::error::log_chain("plan portal: a link could not be checked", &err);
            return page(503, "The plan portal is unavailable right now. Try again in a minute.");
        }
    };
    let Some(opened) = opened else {
        tracing::info!(client = %client(&state, &req), "plan portal: an unknown, used or expired link was opened");
        return page(
            410,
            "This link has expired or was already used. Open the plan portal again from your product's settings.",
        );
    };
    let token = portal::new_token();
    if let Err(err) = portal::create_session(&state.db, &opened, &token, now).await {
        crate::http::error::log_chain("plan portal: a session could not be stored", &err);
        return page(503, "The plan portal is unavailable right now. Try again in a minute.");
    }
    tracing::info!(plan_id = %opened.plan, client = %client(&state, &req), "plan portal: session started");
    let secure = state.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/portal/"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::SET_COOKIE, session::set_cookie(&token, secure)))
        .finish()
}

fn client(state: &AppState, req: &HttpRequest) -> std::net::IpAddr {
    crate::http::client_address::of_request(&state.trusted_proxies, req)
}

/// A small page for a link that opens nothing.
fn page(status: u16, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::GONE);
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Plan portal</title></head>\
         <body><h1>Plan portal</h1><p id=\"link-refused\">{message}</p></body></html>"
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, crate::admin::page::CONTENT_SECURITY_POLICY))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}
