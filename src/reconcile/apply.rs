//! Applying one domain command to the seat store, inside the caller's transaction.
use super::{
    enforcement,
    guard::{self, Budget, GuardSettings},
    rule,
};
use crate::{
    domain::{
        DirectoryId, Email, EventId, EventStatus, Micros, OrganizationId, PlanId, PlanMode, Reason, Tier, order_key,
    },
    events::{Command, DirectoryUserChange},
    inbox::queue,
    store::{
        audit, directory,
        directory::{DirectoryRow, HeldUser},
        members::{self, SeatInputs},
        plans::{self, Plan},
    },
};
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::HashMap;

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Ignored,
    /// Older than what is held for that user (or its directory is gone).
    Stale,
    /// No plan for its organization yet (or, for legacy payloads without an
    /// organization, no known directory).
    Parked,
}

impl Outcome {
    pub fn status(&self) -> EventStatus {
        match self {
            Self::Applied => EventStatus::Applied,
            Self::Ignored => EventStatus::Ignored,
            Self::Stale => EventStatus::Stale,
            Self::Parked => EventStatus::Parked,
        }
    }
}

/// What one transaction has already read and locked: each plan is locked once
/// (its row lock is held to the commit, so the copy cannot go stale) and each
/// directory read once. Lives exactly as long as the transaction.
#[derive(Default)]
pub struct Scope {
    plans: HashMap<OrganizationId, Option<Plan>>,
    directories: HashMap<DirectoryId, Option<DirectoryRow>>,
    /// Counted releases (`guard::COUNTED`) since the caller last took them.
    pub released: u64,
    /// Each guarded plan's budget, read once under its lock, kept up to date.
    budgets: HashMap<PlanId, Budget>,
}

impl Scope {
    /// The organization's plan, locked for the rest of the transaction.
    pub(super) async fn plan(&mut self, c: &impl ConnectionTrait, org: &OrganizationId) -> Result<Option<Plan>, DbErr> {
        if let Some(plan) = self.plans.get(org) {
            return Ok(plan.clone());
        }
        let plan = plans::lock_by_org(c, org).await?;
        self.plans.insert(org.clone(), plan.clone());
        // Directories read before this lock may have changed under it (a
        // resync adding one): read them again from now on.
        self.directories.retain(|_, row| row.as_ref().is_some_and(|d| &d.organization_id != org));
        Ok(plan)
    }

    pub fn take_released(&mut self) -> u64 {
        std::mem::take(&mut self.released)
    }

    /// Forgets what was read (after a savepoint was rolled back): plans and
    /// directories are read again, under the locks the transaction still holds.
    pub fn forget_reads(&mut self) {
        self.plans.clear();
        self.directories.clear();
        self.released = 0;
    }

    /// The plan's release budget for this transaction, good enough to decide
    /// on `releases` more: read exactly when its lower bound would not allow them.
    pub async fn budget(
        &mut self,
        c: &impl ConnectionTrait,
        plan: &Plan,
        settings: &GuardSettings,
        now: Micros,
        releases: u64,
    ) -> Result<Budget, DbErr> {
        let cached = self.budgets.get(&plan.id).copied();
        if let Some(budget) = cached
            && (budget.exact || budget.allows(releases))
        {
            return Ok(budget);
        }
        let lower = match cached {
            Some(budget) => budget,
            None => guard::budget(c, plan, settings, now, false).await?,
        };
        let budget = if lower.exact || lower.allows(releases) {
            lower
        } else {
            // The audit this transaction wrote is visible to it: `used` is exact too.
            guard::budget(c, plan, settings, now, true).await?
        };
        self.budgets.insert(plan.id.clone(), budget);
        Ok(budget)
    }

    pub fn forget_budget(&mut self, plan: &PlanId) {
        self.budgets.remove(plan);
    }

    pub fn spend(&mut self, plan: &PlanId, released: u64) {
        if let Some(budget) = self.budgets.get_mut(plan) {
            budget.used += released;
        }
    }

    /// The plan a user change is for, if one exists (locked), as `change_user`
    /// finds it.
    pub async fn plan_for(
        &mut self,
        c: &impl ConnectionTrait,
        change: &DirectoryUserChange,
    ) -> Result<Option<Plan>, DbErr> {
        let org = match &change.organization {
            Some(org) => org.clone(),
            None => match self.directory(c, &change.directory).await? {
                Some(known) => known.organization_id,
                None => return Ok(None),
            },
        };
        self.plan(c, &org).await
    }

    fn set_mode(&mut self, plan: &Plan, mode: PlanMode, enforced_at: Option<Micros>) {
        let updated = Plan { mode, enforced_at, ..plan.clone() };
        // Plans are cached by organization; one without is never looked up here.
        if let Some(org) = &plan.organization_id {
            self.plans.insert(org.clone(), Some(updated));
        }
    }

    pub(super) async fn directory(
        &mut self,
        c: &impl ConnectionTrait,
        dir: &DirectoryId,
    ) -> Result<Option<DirectoryRow>, DbErr> {
        if let Some(row) = self.directories.get(dir) {
            return Ok(row.clone());
        }
        let row = directory::find_directory(c, dir).await?;
        self.directories.insert(dir.clone(), row.clone());
        Ok(row)
    }

    /// Records a directory met for the first time; events of its group that
    /// waited for it (legacy payloads without an organization) may go on.
    async fn add_directory(
        &mut self,
        c: &impl ConnectionTrait,
        dir: &DirectoryId,
        org: &OrganizationId,
        deleted: bool,
        now: Micros,
    ) -> Result<(), DbErr> {
        if directory::insert_directory(c, dir, org, deleted, now).await? {
            queue::unpark_group(c, &order_key::of_directory(dir)).await?;
        }
        self.directories.insert(dir.clone(), Some(DirectoryRow { organization_id: org.clone(), deleted }));
        Ok(())
    }
}

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
        Command::ChangeDirectoryUser(change) => change_user(c, scope, change, event, now, None).await,
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
        // Nothing was ever held for it: nothing to undo.
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
            scope.directories.insert(dir.clone(), Some(DirectoryRow { organization_id: org.clone(), deleted: true }));
        }
        // Remember it, so later events for it are stale.
        None => scope.add_directory(c, dir, &org, true, now).await?,
    }
    if plan.mode == PlanMode::Enforced && directory::live_directories(c, &org).await? == 0 {
        plans::set_mode(c, &plan.id, PlanMode::Test, None).await?;
        scope.set_mode(&plan, PlanMode::Test, None);
    }
    Ok(Outcome::Applied)
}

/// Applies a directory user's new state. `reason_override` is for resync, which
/// audits every change with its own reason.
pub async fn change_user(
    c: &impl ConnectionTrait,
    scope: &mut Scope,
    change: &DirectoryUserChange,
    event: Option<&EventId>,
    now: Micros,
    reason_override: Option<Reason>,
) -> Result<Outcome, DbErr> {
    let org = match &change.organization {
        Some(org) => org.clone(),
        None => match scope.directory(c, &change.directory).await? {
            Some(known) => known.organization_id,
            None => return Ok(Outcome::Parked),
        },
    };
    let Some(plan) = scope.plan(c, &org).await? else {
        return Ok(Outcome::Parked);
    };
    match scope.directory(c, &change.directory).await? {
        Some(known) if known.deleted => return Ok(Outcome::Stale),
        Some(_) => {}
        None => scope.add_directory(c, &change.directory, &org, false, now).await?,
    }
    let stored = directory::find_user(c, &change.user).await?;
    if let Some(held) = &stored {
        let older = change.updated_at < held.updated_at;
        let not_after_deletion = held.deleted && change.updated_at <= held.updated_at;
        if older || not_after_deletion {
            return Ok(Outcome::Stale);
        }
    }
    let user = HeldUser {
        id: change.user.clone(),
        directory: change.directory.clone(),
        organization: org.clone(),
        email: change.email.clone(),
        state: change.state.clone(),
        updated_at: change.updated_at,
        deleted: change.deleted,
    };
    directory::upsert_users(c, &[&user], now).await?;

    let state_reason = state_reason(change);
    let moved_from = stored.filter(|held| !held.deleted && held.email != change.email).map(|held| held.email);
    let reason = |default| reason_override.unwrap_or(default);
    match moved_from {
        Some(old) => {
            let old_released = settle_email(c, &plan, &old, reason(Reason::EmailChanged), event, now).await?;
            let new_released = settle_email(c, &plan, &change.email, reason(Reason::EmailChanged), event, now).await?;
            scope.released += u64::from(old_released) + u64::from(new_released);
        }
        None => {
            scope.released += u64::from(settle_email(c, &plan, &change.email, reason(state_reason), event, now).await?)
        }
    }
    if enforcement::start_if_due(c, &plan, event, now).await? {
        scope.set_mode(&plan, PlanMode::Enforced, Some(now));
    }
    Ok(Outcome::Applied)
}

/// The audit reason of a user's new state (when its email did not change).
pub fn state_reason(change: &DirectoryUserChange) -> Reason {
    if change.deleted {
        Reason::DirectoryUserDeleted
    } else if change.state.is_active() {
        Reason::DirectoryUserActive
    } else {
        Reason::DirectoryUserInactive
    }
}

/// Brings one member's seat to what the rule says, auditing a tier change.
/// Returns whether it released a paid seat in a way the release guard counts.
pub async fn settle_email(
    c: &impl ConnectionTrait,
    plan: &Plan,
    email: &Email,
    reason: Reason,
    event: Option<&EventId>,
    now: Micros,
) -> Result<bool, DbErr> {
    let SeatInputs { active, link, member: current } =
        members::seat_inputs(c, &plan.id, plan.organization_id.as_ref(), email).await?;
    let Some(target) = rule::target_seat(plan.mode, current.as_ref().map(|m| m.seat), active) else {
        return Ok(false);
    };
    let unchanged = current.as_ref().is_some_and(|m| m.seat == target && m.directory_user_id == link);
    if unchanged {
        return Ok(false);
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
    Ok(from == Some(Tier::Paid) && target.tier == Tier::Free && guard::counts(reason))
}

/// Whether `change` can go through the batched path (`bulk`): its plan exists and
/// is enforced, and its directory is known, live and of that organization.
pub(super) async fn fits_bulk(
    c: &impl ConnectionTrait,
    scope: &mut Scope,
    change: &DirectoryUserChange,
) -> Result<Option<Plan>, DbErr> {
    let Some(org) = &change.organization else { return Ok(None) };
    let Some(plan) = scope.plan(c, org).await?.filter(|p| p.mode == PlanMode::Enforced) else {
        return Ok(None);
    };
    match scope.directory(c, &change.directory).await? {
        Some(dir) if !dir.deleted && &dir.organization_id == org => Ok(Some(plan)),
        _ => Ok(None),
    }
}
