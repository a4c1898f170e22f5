//! One event's command applied to the seats, inside the caller's transaction:
//! a user change through the book (`book::change_one`), a directory linked or
//! released here (set-based SQL, `enforcement`).
use super::{
    book, enforcement, rule,
    scope::{Outcome, Scope},
};
use crate::{
    domain::{DirectoryId, EventId, Micros, OrganizationId, PlanMode},
    events::Command,
    store::{directory, plans},
};
use sea_orm::{ConnectionTrait, DbErr};

pub async fn apply_command(
    c: &impl ConnectionTrait,
    scope: &mut Scope,
    command: &Command,
    event: Option<&EventId>,
    now: Micros,
) -> Result<Outcome, DbErr> {
    match command {
        Command::Ignore => Ok(Outcome::Ignored),
        Command::LinkDirectory { directory, organization } => {
            link_directory(c, scope, directory, organization, now).await
        }
        Command::RemoveDirectory { directory, organization } => {
            remove_directory(c, scope, directory, organization.as_ref(), event, now).await
        }
        Command::ChangeDirectoryUser(change) => book::change_one(c, scope, change, event, None, now).await,
    }
}

async fn link_directory(
    c: &impl ConnectionTrait,
    scope: &mut Scope,
    dir: &DirectoryId,
    org: &OrganizationId,
    now: Micros,
) -> Result<Outcome, DbErr> {
    if scope.plan(c, org).await?.is_none() {
        return Ok(Outcome::Parked);
    }
    match scope.directory(c, dir).await? {
        Some(existing) if existing.deleted => Ok(Outcome::Stale),
        Some(_) => Ok(Outcome::Applied),
        None => {
            scope.add_directory(c, dir, org, false, now).await?;
            Ok(Outcome::Applied)
        }
    }
}

async fn remove_directory(
    c: &impl ConnectionTrait,
    scope: &mut Scope,
    dir: &DirectoryId,
    org: Option<&OrganizationId>,
    event: Option<&EventId>,
    now: Micros,
) -> Result<Outcome, DbErr> {
    let known = scope.directory(c, dir).await?;
    let org = match (org, &known) {
        (Some(org), _) => org.clone(),
        (None, Some(known)) => known.organization_id.clone(),
        // Nothing was ever stored for it: nothing to undo.
        (None, None) => return Ok(Outcome::Stale),
    };
    let Some(plan) = scope.plan(c, &org).await? else {
        return Ok(Outcome::Parked);
    };
    // Read again under the plan's lock: a resync may have added it meanwhile.
    let known = scope.directory(c, dir).await?;
    match known {
        Some(existing) if existing.deleted => return Ok(Outcome::Stale),
        Some(_) => {
            enforcement::release_directory(c, &plan, dir, event, now).await?;
            scope.directory_released(dir, &org);
        }
        // Remember it, so later events for it are stale.
        None => scope.add_directory(c, dir, &org, true, now).await?,
    }
    if rule::ends_enforcement(plan.mode, directory::live_directories(c, &org).await?) {
        plans::set_mode(c, &plan.id, PlanMode::Test, None).await?;
        scope.set_mode(&plan, PlanMode::Test, None);
    }
    Ok(Outcome::Applied)
}
