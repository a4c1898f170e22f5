//! `GET /admin/changes` (CONTRACT 3.3): the admin log, oldest first.
use crate::{
    http::error::ErrorBody,
    operator::PlanError,
    state::AppState,
    store::admin_changes::{self, AdminChange},
};
use actix_web::{HttpResponse, get, web};

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// Filters, as they arrive (raw text).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Only this plan's changes.
    pub plan: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1 to 1000 (default 100).
    pub limit: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ChangePage {
    pub data: Vec<AdminChange>,
    pub next: Option<String>,
}

#[utoipa::path(
    operation_id = "listAdminChanges",
    tag = "admin log",
    summary = "Admin actions that changed something, oldest first",
    params(ChangesQuery),
    responses(
        (status = 200, description = "Changes and the next cursor", body = ChangePage),
        (status = 400, description = "A bad cursor, plan or limit", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/changes")]
pub async fn list(state: web::Data<AppState>, query: web::Query<ChangesQuery>) -> Result<HttpResponse, PlanError> {
    let bad = |m: &str| PlanError::BadRequest(m.to_owned());
    let present = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
    let plan = match present(&query.plan) {
        None => None,
        Some(raw) => Some(crate::domain::PlanId::parse(&raw).map_err(|_| bad("plan must be a plan id"))?),
    };
    let after = match present(&query.after) {
        None => 0,
        Some(raw) => raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| bad("after must be a cursor"))?,
    };
    let limit = match present(&query.limit) {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad(&format!("limit must be between 1 and {MAX_LIMIT}")))?,
    };
    let (data, more) = admin_changes::page(&state.db, plan.as_ref().map(|p| p.as_str()), after, limit).await?;
    let next = if more { data.last().map(|c| c.seq.to_string()) } else { None };
    Ok(HttpResponse::Ok().json(ChangePage { data, next }))
}
