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

/// The organization whose `external_id` is the plan's id, if WorkOS has one
/// (`GET /organizations/external_id/{id}`).
pub async fn find_for_plan(client: &WorkosClient, plan_id: &str) -> Result<Option<String>, ApiError> {
    match client.get::<Organization>(&format!("/organizations/external_id/{plan_id}"), &[]).await {
        Ok(found) => Ok(Some(found.id)),
        Err(ApiError::Status { status: 404, .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The plan's organization: found by `external_id` when an earlier attempt
/// created it (a crash before it was stored, another replica), else created
/// with the plan's name, its id as `external_id`, and an idempotency key.
/// Returns the organization's id as WorkOS gave it.
pub async fn find_or_create(client: &WorkosClient, name: &str, plan_id: &str) -> Result<String, ApiError> {
    if let Some(found) = find_for_plan(client, plan_id).await? {
        return Ok(found);
    }
    let body = NewOrganization { name, external_id: plan_id };
    match client.post::<_, Organization>("/organizations", &body, Some(&idempotency_key(plan_id))).await {
        Ok(created) => Ok(created.id),
        // Refused, perhaps because the external id is taken by a creation that
        // raced this one: that organization is the plan's.
        Err(err @ ApiError::Status { .. }) => find_for_plan(client, plan_id).await?.ok_or(err),
        Err(err) => Err(err),
    }
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
    // The page sends the browser there: only an https link is taken (http
    // only on this machine: `seatsync fake-workos`, the local stand-in).
    match reqwest::Url::parse(&link.link) {
        Ok(_) if crate::config::check_api_base(&link.link).is_ok() => Ok(link.link),
        _ => Err(ApiError::Status {
            status: 200,
            path: "/portal/generate_link".into(),
            message: "the Admin Portal link WorkOS returned is not an https URL".into(),
        }),
    }
}
