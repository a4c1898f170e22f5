//! Organizations and the Admin Portal: what the product's "Configure SCIM"
//! button needs from WorkOS.
use super::client::{ApiError, WorkosClient};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct NewOrganization<'a> {
    name: &'a str,
    external_id: &'a str,
}

#[derive(Deserialize)]
struct Organization {
    id: String,
}

#[derive(Serialize)]
struct LinkRequest<'a> {
    organization: &'a str,
    intent: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_url: Option<&'a str>,
}

#[derive(Deserialize)]
struct Link {
    link: String,
}

/// The idempotency key for a plan's organization: the same for every attempt,
/// replica and click, so WorkOS creates one organization per plan.
pub fn idempotency_key(plan_id: &str) -> String {
    format!("seatsync-organization-{plan_id}")
}

/// `POST /organizations` with the plan's name and its id as `external_id`.
/// Returns the organization's id as WorkOS gave it.
pub async fn create(client: &WorkosClient, name: &str, plan_id: &str) -> Result<String, ApiError> {
    let body = NewOrganization { name, external_id: plan_id };
    let created: Organization = client.post("/organizations", &body, Some(&idempotency_key(plan_id))).await?;
    Ok(created.id)
}

/// `POST /portal/generate_link` with intent `dsync`: a link to WorkOS's setup
/// wizard, valid for five minutes (never stored). Asking twice is harmless, so
/// it needs no idempotency key.
pub async fn setup_link(
    client: &WorkosClient,
    organization: &str,
    return_url: Option<&str>,
) -> Result<String, ApiError> {
    let body = LinkRequest { organization, intent: "dsync", return_url };
    let link: Link = client.post("/portal/generate_link", &body, None).await?;
    Ok(link.link)
}
