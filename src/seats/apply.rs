//! Applying one domain command to the seat store, inside the caller's transaction.
use super::{
    enforcement,
    guard::{self, GuardSettings, Standing},
    rule,
};
use crate::{
    domain::{DirectoryId, Email, EventId, EventStatus, Micros, OrganizationId, PlanId, PlanMode, Reason, Tier},
    events::{Command, DirectoryUserChange},
    inbox::queue,
    seats::unit::Locks,
    store::{
        audit, directory,
        directory::{DirectoryRow, StoredUser},
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
    /// Older than what is stored for that user (or its directory is gone).
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
    /// Seat moves since the caller last took them (`take_moves`).
    moves: Moves,
    /// Each guarded plan's standing, read once under its lock, kept up to date
    /// with every change this transaction makes.
    standings: HashMap<PlanId, Standing>,
    /// Every plan this transaction locked, in order (through the one door,
    /// `seats::unit`): each may have changed seats, so each is announced to
    /// billing before the commit.
    locks: Locks,
    /// A directory became known and its legacy events joined its
    /// organization's group: the group must be claimed again to apply them in
    /// their place (see `worker`).
    pub regrouped: bool,
    /// Plans whose hold started in this transaction: announced to billing
    /// before the commit (CONTRACT 7.1).
    pub held_now: Vec<Plan>,
    /// Per plan, the trace of the last event applied to it: its billing
    /// message joins that trace (CONTRACT 7.1; empty while traces are off).
    pub traces: HashMap<PlanId, String>,
}

/// What applying changed in paid seats.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moves {
    /// Counted releases (`guard::COUNTED`).
    pub released: u64,
    /// Counted grants (`guard::GRANTS_COUNTED`).
    pub granted: u64,
    /// Paid seats gained, less paid seats lost.
    pub paid_delta: i64,
}

impl Moves {
    pub fn add(&mut self, other: Moves) {
        self.released += other.released;
        self.granted += other.granted;
        self.paid_delta += other.paid_delta;
    }
}

impl Scope {
    /// The organization's plan, locked for the rest of the transaction.
    pub async fn plan(&mut self, c: &impl ConnectionTrait, org: &OrganizationId) -> Result<Option<Plan>, DbErr> {
        if let Some(plan) = self.plans.get(org) {
            return Ok(plan.clone());
        }
        let plan = self.locks.plan_of(c, org).await?;
        self.plans.insert(org.clone(), plan.clone());
        // Directories read before this lock may have changed under it (a
        // resync adding one): read them again from now on.
        self.directories.retain(|_, row| row.as_ref().is_some_and(|d| &d.organization_id != org));
        Ok(plan)
    }

    /// Locks the plans of several organizations at once and reads their
    /// directories: a batch of many organizations' groups pays two statements
    /// for them, not two per group. What is known already is not read again.
    pub async fn prefetch(&mut self, c: &impl ConnectionTrait, orgs: &[OrganizationId]) -> Result<(), DbErr> {
        let mut wanted: Vec<&OrganizationId> = orgs.iter().filter(|org| !self.plans.contains_key(*org)).collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut found: HashMap<OrganizationId, Plan> = HashMap::new();
        for plan in self.locks.plans_of(c, &wanted).await? {
            if let Some(org) = plan.organization_id.clone() {
                found.insert(org, plan);
            }
        }
        for org in &wanted {
            self.plans.insert((*org).clone(), found.remove(*org));
        }
        // As `plan` does: what was read of these organizations' directories
        // before their locks is read again (here, at once, from the database).
        self.directories
            .retain(|_, row| row.as_ref().is_some_and(|d| wanted.binary_search(&&d.organization_id).is_err()));
        for (id, row) in directory::directories_of(c, &wanted).await? {
            self.directories.insert(id, Some(row));
        }
        Ok(())
    }

    /// Writes every locked plan's seat message, each in its last event's
    /// trace: the batch's end, before its commit.
    pub async fn announce(&self, c: &impl ConnectionTrait, now: Micros) -> Result<usize, DbErr> {
        self.locks.announce(c, now, &self.traces).await
    }

    /// The seat moves made since the last call.
    pub fn take_moves(&mut self) -> Moves {
        std::mem::take(&mut self.moves)
    }

    /// Forgets the plans and directories read: they are read again, under the
    /// locks the transaction still holds (after an approval moved a plan's
    /// release floor). Standings are kept: they only ever took in kept moves.
    pub fn forget_reads(&mut self) {
        self.plans.clear();
        self.directories.clear();
    }

    /// A savepoint was rolled back: what was read or done in it is forgotten.
    pub fn rolled_back(&mut self) {
        self.forget_reads();
        self.moves = Moves::default();
        self.regrouped = false;
    }

    /// The plan's standing in this transaction, with its paid seats counted
    /// when `more` releases could pass the minimum.
    pub async fn standing(
        &mut self,
        c: &impl ConnectionTrait,
        plan: &Plan,
        settings: &GuardSettings,
        now: Micros,
        more: u64,
    ) -> Result<Standing, DbErr> {
        let mut standing = match self.standings.get(&plan.id) {
            Some(standing) => *standing,
            None => guard::fresh(c, plan, settings, now).await?,
        };
        if standing.needs_paid_for(plan.release_limit, settings, more) {
            // This transaction's own changes are visible to it: exact.
            standing.paid = Some(members::paid_count(c, &plan.id).await?);
        }
        self.standings.insert(plan.id.clone(), standing);
        Ok(standing)
    }

    /// Whether the guard lets one more counted release of `plan` happen now.
    pub async fn allows_release(
        &mut self,
        c: &impl ConnectionTrait,
        plan: &Plan,
        settings: &GuardSettings,
        now: Micros,
    ) -> Result<bool, DbErr> {
        let standing = self.standing(c, plan, settings, now, 1).await?;
        Ok(standing.allows_one_more(plan.release_limit, settings).unwrap_or(false))
    }

    /// Whether the grant guard lets one more counted grant of `plan` happen now.
    pub async fn allows_grant(
        &mut self,
        c: &impl ConnectionTrait,
        plan: &Plan,
        settings: &GuardSettings,
        now: Micros,
    ) -> Result<bool, DbErr> {
        let standing = self.standing(c, plan, settings, now, 0).await?;
        Ok(standing.allows_one_more_grant(plan.grant_limit))
    }

    /// Takes in moves applied (and kept) for `plan`.
    pub fn record(&mut self, plan: &PlanId, moves: Moves) {
        if let Some(standing) = self.standings.get_mut(plan) {
            standing.record(moves.released, moves.granted, moves.paid_delta);
        }
    }

    /// The guard counts from zero (an approval): read the standing afresh.
    pub fn forget_standing(&mut self, plan: &PlanId) {
        self.standings.remove(plan);
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

    /// The plan an event's command is about, if one exists (locked).
    pub async fn plan_for_command(
        &mut self,
        c: &impl ConnectionTrait,
        command: &Command,
    ) -> Result<Option<Plan>, DbErr> {
        let org = match command {
            Command::Ignore => return Ok(None),
            Command::ChangeDirectoryUser(change) => return self.plan_for(c, change).await,
            Command::LinkDirectory { organization, .. } => organization.clone(),
            Command::RemoveDirectory { organization: Some(org), .. } => org.clone(),
            Command::RemoveDirectory { directory, organization: None } => match self.directory(c, directory).await? {
                Some(known) => known.organization_id,
                None => return Ok(None),
            },
        };
        self.plan(c, &org).await
    }

    fn set_mode(&mut self, plan: &Plan, mode: PlanMode, enforced_at: Option<Micros>) {
        // The switch moved seats in bulk: count paid seats again when next asked.
        if let Some(standing) = self.standings.get_mut(&plan.id) {
            standing.paid = None;
        }
        let updated = Plan { mode, enforced_at, ..plan.clone() };
        // Plans are cached by organization; one without is never looked up here.
        if let Some(org) = &plan.organization_id {
            self.plans.insert(org.clone(), Some(updated));
        }
    }

    pub async fn directory(
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

    /// Records a directory met for the first time; events that waited for it
    /// (legacy payloads without an organization) join its organization's group.
    async fn add_directory(
        &mut self,
        c: &impl ConnectionTrait,
        dir: &DirectoryId,
        org: &OrganizationId,
        deleted: bool,
        now: Micros,
    ) -> Result<(), DbErr> {
        if directory::insert_directory(c, dir, org, deleted, now).await? {
            // A legacy event of this directory that another process is still
            // storing (under the directory's own key) commits first, so it is
            // adopted with the others, in its place (PostgreSQL; CONTRACT 4).
            queue::wait_for_storers(c, &crate::domain::order_key::of_directory(dir)).await?;
            if queue::adopt_directory(c, dir, org).await? > 0 {
                self.regrouped = true;
            }
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
            scope.directories.insert(dir.clone(), Some(DirectoryRow { organization_id: org.clone(), deleted: true }));
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
    if let Some(known) = &stored {
        let older = change.updated_at < known.updated_at;
        let not_after_deletion = known.deleted && change.updated_at <= known.updated_at;
        if older || not_after_deletion {
            return Ok(Outcome::Stale);
        }
    }
    let user = StoredUser {
        id: change.user.clone(),
        directory: change.directory.clone(),
        organization: org.clone(),
        email: change.email.clone(),
        state: change.state.clone(),
        updated_at: change.updated_at,
        deleted: change.deleted,
    };
    directory::upsert_users(c, &[&user], now).await?;

    let moved_from = stored.filter(|known| !known.deleted && known.email != change.email).map(|known| known.email);
    let reason = change_reason(change, moved_from.is_some(), reason_override);
    if let Some(old) = &moved_from {
        let moves = settle_email(c, &plan, old, reason, event, now).await?;
        scope.moves.add(moves);
    }
    let moves = settle_email(c, &plan, &change.email, reason, event, now).await?;
    scope.moves.add(moves);
    if enforcement::start_if_due(c, &plan, event, now).await? {
        scope.set_mode(&plan, PlanMode::Enforced, Some(now));
    }
    Ok(Outcome::Applied)
}

/// Whether applying `change` can take a paid seat away in a way the release
/// guard counts: only a user who stops being active does (with or without an
/// email change; an active user's email change is `email_changed`, not counted).
pub fn may_release(change: &DirectoryUserChange) -> bool {
    change.deleted || !change.state.is_active()
}

/// Whether applying `change` can turn a seat paid in a way the grant guard
/// counts: only an active user can.
pub fn may_grant(change: &DirectoryUserChange) -> bool {
    !may_release(change)
}

/// The audit reason of a user change, for both addresses when its email moved.
/// An email change of an active user moves the seat (`email_changed`, never a
/// release); one that comes with a deactivation or deletion is that release.
/// `reason_override` (resync) names every other change.
pub fn change_reason(change: &DirectoryUserChange, email_moved: bool, reason_override: Option<Reason>) -> Reason {
    if email_moved && !may_release(change) {
        Reason::EmailChanged
    } else {
        reason_override.unwrap_or_else(|| state_reason(change))
    }
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
/// Returns how paid seats moved (a release the guard counts among them).
pub async fn settle_email(
    c: &impl ConnectionTrait,
    plan: &Plan,
    email: &Email,
    reason: Reason,
    event: Option<&EventId>,
    now: Micros,
) -> Result<Moves, DbErr> {
    let SeatInputs { active, link, member: current } =
        members::seat_inputs(c, &plan.id, plan.organization_id.as_ref(), email).await?;
    let Some(target) = rule::target_seat(plan.mode, current.as_ref().map(|m| m.seat), active) else {
        return Ok(Moves::default());
    };
    let unchanged = current.as_ref().is_some_and(|m| m.seat == target && m.directory_user_id == link);
    if unchanged {
        return Ok(Moves::default());
    }
    members::put(c, &plan.id, email, target, link.as_deref(), now).await?;
    let from = current.map(|m| m.seat.tier);
    if from != Some(target.tier) {
        audit::record(
            c,
            &audit::Change {
                plan: &plan.id,
                email,
                from,
                to: target.tier,
                reason,
                event_id: event,
                at: now,
                actor: None,
            },
        )
        .await?;
    }
    Ok(seat_moves(from, target.tier, reason))
}

/// How one member's tier change moves the plan's paid seats.
pub fn seat_moves(from: Option<Tier>, to: Tier, reason: Reason) -> Moves {
    let was_paid = from == Some(Tier::Paid);
    let is_paid = to == Tier::Paid;
    Moves {
        released: u64::from(was_paid && !is_paid && guard::counts(reason)),
        granted: u64::from(!was_paid && is_paid && guard::counts_grant(reason)),
        paid_delta: i64::from(is_paid) - i64::from(was_paid),
    }
}

/// Whether `change` can go through the batched path (`bulk`): its plan exists and
/// is enforced, and its directory is known, live and of that organization.
pub async fn fits_bulk(
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
