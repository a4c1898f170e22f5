//! What one transaction has read and locked (`Scope`): each plan locked
//! once, through the one door (`seats::unit`), each directory read once, and
//! each guarded plan's standing kept up to date; where a user change goes
//! (`Scope::resolve`); what became of an event (`Outcome`).
use super::guard::{self, GuardSettings, Standing};
use crate::{
    domain::{DirectoryId, EventStatus, Micros, OrganizationId, PlanId, PlanMode},
    events::{Command, DirectoryUserChange},
    inbox::queue,
    seats::unit::Locks,
    store::{directory, directory::DirectoryRow, members, plans::Plan},
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

/// A user change resolved against what the transaction has locked.
pub enum Resolved {
    /// Its plan; its directory is known and live.
    Ready(Plan),
    /// Its plan; its directory is new (`Scope::add_directory_for` first).
    NewDirectory(Plan),
    /// Nothing to apply.
    Settled(Outcome),
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

    /// Forgets the plans and directories read: they are read again, under the
    /// locks the transaction still holds (after an approval moved a plan's
    /// release floor). Standings are kept: they only ever took in kept moves.
    pub fn forget_reads(&mut self) {
        self.plans.clear();
        self.directories.clear();
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

    /// The plan a user change is for, if one exists (locked), as `resolve`
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

    pub(super) fn set_mode(&mut self, plan: &Plan, mode: PlanMode, enforced_at: Option<Micros>) {
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

    /// Where a user change goes: its plan (locked), and whether its directory
    /// is new; or what it comes to without one (CONTRACT 4: parked without a
    /// plan, stale once its directory is gone).
    pub async fn resolve(&mut self, c: &impl ConnectionTrait, change: &DirectoryUserChange) -> Result<Resolved, DbErr> {
        let org = match &change.organization {
            Some(org) => org.clone(),
            None => match self.directory(c, &change.directory).await? {
                Some(known) => known.organization_id,
                None => return Ok(Resolved::Settled(Outcome::Parked)),
            },
        };
        let Some(plan) = self.plan(c, &org).await? else {
            return Ok(Resolved::Settled(Outcome::Parked));
        };
        // Read under the plan's lock (`plan` forgets what was read before it).
        Ok(match self.directory(c, &change.directory).await? {
            Some(known) if known.deleted => Resolved::Settled(Outcome::Stale),
            Some(_) => Resolved::Ready(plan),
            None => Resolved::NewDirectory(plan),
        })
    }

    /// Records the change's directory, new to us, under its plan's organization.
    pub async fn add_directory_for(
        &mut self,
        c: &impl ConnectionTrait,
        change: &DirectoryUserChange,
        plan: &Plan,
        now: Micros,
    ) -> Result<(), DbErr> {
        let Some(org) = &plan.organization_id else { return Ok(()) };
        self.add_directory(c, &change.directory, org, false, now).await
    }

    /// The directory was released in this transaction (`dsync.deleted`).
    pub(super) fn directory_released(&mut self, dir: &DirectoryId, org: &OrganizationId) {
        self.directories.insert(dir.clone(), Some(DirectoryRow { organization_id: org.clone(), deleted: true }));
    }

    /// Records a directory met for the first time; events that waited for it
    /// (legacy payloads without an organization) join its organization's group.
    pub(super) async fn add_directory(
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
