//! The batched path for the common case: a run of directory user changes for
//! one enforced plan (an initial sync, a burst of deactivations). It reads every
//! user, person and member the run touches in three queries, applies the run in
//! memory, event by event in arrival order, with exactly the checks of
//! `apply::change_user` and the seat of `rule::target_seat`, then writes the
//! final rows back in three multi-row statements. All of it inside the batch's
//! transaction and under the plan's lock, so the database stays the only truth.
//!
//! Everything else (a plan in test mode, where a change may start enforcement;
//! directories appearing or going; legacy payloads; a user moving between
//! organizations) takes the per-event path.
use super::{
    apply::{self, Moves, Outcome},
    guard::{GuardSettings, Standing},
    rule,
};
use crate::{
    domain::{DirectoryUserId, Email, EventId, HoldKind, Micros, OrganizationId, PlanId, PlanMode, Reason, Tier},
    events::DirectoryUserChange,
    store::{
        audit,
        directory::{self, StoredUser},
        members::{self, Member},
        plans::Plan,
    },
};
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub struct Item<'a> {
    pub change: &'a DirectoryUserChange,
    pub event: &'a EventId,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// One per item applied, in order.
    pub outcomes: Vec<Outcome>,
    /// How paid seats moved (counted releases among them).
    pub moves: Moves,
    /// The item a guard stopped, and which guard: it and every later item
    /// were not applied.
    pub held_at: Option<(usize, HoldKind)>,
}

/// The release guard as a run applies it: the plan's standing before the run.
/// Its paid seats must be counted unless the minimum decides every release.
#[derive(Debug, Clone, Copy)]
pub struct RunGuard<'g> {
    pub standing: Standing,
    pub settings: &'g GuardSettings,
}

/// One plan's run: its items in arrival order, and its guard.
pub struct RunInput<'i, 'a> {
    pub plan: &'i Plan,
    pub items: &'i [Item<'a>],
    pub guard: Option<RunGuard<'i>>,
}

/// Applies runs of different plans, in order, with the reads and writes of
/// one: a batch that holds a few events for each of many organizations costs
/// what one run of that many events costs. Each run's items are applied in
/// order to its enforced plan, each release checked as the per-event path
/// checks it (the limit as of that event).
///
/// It stops before the first run this path does not take (a user stored under
/// another organization or met by an earlier run, a plan met twice, or paid
/// seats the guard would need that were not counted) and returns the results
/// of the runs before it, which are written. The caller applies that run one
/// event at a time and hands the rest back, so every run sees what the runs
/// before it did, as if each were applied alone.
pub async fn apply_runs(
    c: &impl ConnectionTrait,
    runs: &[RunInput<'_, '_>],
    now: Micros,
) -> Result<Vec<RunResult>, DbErr> {
    let mut ids: Vec<&DirectoryUserId> = runs.iter().flat_map(|r| r.items.iter().map(|i| &i.change.user)).collect();
    ids.sort();
    ids.dedup();
    let mut users: HashMap<DirectoryUserId, StoredUser> =
        directory::find_users(c, &ids).await?.into_iter().map(|u| (u.id.clone(), u)).collect();

    // The runs this path takes: up to the first it does not.
    let mut taken: Vec<(&RunInput<'_, '_>, &OrganizationId)> = Vec::with_capacity(runs.len());
    let mut seen_users: BTreeSet<&DirectoryUserId> = BTreeSet::new();
    for run in runs {
        debug_assert_eq!(run.plan.mode, PlanMode::Enforced);
        // Plans reach the reconciler through their organization's events.
        let Some(org) = run.plan.organization_id.as_ref() else { break };
        let mine: BTreeSet<&DirectoryUserId> = run.items.iter().map(|i| &i.change.user).collect();
        let plan_met = taken.iter().any(|(earlier, _)| earlier.plan.id == run.plan.id);
        let user_met = mine.iter().any(|id| seen_users.contains(id));
        let in_another_organization = mine.iter().any(|id| users.get(*id).is_some_and(|u| &u.organization != org));
        if plan_met || user_met || in_another_organization {
            break;
        }
        seen_users.extend(mine);
        taken.push((run, org));
    }

    let emails: BTreeSet<&Email> = taken
        .iter()
        .flat_map(|(r, _)| r.items.iter().map(|i| &i.change.email))
        .chain(users.values().map(|u| &u.email))
        .collect();
    let emails: Vec<&Email> = emails.into_iter().collect();
    let orgs: Vec<&OrganizationId> = taken.iter().map(|(_, org)| *org).collect();
    let mut people: HashMap<(String, String), BTreeMap<String, bool>> = HashMap::new();
    for (org, email, id, active) in directory::live_users_with_emails(c, &orgs, &emails).await? {
        people.entry((org, email)).or_default().insert(id, active);
    }
    let plan_ids: Vec<&PlanId> = taken.iter().map(|(r, _)| &r.plan.id).collect();
    let mut members: HashMap<(PlanId, String), Member> =
        members::get_many(c, &plan_ids, &emails).await?.into_iter().map(|(p, m)| ((p, m.email.clone()), m)).collect();

    let mut results = Vec::with_capacity(taken.len());
    let mut worked: Vec<WorkingSet<'_, '_>> = Vec::with_capacity(taken.len());
    for (input, org) in taken {
        let mut run = WorkingSet::new(input.plan, org, now);
        for item in input.items {
            if let Some(user) = users.remove(&item.change.user) {
                run.users.insert(user.id.clone(), user);
            }
        }
        let mine: BTreeSet<&Email> =
            input.items.iter().map(|i| &i.change.email).chain(run.users.values().map(|u| &u.email)).collect();
        for email in mine {
            let key = email.as_str().to_owned();
            if let Some(holders) = people.remove(&(org.as_str().to_owned(), key.clone())) {
                run.people.insert(key.clone(), holders);
            }
            if let Some(member) = members.remove(&(input.plan.id.clone(), key.clone())) {
                run.members.insert(key, member);
            }
        }
        // Paid seats were not counted: not a run this path can decide.
        let Some(result) = run.apply_all(input.items, input.guard) else { break };
        results.push(result);
        worked.push(run);
    }

    let users: Vec<&StoredUser> =
        worked.iter().flat_map(|run| run.touched_users.iter().filter_map(|id| run.users.get(id))).collect();
    directory::upsert_users(c, &users, now).await?;
    let seats: Vec<(&PlanId, &Member)> = worked
        .iter()
        .flat_map(|run| run.touched_members.iter().filter_map(|e| run.members.get(e)).map(|m| (&run.plan.id, m)))
        .collect();
    members::put_many(c, &seats).await?;
    let changes: Vec<audit::Change<'_>> = worked
        .iter()
        .flat_map(|run| {
            run.audit.iter().map(|a| audit::Change {
                plan: &run.plan.id,
                email: &a.email,
                from: a.from,
                to: a.to,
                reason: a.reason,
                event_id: Some(a.event),
                at: now,
                actor: None,
            })
        })
        .collect();
    audit::record_many(c, &changes).await?;
    Ok(results)
}

struct AuditRow<'a> {
    email: Email,
    from: Option<Tier>,
    to: Tier,
    reason: Reason,
    event: &'a EventId,
}

/// The run's working set: what the database stored, with the run's changes so far.
struct WorkingSet<'p, 'a> {
    plan: &'p Plan,
    org: &'p OrganizationId,
    now: Micros,
    users: HashMap<DirectoryUserId, StoredUser>,
    /// Per email, the organization's not-deleted users holding it: id → active.
    /// Ordered by id, as the SQL path orders them (bytewise).
    people: HashMap<String, BTreeMap<String, bool>>,
    members: HashMap<String, Member>,
    touched_users: BTreeSet<DirectoryUserId>,
    touched_members: BTreeSet<String>,
    audit: Vec<AuditRow<'a>>,
    /// Paid seats moved so far.
    moves: Moves,
}

/// What one item may change, as it was before it: enough to undo it.
struct Saved {
    user: (DirectoryUserId, Option<StoredUser>, bool),
    people: Vec<(String, Option<BTreeMap<String, bool>>)>,
    members: Vec<(String, Option<Member>, bool)>,
    audit_len: usize,
    moves: Moves,
}

impl<'p, 'a> WorkingSet<'p, 'a> {
    fn new(plan: &'p Plan, org: &'p OrganizationId, now: Micros) -> Self {
        Self {
            plan,
            org,
            now,
            users: HashMap::new(),
            people: HashMap::new(),
            members: HashMap::new(),
            touched_users: BTreeSet::new(),
            touched_members: BTreeSet::new(),
            audit: Vec::new(),
            moves: Moves::default(),
        }
    }

    /// Applies the items in order; at the limit, an item is tried on a copy of
    /// what it touches and, if it would release one more seat, undone and
    /// held with everything after it. `None` when the guard needs paid seats
    /// that were not counted (nothing is kept).
    fn apply_all(&mut self, items: &[Item<'a>], guard: Option<RunGuard<'_>>) -> Option<RunResult> {
        let mut result =
            RunResult { outcomes: Vec::with_capacity(items.len()), moves: Moves::default(), held_at: None };
        for (i, item) in items.iter().enumerate() {
            let at_limit = match guard {
                Some(guard) => {
                    let mut standing = guard.standing;
                    standing.record(self.moves.released, self.moves.granted, self.moves.paid_delta);
                    if apply::may_release(item.change)
                        && !standing.allows_one_more(self.plan.release_limit, guard.settings)?
                    {
                        Some(HoldKind::Release)
                    } else if apply::may_grant(item.change) && !standing.allows_one_more_grant(self.plan.grant_limit) {
                        Some(HoldKind::Grant)
                    } else {
                        None
                    }
                }
                None => None,
            };
            let saved = at_limit.map(|kind| (kind, self.save(item)));
            let before = self.moves;
            let outcome = self.apply(item);
            if let Some((kind, saved)) = saved
                && passes(kind, before, self.moves)
            {
                self.restore(saved);
                result.held_at = Some((i, kind));
                break;
            }
            result.outcomes.push(outcome);
        }
        result.moves = self.moves;
        Some(result)
    }
}

/// Whether the moves from `before` to `after` pass the limit a guard of
/// `kind` was at: one more seat released, or turned paid.
pub fn passes(kind: HoldKind, before: Moves, after: Moves) -> bool {
    match kind {
        HoldKind::Release => after.released > before.released,
        HoldKind::Grant => after.granted > before.granted,
    }
}

impl WorkingSet<'_, '_> {
    fn save(&self, item: &Item<'_>) -> Saved {
        let id = &item.change.user;
        let mut emails = vec![item.change.email.as_str().to_owned()];
        if let Some(user) = self.users.get(id) {
            emails.push(user.email.as_str().to_owned());
        }
        Saved {
            user: (id.clone(), self.users.get(id).cloned(), self.touched_users.contains(id)),
            people: emails.iter().map(|e| (e.clone(), self.people.get(e).cloned())).collect(),
            members: emails
                .iter()
                .map(|e| (e.clone(), self.members.get(e).cloned(), self.touched_members.contains(e)))
                .collect(),
            audit_len: self.audit.len(),
            moves: self.moves,
        }
    }

    fn restore(&mut self, saved: Saved) {
        let (id, user, touched) = saved.user;
        match user {
            Some(user) => self.users.insert(id.clone(), user),
            None => self.users.remove(&id),
        };
        if !touched {
            self.touched_users.remove(&id);
        }
        // In reverse, so an email saved twice ends as it was first.
        for (email, holders) in saved.people.into_iter().rev() {
            match holders {
                Some(holders) => self.people.insert(email, holders),
                None => self.people.remove(&email),
            };
        }
        for (email, member, touched) in saved.members.into_iter().rev() {
            match member {
                Some(member) => self.members.insert(email.clone(), member),
                None => self.members.remove(&email),
            };
            if !touched {
                self.touched_members.remove(&email);
            }
        }
        self.audit.truncate(saved.audit_len);
        self.moves = saved.moves;
    }
}

impl<'a> WorkingSet<'_, 'a> {
    /// `apply::change_user`, in memory.
    fn apply(&mut self, item: &Item<'a>) -> Outcome {
        let change = item.change;
        let stored = self.users.get(&change.user).cloned();
        if let Some(known) = &stored {
            let older = change.updated_at < known.updated_at;
            let not_after_deletion = known.deleted && change.updated_at <= known.updated_at;
            if older || not_after_deletion {
                return Outcome::Stale;
            }
            if !known.deleted
                && let Some(holders) = self.people.get_mut(known.email.as_str())
            {
                holders.remove(known.id.as_str());
            }
        }
        let user = StoredUser {
            id: change.user.clone(),
            directory: change.directory.clone(),
            organization: self.org.clone(),
            email: change.email.clone(),
            state: change.state.clone(),
            updated_at: change.updated_at,
            deleted: change.deleted,
        };
        if !user.deleted {
            self.people
                .entry(user.email.as_str().to_owned())
                .or_default()
                .insert(user.id.as_str().to_owned(), user.active());
        }
        self.users.insert(user.id.clone(), user);
        self.touched_users.insert(change.user.clone());

        let moved_from = stored.filter(|known| !known.deleted && known.email != change.email);
        let reason = apply::change_reason(change, moved_from.is_some(), None);
        if let Some(old) = moved_from {
            self.settle(&old.email, reason, item.event);
        }
        self.settle(&change.email, reason, item.event);
        Outcome::Applied
    }

    /// `apply::settle_email`, in memory.
    fn settle(&mut self, email: &Email, reason: Reason, event: &'a EventId) {
        let holders = self.people.get(email.as_str());
        let active = holders.is_some_and(|h| h.values().any(|a| *a));
        // Active holders first, then by id: `ORDER BY active DESC, id LIMIT 1`.
        let link =
            holders.and_then(|h| h.iter().find(|(_, a)| **a).or_else(|| h.iter().next())).map(|(id, _)| id.clone());
        let current = self.members.get(email.as_str());
        let Some(target) = rule::target_seat(self.plan.mode, current.map(|m| m.seat), active) else {
            return;
        };
        if current.is_some_and(|m| m.seat == target && m.directory_user_id == link) {
            return;
        }
        let from = current.map(|m| m.seat.tier);
        let member =
            Member { email: email.as_str().to_owned(), seat: target, directory_user_id: link, updated_at: self.now };
        self.members.insert(member.email.clone(), member);
        self.touched_members.insert(email.as_str().to_owned());
        if from != Some(target.tier) {
            self.moves.add(apply::seat_moves(from, target.tier, reason));
            self.audit.push(AuditRow { email: email.clone(), from, to: target.tier, reason, event });
        }
    }
}
