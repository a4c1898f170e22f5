//! `GET /portal/`: the customer's admin's page, served from the binary with
//! the admin page's content policy (no third-party resource, no inline
//! script). It holds no data of its own and never sees the session's secret
//! (an `HttpOnly` cookie): everything comes from `/portal/api`.
use crate::admin::page::CONTENT_SECURITY_POLICY;
use actix_web::{HttpResponse, get, http::header};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

#[get("/portal/")]
pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

#[get("/portal/app.js")]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

#[get("/portal/app.css")]
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}
