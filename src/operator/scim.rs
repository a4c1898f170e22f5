//! "Configure SCIM" (CONTRACT 3.3): the product's first step. Gives the plan a
//! WorkOS organization when it has none (one per plan, whatever the retries,
//! clicks or replicas), then a fresh Admin Portal link for its setup wizard.
use super::{PlanError, existing};
use crate::{
    domain::{Micros, OrganizationId},
    inbox::queue,
    store::{leases, plans},
    workos::{ApiError, WorkosClient, organizations},
};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ScimSetupError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("WORKOS_API_KEY is not set: seatsync cannot create organizations or setup links")]
    NotConfigured,
    #[error("WorkOS refused: {0}")]
    Refused(#[source] ApiError),
    #[error("WorkOS cannot be reached; retry later")]
    Unavailable(#[source] ApiError),
    #[error("another SCIM setup of this plan is still running; retry in a moment")]
    Busy,
    #[error("WorkOS did not finish setting up the organization in time; retry")]
    TimedOut,
}

impl From<ApiError> for ScimSetupError {
    fn from(err: ApiError) -> Self {
        if err.is_unavailable() { Self::Unavailable(err) } else { Self::Refused(err) }
    }
}

impl From<sea_orm::DbErr> for ScimSetupError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Plan(PlanError::Database(err))
    }
}

/// The answer: the link (five minutes valid, never stored) and the organization.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScimSetup {
    pub link: String,
    pub organization_id: String,
}

/// Where WorkOS's "back" button goes: the caller's choice, else
/// `PUBLIC_URL/admin/`, else nowhere.
pub fn return_url(requested: Option<&str>, public_url: Option<&str>) -> Result<Option<String>, PlanError> {
    match requested.map(str::trim).filter(|r| !r.is_empty()) {
        Some(raw) => match reqwest::Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(Some(raw.to_owned())),
            _ => Err(PlanError::BadRequest("return_url must be an http:// or https:// URL".into())),
        },
        None => Ok(public_url.map(|base| format!("{base}/admin/"))),
    }
}

/// How long one caller may spend creating a plan's organization before another
/// may take over (WorkOS calls are bounded well below this).
const SETUP_LEASE: Duration = Duration::from_secs(120);
/// How long one attempt may take (WorkOS calls retry with back-off inside it).
const SETUP_WITHIN: Duration = Duration::from_secs(90);
/// How long a second caller waits for the first to store the organization.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(15);

/// `requested`: the caller's `return_url`; `public_url`: `PUBLIC_URL`.
pub async fn scim_setup(
    db: &DatabaseConnection,
    client: Option<&WorkosClient>,
    plan_id: &str,
    requested: Option<&str>,
    public_url: Option<&str>,
) -> Result<ScimSetup, ScimSetupError> {
    let plan = existing(db, plan_id).await?;
    let return_url = self::return_url(requested, public_url)?;
    let return_url = return_url.as_deref();
    let client = client.ok_or(ScimSetupError::NotConfigured)?;
    let org = match plan.organization_id {
        Some(org) => org,
        None => organization_for(db, client, &plan).await?,
    };
    let link = organizations::setup_link(client, org.as_str(), return_url).await?;
    tracing::info!(plan_id = %plan.id, organization_id = %org, "SCIM setup link issued");
    Ok(ScimSetup { link, organization_id: org.to_string() })
}

/// One caller at a time (any replica) creates the plan's organization, under a
/// lease in the database: WorkOS's idempotency key and the `external_id`
/// lookup then only have to cover a caller that crashed half-way. The others
/// wait for the organization to appear on the plan.
async fn organization_for(
    db: &DatabaseConnection,
    client: &WorkosClient,
    plan: &plans::Plan,
) -> Result<OrganizationId, ScimSetupError> {
    let lease = format!("scim_setup:{}", plan.id);
    let owner = ulid::Ulid::new().to_string();
    let started = Instant::now();
    loop {
        if leases::take(db, &lease, &owner, Micros::now(), SETUP_LEASE).await? {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = plans::find(db, &plan.id).await?.ok_or(PlanError::NotFound("plan"))?;
        if let Some(org) = now.organization_id {
            return Ok(org);
        }
        if started.elapsed() > WAIT_FOR_OTHER {
            return Err(ScimSetupError::Busy);
        }
    }
    // Bounded well inside the lease, so no other caller can take it meanwhile.
    let result = match tokio::time::timeout(SETUP_WITHIN, create_and_attach(db, client, plan)).await {
        Ok(result) => result,
        Err(_) => Err(ScimSetupError::TimedOut),
    };
    // The lease is done with either way; a failure lets the next click retry.
    if let Err(err) = leases::forget(db, &lease, &owner).await {
        tracing::warn!(error = %err, plan_id = %plan.id, "SCIM setup: could not drop the lease; it runs out by itself");
    }
    result
}

async fn create_and_attach(
    db: &DatabaseConnection,
    client: &WorkosClient,
    plan: &plans::Plan,
) -> Result<OrganizationId, ScimSetupError> {
    // Another caller may have finished between our look and our lease.
    if let Some(org) = plans::find(db, &plan.id).await?.and_then(|p| p.organization_id) {
        return Ok(org);
    }
    let created = organizations::find_or_create(client, &plan.name, plan.id.as_str()).await?;
    let org = super::valid_organization(&created).map_err(|_| {
        ScimSetupError::Refused(ApiError::Status {
            status: 200,
            path: "/organizations".into(),
            message: "the organization id WorkOS returned is not an org_ id".into(),
        })
    })?;
    attach(db, &plan.id, &org).await
}

/// Stores the organization on the plan and, in the same transaction under the
/// group's lock, makes the events that waited for it claimable. Returns the
/// organization the plan ends up with.
async fn attach(
    db: &DatabaseConnection,
    plan: &crate::domain::PlanId,
    org: &OrganizationId,
) -> Result<OrganizationId, ScimSetupError> {
    let txn = db.begin().await?;
    match plans::set_organization(&txn, plan, org).await {
        Ok(true) => {
            queue::unpark_organization(&txn, org).await?;
            txn.commit().await?;
            tracing::info!(plan_id = %plan, organization_id = %org, "organization stored on the plan");
            Ok(org.clone())
        }
        Ok(false) => {
            drop(txn);
            let now = plans::find(db, plan).await?.ok_or(PlanError::NotFound("plan"))?;
            Ok(now.organization_id.unwrap_or_else(|| org.clone()))
        }
        Err(err) if crate::db::is_unique_violation(&err) => Err(PlanError::PlanExists(org.to_string()).into()),
        Err(err) => Err(err.into()),
    }
}
