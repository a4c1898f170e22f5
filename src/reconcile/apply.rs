//! Applying one domain command to the seat store, inside the caller's transaction.
use super::{enforcement, rule};
use crate::{
    domain::{DirectoryId, Email, EventId, Micros, OrganizationId, Reason},
    events::{Command, DirectoryUserChange},
    seats::{
        audit, directory,
        directory::UserRow,
        members,
        plans::{self, Plan},
    },
};
use sea_orm::{ConnectionTrait, DbErr};

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Ignored,
    /// Older than what is held for that user (or its directory is gone).
    Stale,
    /// No plan for its organization yet (or, for legacy payloads without an
    /// organization, no known directory).
    Parked {
        organization: Option<OrganizationId>,
        directory: Option<DirectoryId>,
    },
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Ignored => "ignored",
            Self::Stale => "stale",
            Self::Parked { .. } => "parked",
        }
    }
}

pub async fn apply_command(
    c: &impl ConnectionTrait,
    command: &Command,
    event: Option<&EventId>,
    now: Micros,
) -> Result<Outcome, DbErr> {
    match command {
        Command::Ignore => Ok(Outcome::Ignored),
        Command::LinkDirectory { directory, organization } => link_directory(c, directory, organization, now).await,
        Command::RemoveDirectory { directory, organization } => {
            remove_directory(c, directory, organization.as_ref(), event, now).await
        }
        Command::ChangeDirectoryUser(change) => change_user(c, change, event, now, None).await,
    }
}

async fn link_directory(
    c: &impl ConnectionTrait,
    dir: &DirectoryId,
    org: &OrganizationId,
    now: Micros,
) -> Result<Outcome, DbErr> {
    if plans::lock_by_org(c, org).await?.is_none() {
        return Ok(Outcome::Parked { organization: Some(org.clone()), directory: Some(dir.clone()) });
    }
    match directory::find_directory(c, dir).await? {
        Some(existing) if existing.deleted => Ok(Outcome::Stale),
        Some(_) => Ok(Outcome::Applied),
        None => {
            directory::insert_directory(c, dir, org, false, now).await?;
            Ok(Outcome::Applied)
        }
    }
}

async fn remove_directory(
    c: &impl ConnectionTrait,
    dir: &DirectoryId,
    org: Option<&OrganizationId>,
    event: Option<&EventId>,
    now: Micros,
) -> Result<Outcome, DbErr> {
    let known = directory::find_directory(c, dir).await?;
    let org = match (org, &known) {
        (Some(org), _) => org.clone(),
        (None, Some(known)) => known.organization_id.clone(),
        // Nothing was ever held for it: nothing to undo.
        (None, None) => return Ok(Outcome::Stale),
    };
    let Some(plan) = plans::lock_by_org(c, &org).await? else {
        return Ok(Outcome::Parked { organization: Some(org), directory: Some(dir.clone()) });
    };
    match known {
        Some(existing) if existing.deleted => return Ok(Outcome::Stale),
        Some(_) => enforcement::release_directory(c, &plan, dir, event, now).await?,
        // Remember it, so later events for it are stale.
        None => directory::insert_directory(c, dir, &org, true, now).await?,
    }
    if plan.mode == crate::domain::PlanMode::Enforced && directory::live_directories(c, &org).await? == 0 {
        plans::set_mode(c, &plan.id, crate::domain::PlanMode::Test, None).await?;
    }
    Ok(Outcome::Applied)
}

/// Applies a directory user's new state. `reason_override` is for resync, which
/// audits every change with its own reason.
pub async fn change_user(
    c: &impl ConnectionTrait,
    change: &DirectoryUserChange,
    event: Option<&EventId>,
    now: Micros,
    reason_override: Option<Reason>,
) -> Result<Outcome, DbErr> {
    let org = match &change.organization {
        Some(org) => org.clone(),
        None => match directory::find_directory(c, &change.directory).await? {
            Some(known) => known.organization_id,
            None => {
                return Ok(Outcome::Parked { organization: None, directory: Some(change.directory.clone()) });
            }
        },
    };
    let Some(plan) = plans::lock_by_org(c, &org).await? else {
        return Ok(Outcome::Parked { organization: Some(org), directory: Some(change.directory.clone()) });
    };
    match directory::find_directory(c, &change.directory).await? {
        Some(known) if known.deleted => return Ok(Outcome::Stale),
        Some(_) => {}
        None => directory::insert_directory(c, &change.directory, &org, false, now).await?,
    }
    let stored = directory::find_user(c, &change.user).await?;
    if let Some(held) = &stored {
        let older = change.updated_at < held.updated_at;
        let not_after_deletion = held.deleted && change.updated_at <= held.updated_at;
        if older || not_after_deletion {
            return Ok(Outcome::Stale);
        }
    }
    directory::upsert_user(
        c,
        &UserRow {
            id: &change.user,
            directory: &change.directory,
            organization: &org,
            email: &change.email,
            state: &change.state,
            updated_at: change.updated_at,
            deleted: change.deleted,
        },
    )
    .await?;

    let state_reason = if change.deleted {
        Reason::DirectoryUserDeleted
    } else if change.state.is_active() {
        Reason::DirectoryUserActive
    } else {
        Reason::DirectoryUserInactive
    };
    let moved_from = stored.filter(|held| !held.deleted && held.email != change.email).map(|held| held.email);
    let reason = |default| reason_override.unwrap_or(default);
    match moved_from {
        Some(old) => {
            settle_email(c, &plan, &old, reason(Reason::EmailChanged), event, now).await?;
            settle_email(c, &plan, &change.email, reason(Reason::EmailChanged), event, now).await?;
        }
        None => settle_email(c, &plan, &change.email, reason(state_reason), event, now).await?,
    }
    enforcement::start_if_due(c, &plan, event, now).await?;
    Ok(Outcome::Applied)
}

/// Brings one member's seat to what the rule says, auditing a tier change.
pub async fn settle_email(
    c: &impl ConnectionTrait,
    plan: &Plan,
    email: &Email,
    reason: Reason,
    event: Option<&EventId>,
    now: Micros,
) -> Result<(), DbErr> {
    let (active, link) = directory::email_status(c, &plan.organization_id, email).await?;
    let current = members::get(c, &plan.id, email).await?;
    let Some(target) = rule::target_seat(plan.mode, current.as_ref().map(|m| m.seat), active) else {
        return Ok(());
    };
    let unchanged = current.as_ref().is_some_and(|m| m.seat == target && m.directory_user_id == link);
    if unchanged {
        return Ok(());
    }
    members::put(c, &plan.id, email, target, link.as_deref(), now).await?;
    let from = current.map(|m| m.seat.tier);
    if from != Some(target.tier) {
        audit::record(
            c,
            &audit::Change { plan: &plan.id, email, from, to: target.tier, reason, event_id: event, at: now },
        )
        .await?;
    }
    Ok(())
}
