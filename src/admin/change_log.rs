//! The admin log (CONTRACT 3.3): every admin request that changes something
//! and succeeds is recorded, with the client address, the route, the plan and
//! its subject before and after (the plan, the member, or the delivery the
//! route names). Written right after the change commits: a crash between the
//! two loses the log line, never the change.
use crate::{
    domain::{Email, Micros, PlanId},
    operator::{self, MemberView},
    state::AppState,
    store::{admin_changes, members},
};
use actix_web::{
    Error,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::Method,
    middleware::Next,
};
use sea_orm::DatabaseConnection;
use serde_json::Value;

/// What a route changes, read from its path.
enum Subject {
    Plan(String),
    Member(String, String),
    Delivery(String),
    /// `POST /admin/plans`: the new plan, read from the answer.
    NewPlan,
    Other,
}

/// Where an admin change came from: the admin API (the operator's token) or
/// the plan portal (a session for one plan, CONTRACT 3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Admin,
    Portal(PlanId),
}

impl Origin {
    fn source(&self) -> &'static str {
        match self {
            Origin::Admin => "admin",
            Origin::Portal(_) => "portal",
        }
    }
}

impl Subject {
    fn of(path: &str, origin: &Origin) -> Self {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let Origin::Portal(plan) = origin {
            // The portal's plan is the session's, never the path's.
            return match parts.as_slice() {
                ["portal", "api", "members", email] => {
                    let email = percent_encoding::percent_decode_str(email).decode_utf8_lossy().into_owned();
                    Subject::Member(plan.to_string(), email)
                }
                _ => Subject::Plan(plan.to_string()),
            };
        }
        match parts.as_slice() {
            ["admin", "plans"] => Subject::NewPlan,
            ["admin", "plans", plan, "members", email] => {
                let email = percent_encoding::percent_decode_str(email).decode_utf8_lossy().into_owned();
                Subject::Member((*plan).to_owned(), email)
            }
            ["admin", "plans", plan, ..] => Subject::Plan((*plan).to_owned()),
            ["admin", "outbound", id, ..] => Subject::Delivery((*id).to_owned()),
            _ => Subject::Other,
        }
    }

    /// The subject as the API shows it now; `None` when it does not exist.
    async fn snapshot(&self, db: &DatabaseConnection) -> Option<Value> {
        match self {
            Subject::Plan(plan) => serde_json::to_value(operator::show(db, plan).await.ok()?).ok(),
            Subject::Member(plan, email) => {
                let (plan, email) = (PlanId::parse(plan).ok()?, Email::parse(email).ok()?);
                let member = members::get(db, &plan, &email).await.ok()??;
                serde_json::to_value(MemberView::from(&member)).ok()
            }
            Subject::Delivery(id) => serde_json::to_value(operator::outbound::show(db, id).await.ok()?).ok(),
            Subject::NewPlan | Subject::Other => None,
        }
    }

    fn plan_id(&self, before: Option<&Value>, after: Option<&Value>) -> Option<String> {
        match self {
            Subject::Plan(plan) | Subject::Member(plan, _) => Some(plan.clone()),
            Subject::NewPlan => after.and_then(|a| a["id"].as_str()).map(str::to_owned),
            Subject::Delivery(_) => before.or(after).and_then(|d| d["plan_id"].as_str()).map(str::to_owned),
            Subject::Other => None,
        }
    }
}

/// Calls the route, and records it when it changed something.
pub async fn recorded(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: &AppState,
    client: std::net::IpAddr,
    origin: Origin,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let (method, path) = (req.method().to_string(), req.path().to_owned());
    let subject = Subject::of(&path, &origin);
    let before = subject.snapshot(&state.db).await;
    let response = next.call(req).await?;
    if !response.status().is_success() {
        return Ok(response.map_into_boxed_body());
    }
    let status = response.status().as_u16();
    let route = response.request().match_pattern().unwrap_or_else(|| path.clone());
    // The new plan is only in the answer: read, then handed on unchanged.
    let (response, answered) = match subject {
        Subject::NewPlan => {
            let (request, response) = response.into_parts();
            let (head, body) = response.into_parts();
            let bytes = actix_web::body::to_bytes(body)
                .await
                .map_err(|_| actix_web::error::ErrorInternalServerError("the answer could not be read"))?;
            let answered = serde_json::from_slice::<Value>(&bytes).ok();
            (ServiceResponse::new(request, head.set_body(BoxBody::new(bytes))), answered)
        }
        _ => (response.map_into_boxed_body(), None),
    };
    let after = match answered {
        Some(answered) => Some(answered),
        None => subject.snapshot(&state.db).await,
    };
    let plan_id = subject.plan_id(before.as_ref(), after.as_ref());
    let client = client.to_string();
    let change = admin_changes::NewChange {
        at: Micros::now(),
        client: &client,
        method: &method,
        route: &route,
        path: &path,
        plan_id: plan_id.as_deref(),
        status,
        before: before.as_ref(),
        after: after.as_ref(),
        source: origin.source(),
    };
    if let Err(err) = admin_changes::record(&state.db, &change).await {
        tracing::error!(error = %err, route, plan_id = plan_id.as_deref().unwrap_or(""), "admin change done but not recorded in the admin log");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_its_subject() {
        assert!(matches!(Subject::of("/admin/plans", &Origin::Admin), Subject::NewPlan));
        assert!(matches!(Subject::of("/admin/plans/plan_1", &Origin::Admin), Subject::Plan(p) if p == "plan_1"));
        assert!(
            matches!(Subject::of("/admin/plans/plan_1/hold/approve", &Origin::Admin), Subject::Plan(p) if p == "plan_1")
        );
        assert!(
            matches!(Subject::of("/admin/plans/plan_1/members/ada%40example.com", &Origin::Admin), Subject::Member(p, e) if p == "plan_1" && e == "ada@example.com")
        );
        assert!(
            matches!(Subject::of("/admin/outbound/msg_1/retry", &Origin::Admin), Subject::Delivery(id) if id == "msg_1")
        );
        let portal = Origin::Portal(PlanId::parse("plan_1").unwrap());
        assert!(
            matches!(Subject::of("/portal/api/members/ada%40example.com", &portal), Subject::Member(p, e) if p == "plan_1" && e == "ada@example.com")
        );
        assert!(matches!(Subject::of("/portal/api/hold/approve", &portal), Subject::Plan(p) if p == "plan_1"));
    }
}
