//! `/portal/api/…` (CONTRACT 3.6): the admin routes' answers, for the
//! session's plan only. The plan is always the session's (`PortalSession`);
//! no route takes a plan id, so no request can reach another plan's data.
use super::session::PortalSession;
use crate::{
    admin::{app_tile, plans::ScimSetupBody},
    domain::Actor,
    operator::{self, PlanError, scim},
    state::AppState,
};
use actix_web::{HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};

fn plan_of(session: &web::ReqData<PortalSession>) -> String {
    session.0.plan.to_string()
}

/// What the page knows of its own session.
#[derive(Serialize)]
struct SessionView {
    plan_id: String,
    /// The product's page the portal's "back" link returns to.
    return_url: Option<String>,
    expires_at: String,
}

#[get("/session")]
pub async fn current_session(session: web::ReqData<PortalSession>) -> HttpResponse {
    let s = &session.0;
    HttpResponse::Ok().json(SessionView {
        plan_id: s.plan.to_string(),
        return_url: s.return_url.clone(),
        expires_at: s.expires_at.to_rfc3339(),
    })
}

#[get("/plan")]
pub async fn plan(state: web::Data<AppState>, session: web::ReqData<PortalSession>) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(operator::show(&state.db, &plan_of(&session)).await?))
}

#[get("/app-tile")]
pub async fn tile(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(app_tile::view(&state))
}

#[get("/members")]
pub async fn members(
    state: web::Data<AppState>,
    session: web::ReqData<PortalSession>,
    query: web::Query<operator::MembersQuery>,
) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(operator::members(&state.db, &plan_of(&session), &query).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTier {
    tier: String,
}

#[put("/members/{email}")]
pub async fn set_tier(
    state: web::Data<AppState>,
    session: web::ReqData<PortalSession>,
    email: web::Path<String>,
    body: web::Json<SetTier>,
) -> Result<HttpResponse, PlanError> {
    let member = operator::set_tier(&state.db, &plan_of(&session), &email, &body.tier, Actor::Portal).await?;
    Ok(HttpResponse::Ok().json(member))
}

#[get("/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    session: web::ReqData<PortalSession>,
) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(operator::preview(&state.db, &plan_of(&session)).await?))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    after: Option<String>,
    limit: Option<String>,
}

#[get("/audit")]
pub async fn audit(
    state: web::Data<AppState>,
    session: web::ReqData<PortalSession>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PlanError> {
    let page = operator::audit(&state.db, &plan_of(&session), query.after.as_deref(), query.limit.as_deref()).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveHold {
    #[serde(default)]
    through: Option<String>,
}

/// Approves exactly what the page showed (`through`), as the admin route does.
#[post("/hold/approve")]
pub async fn approve_hold(
    state: web::Data<AppState>,
    session: web::ReqData<PortalSession>,
    body: web::Json<ApproveHold>,
) -> Result<HttpResponse, PlanError> {
    let through = body.into_inner().through;
    let after = operator::approve_hold(
        &state.db,
        &plan_of(&session),
        through.as_deref(),
        Actor::Portal,
        state.batch_limits(),
        &state.metrics,
    )
    .await?;
    state.reconciler.wake();
    Ok(HttpResponse::Ok().json(after))
}

/// "Configure SCIM", as `scim-setup` makes it; WorkOS's "back" returns to the portal.
#[post("/scim-setup")]
pub async fn scim_setup(
    state: web::Data<AppState>,
    session: web::ReqData<PortalSession>,
    body: web::Bytes,
) -> Result<HttpResponse, scim::ScimSetupError> {
    let body: ScimSetupBody = if body.iter().all(u8::is_ascii_whitespace) {
        ScimSetupBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| PlanError::BadRequest(format!("body: {e}")))?
    };
    let back = state.public_url.as_deref().map(|base| format!("{base}/portal/"));
    let requested = body.return_url.as_deref().or(back.as_deref());
    let setup =
        scim::scim_setup(&state.db, state.workos.as_ref(), &plan_of(&session), requested, state.public_url.as_deref())
            .await?;
    state.reconciler.wake();
    Ok(HttpResponse::Ok().json(setup))
}
