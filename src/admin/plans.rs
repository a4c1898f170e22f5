//! Plan routes: thin adapters from HTTP to `crate::operator`.
use crate::{
    domain::Actor,
    http::error::{ErrorBody, error_response, log_chain},
    operator::{
        self, AuditPage, MemberPage, MemberView, NewPlan, PlanError, PlanView, PreviewView,
        scim::{self, ScimSetup, ScimSetupError},
    },
    state::AppState,
};
use actix_web::{HttpResponse, ResponseError, get, http::StatusCode, patch, post, put, web};
use serde::Deserialize;

impl ResponseError for PlanError {
    fn status_code(&self) -> StatusCode {
        match self {
            PlanError::NotFound(_) => StatusCode::NOT_FOUND,
            PlanError::PlanExists(_)
            | PlanError::SeatManagedByDirectory
            | PlanError::NoHold
            | PlanError::BillingNotConfigured
            | PlanError::AlreadyDelivered => StatusCode::CONFLICT,
            PlanError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PlanError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            PlanError::NotFound(_) => "not_found",
            PlanError::PlanExists(_) => "plan_exists",
            PlanError::SeatManagedByDirectory => "seat_managed_by_directory",
            PlanError::NoHold => "no_hold",
            PlanError::BillingNotConfigured => "billing_not_configured",
            PlanError::AlreadyDelivered => "already_delivered",
            PlanError::BadRequest(_) => "bad_request",
            PlanError::Database(_) => {
                log_chain("admin request failed", self);
                "unavailable"
            }
        };
        let message = match self {
            PlanError::Database(_) => "the database is unavailable; retry later".to_owned(),
            other => other.to_string(),
        };
        error_response(self.status_code(), code, &message)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlan {
    name: String,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    test_mode_max_users: Option<i64>,
    /// The product's own id for the customer: unique, in every billing message.
    #[serde(default)]
    external_id: Option<String>,
}

#[utoipa::path(
    operation_id = "createPlan",
    tag = "plans",
    summary = "Create a plan",
    request_body = CreatePlan,
    responses(
        (status = 201, description = "The new plan", body = PlanView),
        (status = 400, description = "A bad field", body = ErrorBody),
        (status = 409, description = "The organization has a plan (plan_exists)", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/plans")]
pub async fn create(state: web::Data<AppState>, body: web::Json<CreatePlan>) -> Result<HttpResponse, PlanError> {
    let body = body.into_inner();
    let plan = operator::create(
        &state.db,
        NewPlan {
            name: body.name,
            organization_id: body.organization_id,
            test_mode_max_users: body.test_mode_max_users,
            external_id: body.external_id,
        },
        state.test_mode_max_users,
    )
    .await?;
    // Parked events for this organization can go now.
    state.reconciler.wake();
    Ok(HttpResponse::Created().json(plan))
}

impl ResponseError for ScimSetupError {
    fn status_code(&self) -> StatusCode {
        match self {
            ScimSetupError::Plan(err) => err.status_code(),
            ScimSetupError::NotConfigured => StatusCode::CONFLICT,
            ScimSetupError::Refused(_) => StatusCode::BAD_GATEWAY,
            ScimSetupError::Unavailable(_) | ScimSetupError::Busy | ScimSetupError::TimedOut => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, message) = match self {
            ScimSetupError::Plan(err) => return err.error_response(),
            ScimSetupError::NotConfigured => ("workos_not_configured", self.to_string()),
            // WorkOS's own words; our key is never part of them.
            ScimSetupError::Refused(err) => ("workos_error", err.to_string()),
            ScimSetupError::Unavailable(_) | ScimSetupError::Busy | ScimSetupError::TimedOut => {
                ("workos_unavailable", self.to_string())
            }
        };
        if !matches!(self, ScimSetupError::NotConfigured) {
            log_chain("SCIM setup failed", self);
        }
        error_response(self.status_code(), code, &message)
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimSetupBody {
    /// Where WorkOS's "back" button goes; default PUBLIC_URL/admin/.
    #[serde(default)]
    pub return_url: Option<String>,
}

/// The product's "Configure SCIM" button. The body is optional.
#[utoipa::path(
    operation_id = "createScimSetupLink",
    tag = "plans",
    summary = "Configure SCIM: create the WorkOS organization if needed and return a fresh Admin Portal link",
    params(("plan_id" = String, Path, description = "The plan's id")),
    request_body = Option<ScimSetupBody>,
    responses(
        (status = 200, description = "A link valid five minutes", body = ScimSetup),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 409, description = "workos_not_configured: no WORKOS_API_KEY", body = ErrorBody),
        (status = 502, description = "workos_error: WorkOS refused", body = ErrorBody),
        (status = 503, description = "workos_unavailable: WorkOS cannot be reached", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/plans/{plan_id}/scim-setup")]
pub async fn scim_setup(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ScimSetupError> {
    // The body is optional (a bare POST is the button); when there is one it
    // must be the documented object, so a misspelt field is a 400, not ignored.
    let body: ScimSetupBody = if body.iter().all(u8::is_ascii_whitespace) {
        ScimSetupBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| PlanError::BadRequest(format!("body: {e}")))?
    };
    let setup = scim::scim_setup(
        &state.db,
        state.workos.as_ref(),
        &path,
        body.return_url.as_deref(),
        state.public_url.as_deref(),
    )
    .await?;
    // Events that waited for the organization can go now.
    state.reconciler.wake();
    Ok(HttpResponse::Ok().json(setup))
}

#[utoipa::path(
    operation_id = "listPlans",
    tag = "plans",
    summary = "One page of plans, sorted by name then id, filtered",
    params(operator::PlansQuery),
    responses(
        (status = 200, description = "The plans and the next cursor", body = operator::PlanPage),
        (status = 400, description = "A bad filter, cursor or limit", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/plans")]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<operator::PlansQuery>,
) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(operator::list_page(&state.db, &query).await?))
}

#[utoipa::path(
    operation_id = "getPlan",
    tag = "plans",
    summary = "One plan with its counts and hold",
    params(("plan_id" = String, Path, description = "The plan's id")),
    responses(
        (status = 200, description = "The plan", body = PlanView),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/plans/{plan_id}")]
pub async fn show(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(operator::show(&state.db, &path).await?))
}

/// `null` and absent are different: `Some(None)` is an explicit null.
fn explicit_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPlan {
    #[serde(default)]
    name: Option<String>,
    /// The product's own id for the customer (unique); null removes it.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<String>)]
    external_id: Option<Option<String>>,
    #[serde(default)]
    test_mode_max_users: Option<i64>,
    /// null: back to the default; 0 turns the guard off.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<i64>)]
    release_limit: Option<Option<i64>>,
    /// At most this many seats may turn paid because of the directory in the
    /// guard's window (more are held for approval); null turns it off.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<i64>)]
    grant_limit: Option<Option<i64>>,
    /// `si_…`: its quantity follows the paid seats (set: sent at once); null stops.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<String>)]
    stripe_subscription_item: Option<Option<String>>,
}

#[utoipa::path(
    operation_id = "updatePlan",
    tag = "plans",
    summary = "Change a plan's name, threshold, release or grant limit, external id or Stripe item",
    params(("plan_id" = String, Path, description = "The plan's id")),
    request_body = PatchPlan,
    responses(
        (status = 200, description = "The plan", body = PlanView),
        (status = 400, description = "A bad field", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[patch("/plans/{plan_id}")]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PatchPlan>,
) -> Result<HttpResponse, PlanError> {
    let body = body.into_inner();
    let changes = operator::PlanChanges {
        name: body.name,
        external_id: body.external_id,
        test_mode_max_users: body.test_mode_max_users,
        release_limit: body.release_limit,
        grant_limit: body.grant_limit,
        stripe_subscription_item: body.stripe_subscription_item,
    };
    Ok(HttpResponse::Ok().json(operator::update(&state.db, &path, changes).await?))
}

/// `POST /admin/plans/{plan_id}/hold/approve`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveHold {
    /// The hold's `through` as the plan showed it: exactly the held events
    /// stored up to and including this one are approved.
    #[schema(example = "event_01HXYZ")]
    #[serde(default)]
    through: Option<String>,
}

#[utoipa::path(
    operation_id = "approvePlanHold",
    tag = "plans",
    summary = "Approve a release-guard hold through the event the plan showed",
    description = "Applies exactly the held events stored up to and including `through` (the plan's \
                   `hold.through` when it was read), in order and without limit; the guard counts from \
                   zero after them, and later held events are judged again (they may apply, or hold again \
                   with a new `through`). Answers with the plan after the approved events are applied.",
    params(("plan_id" = String, Path, description = "The plan's id")),
    request_body = ApproveHold,
    responses(
        (status = 200, description = "The plan, after the approved events are applied", body = PlanView),
        (status = 400, description = "bad_request: no `through`, or not a held event of this plan", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 409, description = "no_hold: nothing is held", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/plans/{plan_id}/hold/approve")]
pub async fn approve_hold(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ApproveHold>,
) -> Result<HttpResponse, PlanError> {
    let through = body.into_inner().through;
    let plan = operator::approve_hold(
        &state.db,
        &path,
        through.as_deref(),
        Actor::Operator,
        state.batch_limits(),
        &state.metrics,
    )
    .await?;
    // Later events judged again, or approved ones not applied in time.
    state.reconciler.wake();
    Ok(HttpResponse::Ok().json(plan))
}

#[utoipa::path(
    operation_id = "listPlanMembers",
    tag = "members",
    summary = "One page of members, sorted by email",
    params(("plan_id" = String, Path, description = "The plan's id"), operator::MembersQuery),
    responses(
        (status = 200, description = "Members and the next cursor", body = MemberPage),
        (status = 400, description = "A bad filter or limit", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/plans/{plan_id}/members")]
pub async fn members(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<operator::MembersQuery>,
) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(operator::members(&state.db, &path, &query).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTier {
    /// `paid` or `free`.
    tier: String,
}

#[utoipa::path(
    operation_id = "setMemberTier",
    tag = "members",
    summary = "Add or change a member by hand",
    params(("plan_id" = String, Path, description = "The plan's id"), ("email" = String, Path, description = "The member's email")),
    request_body = SetTier,
    responses(
        (status = 200, description = "The member", body = MemberView),
        (status = 400, description = "A bad email or tier", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 409, description = "seat_managed_by_directory", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[put("/plans/{plan_id}/members/{email}")]
pub async fn set_tier(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<SetTier>,
) -> Result<HttpResponse, PlanError> {
    let (plan_id, email) = path.into_inner();
    Ok(HttpResponse::Ok().json(operator::set_tier(&state.db, &plan_id, &email, &body.tier, Actor::Operator).await?))
}

#[utoipa::path(
    operation_id = "previewEnforcement",
    tag = "plans",
    summary = "Who would move if enforcement started now",
    params(("plan_id" = String, Path, description = "The plan's id")),
    responses(
        (status = 200, description = "The preview", body = PreviewView),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/plans/{plan_id}/preview")]
pub async fn preview(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(operator::preview(&state.db, &path).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The `next` of the previous page.
    after: Option<String>,
    /// Entries per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

#[utoipa::path(
    operation_id = "listPlanAudit",
    tag = "audit",
    summary = "Seat changes, oldest first",
    params(("plan_id" = String, Path, description = "The plan's id"), AuditQuery),
    responses(
        (status = 200, description = "Audit entries and the next cursor", body = AuditPage),
        (status = 400, description = "A bad cursor or limit", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/plans/{plan_id}/audit")]
pub async fn audit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PlanError> {
    let page = operator::audit(&state.db, &path, query.after.as_deref(), query.limit.as_deref()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /admin/plans/{plan_id}/portal-link`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalLinkBody {
    /// The product's page the portal's "back" link returns to.
    #[serde(default)]
    return_url: Option<String>,
}

#[utoipa::path(
    operation_id = "createPortalLink",
    tag = "portal",
    summary = "A plan portal link for the customer's admin: single use, valid five minutes",
    description = "The product decides who administers the plan and hands them this link. Opening it \
                   starts a portal session for this plan only (an HttpOnly, SameSite=Strict cookie; idle \
                   time-out one hour, at most twelve) and redirects to /portal/.",
    params(("plan_id" = String, Path, description = "The plan's id")),
    request_body = Option<PortalLinkBody>,
    responses(
        (status = 200, description = "The link", body = crate::operator::portal::PortalLink),
        (status = 400, description = "A bad return_url", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/plans/{plan_id}/portal-link")]
pub async fn portal_link(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, PlanError> {
    let body: PortalLinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        PortalLinkBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| PlanError::BadRequest(format!("body: {e}")))?
    };
    let base = match &state.public_url {
        Some(base) => base.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    let link = crate::operator::portal::create(&state.db, &path, body.return_url.as_deref(), &base).await?;
    Ok(HttpResponse::Ok().json(link))
}

#[utoipa::path(
    operation_id = "revokePortalSessions",
    tag = "portal",
    summary = "End every plan portal session of the plan and void its unused links",
    params(("plan_id" = String, Path, description = "The plan's id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/plans/{plan_id}/portal-sessions/revoke")]
pub async fn revoke_portal_sessions(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PlanError> {
    crate::operator::portal::revoke(&state.db, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Points, 1 to 1000 (default 200), evenly spaced from the audit's first row to now.
    #[param(value_type = Option<u32>)]
    points: Option<String>,
}

#[utoipa::path(
    operation_id = "getPlanHistory",
    tag = "audit",
    summary = "The plan's paid seats over its whole audit, at evenly spaced moments (the page's chart)",
    params(("plan_id" = String, Path, description = "The plan's id"), HistoryQuery),
    responses(
        (status = 200, description = "The points, oldest first, the last one now", body = operator::HistoryView),
        (status = 400, description = "A bad number of points", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[get("/plans/{plan_id}/history")]
pub async fn history(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, PlanError> {
    Ok(HttpResponse::Ok().json(operator::history(&state.db, &path, query.points.as_deref()).await?))
}
