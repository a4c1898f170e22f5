//! Plan portal links and their revocation (CONTRACT 3.6), for the admin API
//! and `seatsync plans portal-link`; opening a link is the portal's (`portal::links`).
use super::{PlanError, existing};
use crate::{
    domain::{Micros, PlanId},
    store::portal,
};
use sea_orm::DatabaseConnection;
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
    db: &DatabaseConnection,
    plan_id: &str,
    return_url: Option<&str>,
    base: &str,
) -> Result<PortalLink, PlanError> {
    let plan = existing(db, plan_id).await?;
    let return_url = match return_url.map(str::trim).filter(|r| !r.is_empty()) {
        Some(raw) => match reqwest::Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Some(raw.to_owned()),
            _ => return Err(PlanError::BadRequest("return_url must be an http:// or https:// URL".into())),
        },
        None => None,
    };
    let token = portal::new_token();
    let now = Micros::now();
    let expires_at = portal::create_link(db, &plan.id, &token, return_url.as_deref(), now).await?;
    Ok(PortalLink {
        link: format!("{}/portal/open?token={token}", base.trim_end_matches('/')),
        expires_at: expires_at.to_rfc3339(),
    })
}

/// Ends every portal session of the plan and voids its unused links.
pub async fn revoke(db: &DatabaseConnection, plan_id: &str) -> Result<(), PlanError> {
    let plan: PlanId = existing(db, plan_id).await?.id;
    let ended = portal::revoke_plan(db, &plan, Micros::now()).await?;
    tracing::info!(plan_id = %plan, ended, "plan portal: sessions and links revoked");
    Ok(())
}
