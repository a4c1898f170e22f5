//! `GET /admin/`: the operators' page, served from the binary (no CDN, no build
//! step, nothing fetched at run time). It holds no data of its own: it asks for
//! the admin token once, keeps it in the tab's `sessionStorage`, and reads
//! everything through the admin API, so it can do nothing the API cannot.
use actix_web::{HttpResponse, get, http::header};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// Only the page's own script and style, data only from this origin, no
/// framing, no forms posted elsewhere: a value that slipped past escaping
/// still could not load or run anything.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A page file with the page's headers (the plan portal's page serves its own
/// files through this too).
pub(crate) fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

#[utoipa::path(
    operation_id = "getAdminPage",
    tag = "page",
    summary = "The admin page (HTML; no token needed to load it, every data call needs one)",
    responses((status = 200, description = "The page", content_type = "text/html"))
)]
#[get("/admin/")]
pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

#[utoipa::path(
    operation_id = "getAdminPageScript",
    tag = "page",
    summary = "The page's script",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript"))
)]
#[get("/admin/app.js")]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

#[utoipa::path(
    operation_id = "getAdminPageStyle",
    tag = "page",
    summary = "The page's style sheet",
    responses((status = 200, description = "CSS", content_type = "text/css"))
)]
#[get("/admin/app.css")]
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}
