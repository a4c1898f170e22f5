//! Plan-wide seat changes: the enforcement switch and a directory's release.
//! Each is a few set-based statements, kept with their tables (`store/`), run
//! here in the order that keeps the audit true: audit rows first (they describe
//! the seats as they were), then the seats, then the plan.
use super::rule;
use crate::{
    billing::{notice::Notice, outbox},
    domain::{DirectoryId, EventId, Micros, PlanMode},
    store::{audit, directory, members, plans, plans::Plan},
};
use sea_orm::{ConnectionTrait, DbErr};

pub use crate::store::members::Preview;

/// Starts enforcement when active directory users exceed the plan's threshold.
pub async fn start_if_due(
    c: &impl ConnectionTrait,
    plan: &Plan,
    event: Option<&EventId>,
    now: Micros,
) -> Result<bool, DbErr> {
    if plan.mode != PlanMode::Test {
        return Ok(false);
    }
    let Some(org) = &plan.organization_id else { return Ok(false) };
    let active = directory::active_count(c, org, u64::from(plan.test_mode_max_users) + 1).await?;
    if !rule::starts_enforcement(plan.mode, plan.test_mode_max_users, active) {
        return Ok(false);
    }
    start(c, plan, event, now).await?;
    Ok(true)
}

/// Every active directory user paid (source directory), every other member free
/// (source manual), one audit row per tier change, then the plan is enforced.
pub async fn start(c: &impl ConnectionTrait, plan: &Plan, event: Option<&EventId>, now: Micros) -> Result<(), DbErr> {
    let org = plan.organization_id.as_ref();
    audit::record_enforcement(c, &plan.id, org, event, now).await?;
    members::enforce(c, &plan.id, org, now).await?;
    plans::mark_enforced(c, &plan.id, now).await?;
    // Told to billing after the seat message that carries the switch's changes.
    let (paid_seats, free_seats) = outbox::seat_counts_of(c, &plan.id).await?;
    outbox::notify(c, &plan.id, &Notice::EnforcementStarted { paid_seats, free_seats }, now).await.map(|_| ())
}

/// `dsync.deleted`: the directory's users stop counting. A member it stood
/// behind keeps the seat, turned to `manual` and audited `from = to`, unless the
/// same person is active in another live directory of the organization: that
/// one still stands behind the seat, which stays the directory's.
pub async fn release_directory(
    c: &impl ConnectionTrait,
    plan: &Plan,
    dir: &DirectoryId,
    event: Option<&EventId>,
    now: Micros,
) -> Result<(), DbErr> {
    let org = plan.organization_id.as_ref();
    audit::record_directory_release(c, &plan.id, org, dir, event, now).await?;
    members::release_directory(c, &plan.id, org, dir, now).await?;
    directory::delete_directory(c, dir, now).await
}

/// What enforcement would do if it started now.
pub async fn preview(c: &impl ConnectionTrait, plan: &Plan) -> Result<Preview, DbErr> {
    members::preview(c, &plan.id, plan.organization_id.as_ref()).await
}
