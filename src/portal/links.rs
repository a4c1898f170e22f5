//! Plan portal links: made for the product's backend (single use, five
//! minutes), opened by the customer's admin's browser. Opening one starts a
//! session and redirects to `/portal/` with nothing secret left in the address.
use super::session;
use crate::{
    domain::{Micros, PlanId},
    operator::{self, PlanError},
    state::AppState,
    store::portal,
};
use actix_web::{HttpRequest, HttpResponse, get, http::header, web};
use serde::{Deserialize, Serialize};

/// `POST /admin/plans/{id}/portal-link`'s answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PortalLink {
    /// Open it in the customer's admin's browser, once, within five minutes.
    pub link: String,
    pub expires_at: String,
}

/// Makes a link for the plan. `base`: where people reach this service
/// (`PUBLIC_URL`, else the address the request came to).
pub async fn create(
    state: &AppState,
    plan_id: &str,
    return_url: Option<&str>,
    base: &str,
) -> Result<PortalLink, PlanError> {
    let plan = operator::existing(&state.db, plan_id).await?;
    let return_url = match return_url.map(str::trim).filter(|r| !r.is_empty()) {
        Some(raw) => match reqwest::Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Some(raw.to_owned()),
            _ => return Err(PlanError::BadRequest("return_url must be an http:// or https:// URL".into())),
        },
        None => None,
    };
    let token = portal::new_token();
    let now = Micros::now();
    let expires_at = portal::create_link(&state.db, &plan.id, &token, return_url.as_deref(), now).await?;
    Ok(PortalLink {
        link: format!("{}/portal/open?token={token}", base.trim_end_matches('/')),
        expires_at: expires_at.to_rfc3339(),
    })
}

/// Ends every portal session of the plan and voids its unused links.
pub async fn revoke(state: &AppState, plan_id: &str) -> Result<(), PlanError> {
    let plan: PlanId = operator::existing(&state.db, plan_id).await?.id;
    let ended = portal::revoke_plan(&state.db, &plan, Micros::now()).await?;
    tracing::info!(plan_id = %plan, ended, "plan portal: sessions and links revoked");
    Ok(())
}

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
