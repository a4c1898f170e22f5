//! `GET /portal/`: the customer's admin's page, served from the binary with
//! the admin page's content policy (no third-party resource, no inline
//! script). It holds no data of its own and never sees the session's secret
//! (an `HttpOnly` cookie): everything comes from `/portal/api`.
use crate::admin::page::asset;
use actix_web::{HttpResponse, get};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

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
