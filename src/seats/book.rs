//! The book: the one engine that decides seats for directory user changes.
//! It reads every user, person and member a run of changes touches in three
//! queries (and, for a plan in test mode, how many active emails its
//! organization has), applies the run in memory, event by event in arrival order (the
//! stale check, the seat of `rule::target_seat`, the guards of CONTRACT 4.1
//! as of each event, and when enforcement becomes due), then writes the final
//! rows back in three multi-row statements. All of it inside the caller's
//! transaction and under the plan's lock, so the database stays the only truth.
//!
//! A run is one plan's consecutive user changes; `apply_runs` takes the runs
//! of many plans at once (a batch of many organizations pays the reads and
//! writes of one). `apply_in_order` is the door callers use: it places each
//! guard's standing, starts enforcement where the book says it is due (the
//! set-based switch of `enforcement::start`), and goes on with the rest of
//! that run on the enforced plan. A single change (`change_one`) is a run of
//! one. What stays outside the book: linking and releasing a directory
//! (`apply`, set-based SQL).
use super::{
    enforcement,
    guard::{self, GuardSettings, Standing},
    rule,
    scope::{Moves, Outcome, Resolved, Scope},
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

#[derive(Clone, Copy)]
pub struct Item<'a> {
    pub change: &'a DirectoryUserChange,
    /// The event it came from; None for a resync.
    pub event: Option<&'a EventId>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// One per item applied, in order.
    pub outcomes: Vec<Outcome>,
    /// Per item applied, the paid seats it gained less those it lost.
    pub paid_changes: Vec<i64>,
    /// How paid seats moved (counted releases among them).
    pub moves: Moves,
    /// The item a guard stopped, and which guard: it and every later item
    /// were not applied.
    pub held_at: Option<(usize, HoldKind)>,
    /// The last item applied took a plan in test mode past its threshold:
    /// enforcement starts before the items after it (`apply_in_order`).
    pub enforcement_due: bool,
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
    /// Audits every change with this reason (a resync's) instead of the state's.
    pub reason: Option<Reason>,
}

/// Applies runs of different plans, in order, with the reads and writes of
/// one: a batch that holds a few events for each of many organizations costs
/// what one run of that many events costs.
///
/// It takes the runs up to the first whose rows another taken run could
/// share (a plan or user met before, or a user stored under another
/// organization: a run that moves users between organizations is taken only
/// first, and alone) and returns their results, which are written. The first
/// run is always taken. The caller hands the rest back, so every run sees what
/// the runs before it did, as if each were applied alone.
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

    let mut taken: Vec<(&RunInput<'_, '_>, &OrganizationId)> = Vec::with_capacity(runs.len());
    let mut seen_users: BTreeSet<&DirectoryUserId> = BTreeSet::new();
    for run in runs {
        // Plans reach the book through their organization.
        let Some(org) = run.plan.organization_id.as_ref() else {
            return Err(DbErr::Custom(format!("plan {} has no organization to apply changes for", run.plan.id)));
        };
        let mine: BTreeSet<&DirectoryUserId> = run.items.iter().map(|i| &i.change.user).collect();
        let plan_met = taken.iter().any(|(earlier, _)| earlier.plan.id == run.plan.id);
        let user_met = mine.iter().any(|id| seen_users.contains(id));
        // Its users' rows in the other organization's book would go stale.
        let moves_users = mine.iter().any(|id| users.get(*id).is_some_and(|u| &u.organization != org));
        if plan_met || user_met || (moves_users && !taken.is_empty()) {
            break;
        }
        seen_users.extend(mine);
        taken.push((run, org));
        if moves_users {
            break;
        }
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
        let mut run = WorkingSet::new(input.plan, org, input.reason, now);
        if input.plan.mode == PlanMode::Test {
            // Counted only as far as the run could need: each item moves the
            // count of active emails by one at most, so past that the
            // threshold stays passed whatever the run does.
            let threshold = u64::from(input.plan.test_mode_max_users);
            let up_to = threshold + 1 + input.items.len() as u64;
            run.active_emails = Some(directory::active_count(c, org, up_to).await?);
        }
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
        let Some(result) = run.apply_all(input.items, input.guard) else {
            // `apply_in_order` counts paid seats for every release a run could
            // make (two for each change that may release: an email change
            // can release both addresses' seats).
            return Err(DbErr::Custom(format!(
                "plan {}: the release guard needs paid seats not counted",
                input.plan.id
            )));
        };
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
                event_id: a.event,
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
    event: Option<&'a EventId>,
}

/// The run's working set: what the database stored, with the run's changes so far.
struct WorkingSet<'p, 'a> {
    plan: &'p Plan,
    org: &'p OrganizationId,
    reason: Option<Reason>,
    now: Micros,
    users: HashMap<DirectoryUserId, StoredUser>,
    /// Per email, the organization's not-deleted users holding it: id → active.
    /// Ordered by id, as the SQL path orders them (bytewise).
    people: HashMap<String, BTreeMap<String, bool>>,
    members: HashMap<String, Member>,
    /// A plan in test mode: how many emails the organization's active users
    /// hold (counted up to what the run could need, `apply_runs`).
    active_emails: Option<u64>,
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
    active_emails: Option<u64>,
    audit_len: usize,
    moves: Moves,
}

impl<'p, 'a> WorkingSet<'p, 'a> {
    fn new(plan: &'p Plan, org: &'p OrganizationId, reason: Option<Reason>, now: Micros) -> Self {
        Self {
            plan,
            org,
            reason,
            now,
            users: HashMap::new(),
            people: HashMap::new(),
            members: HashMap::new(),
            active_emails: None,
            touched_users: BTreeSet::new(),
            touched_members: BTreeSet::new(),
            audit: Vec::new(),
            moves: Moves::default(),
        }
    }

    /// Applies the items in order; at the limit, an item is tried on a copy of
    /// what it touches and, if it would pass the limit, undone and held with
    /// everything after it. Stops after an item that makes enforcement due.
    /// `None` when the guard needs paid seats that were not counted (nothing
    /// is kept).
    fn apply_all(&mut self, items: &[Item<'a>], guard: Option<RunGuard<'_>>) -> Option<RunResult> {
        let mut result = RunResult {
            outcomes: Vec::with_capacity(items.len()),
            paid_changes: Vec::with_capacity(items.len()),
            moves: Moves::default(),
            held_at: None,
            enforcement_due: false,
        };
        for (i, item) in items.iter().enumerate() {
            let at_limit = match guard {
                Some(guard) => {
                    let mut standing = guard.standing;
                    standing.record(self.moves.released, self.moves.granted, self.moves.paid_delta);
                    if may_release(item.change) && !standing.allows_one_more(self.plan.release_limit, guard.settings)? {
                        Some(HoldKind::Release)
                    } else if may_grant(item.change) && !standing.allows_one_more_grant(self.plan.grant_limit) {
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
            let applied = outcome == Outcome::Applied;
            result.outcomes.push(outcome);
            result.paid_changes.push(self.moves.paid_delta - before.paid_delta);
            let threshold = self.plan.test_mode_max_users;
            if applied && self.active_emails.is_some_and(|n| rule::starts_enforcement(self.plan.mode, threshold, n)) {
                result.enforcement_due = true;
                break;
            }
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
            active_emails: self.active_emails,
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
        self.active_emails = saved.active_emails;
        self.audit.truncate(saved.audit_len);
        self.moves = saved.moves;
    }

    /// Whether an active user of the organization holds `email`.
    fn email_active(&self, email: &str) -> bool {
        self.people.get(email).is_some_and(|h| h.values().any(|a| *a))
    }
}

impl<'a> WorkingSet<'_, 'a> {
    /// One user change: stale against what is stored, or stored and both its
    /// addresses' seats brought to what the rule says.
    fn apply(&mut self, item: &Item<'a>) -> Outcome {
        let change = item.change;
        let stored = self.users.get(&change.user).cloned();
        if let Some(known) = &stored {
            let older = change.updated_at < known.updated_at;
            let not_after_deletion = known.deleted && change.updated_at <= known.updated_at;
            if older || not_after_deletion {
                return Outcome::Stale;
            }
        }
        let mut emails = vec![change.email.as_str().to_owned()];
        if let Some(known) = &stored
            && known.email != change.email
        {
            emails.push(known.email.as_str().to_owned());
        }
        let was_active: Vec<bool> = emails.iter().map(|e| self.email_active(e)).collect();
        if let Some(known) = &stored
            && !known.deleted
            && let Some(holders) = self.people.get_mut(known.email.as_str())
        {
            holders.remove(known.id.as_str());
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
        if let Some(count) = self.active_emails.as_mut() {
            for (email, was) in emails.iter().zip(was_active) {
                let is = self.people.get(email).is_some_and(|h| h.values().any(|a| *a));
                *count = (*count + u64::from(is)).saturating_sub(u64::from(was));
            }
        }

        let moved_from = stored.filter(|known| !known.deleted && known.email != change.email);
        let reason = change_reason(change, moved_from.is_some(), self.reason);
        if let Some(old) = moved_from {
            self.settle(&old.email, reason, item.event);
        }
        self.settle(&change.email, reason, item.event);
        Outcome::Applied
    }

    /// Brings one member's seat to what the rule says, auditing a tier change.
    fn settle(&mut self, email: &Email, reason: Reason, event: Option<&'a EventId>) {
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
            self.moves.add(seat_moves(from, target.tier, reason));
            self.audit.push(AuditRow { email: email.clone(), from, to: target.tier, reason, event });
        }
    }
}

/// One plan's consecutive user changes, for `apply_in_order`.
pub struct Pending<'a> {
    /// The plan, locked, as `Scope::resolve` found it.
    pub plan: Plan,
    pub items: Vec<Item<'a>>,
    /// The installation's guard settings, for changes under the plan's guards;
    /// None for an approved event, a resync or a preview (without limit).
    pub guard: Option<&'a GuardSettings>,
    pub reason: Option<Reason>,
}

/// What became of one `Pending` run.
#[derive(Debug, Default)]
pub struct Done {
    /// One per item applied, in order.
    pub outcomes: Vec<Outcome>,
    /// Per item applied, the paid seats it gained less those it lost
    /// (enforcement's own switch not among them).
    pub paid_changes: Vec<i64>,
    /// The item a guard stopped (an index into the run's items), and which
    /// guard: it and every later item were not applied.
    pub held_at: Option<(usize, HoldKind)>,
}

/// Applies runs of different plans in arrival order through the book, each
/// guard's standing as its plan stands when the run is applied (kept in
/// `scope`), starting enforcement where a run makes it due and applying the
/// rest of that run to the enforced plan. One `Done` per run, in order.
pub async fn apply_in_order(
    c: &impl ConnectionTrait,
    scope: &mut Scope,
    mut runs: Vec<Pending<'_>>,
    now: Micros,
) -> Result<Vec<Done>, DbErr> {
    let mut done: Vec<Done> = runs.iter().map(|_| Done::default()).collect();
    // Per run, the first item not yet applied; None once the run is over.
    let mut next: Vec<Option<usize>> = runs.iter().map(|r| (!r.items.is_empty()).then_some(0)).collect();
    loop {
        let open: Vec<usize> = (0..runs.len()).filter(|i| next[*i].is_some()).collect();
        if open.is_empty() {
            return Ok(done);
        }
        let mut guards = Vec::with_capacity(open.len());
        for &i in &open {
            let run = &runs[i];
            let items = &run.items[next[i].unwrap_or(0)..];
            // Two at most per change: a deactivation with an email change can
            // release the old address's seat and a paid seat at the new one.
            let releases = 2 * items.iter().filter(|i| may_release(i.change)).count() as u64;
            let grants = run.plan.grant_limit.is_some() && items.iter().any(|i| may_grant(i.change));
            let guard = match run.guard {
                Some(settings) if releases > 0 || grants => {
                    let standing = scope.standing(c, &run.plan, settings, now, releases).await?;
                    Some(RunGuard { standing, settings })
                }
                _ => None,
            };
            guards.push(guard);
        }
        let inputs: Vec<RunInput<'_, '_>> = open
            .iter()
            .zip(&guards)
            .map(|(&i, guard)| RunInput {
                plan: &runs[i].plan,
                items: &runs[i].items[next[i].unwrap_or(0)..],
                guard: *guard,
                reason: runs[i].reason,
            })
            .collect();
        let results = apply_runs(c, &inputs, now).await?;
        drop(inputs);
        if results.is_empty() {
            return Err(DbErr::Custom("the book took no run".into()));
        }
        for (&i, result) in open.iter().zip(results) {
            let start = next[i].unwrap_or(0);
            let plan_id = runs[i].plan.id.clone();
            scope.record(&plan_id, result.moves);
            let applied = result.outcomes.len();
            let finished = &mut done[i];
            finished.outcomes.extend(result.outcomes);
            finished.paid_changes.extend(result.paid_changes);
            if let Some((at, kind)) = result.held_at {
                finished.held_at = Some((start + at, kind));
                next[i] = None;
            } else if result.enforcement_due {
                // Set-based: every seat of the plan as the enforced rule says,
                // then the rest of the run on the enforced plan.
                let last = start + applied - 1;
                let run = &mut runs[i];
                enforcement::start(c, &run.plan, run.items[last].event, now).await?;
                scope.set_mode(&run.plan, PlanMode::Enforced, Some(now));
                run.plan = Plan { mode: PlanMode::Enforced, enforced_at: Some(now), ..run.plan.clone() };
                next[i] = (last + 1 < run.items.len()).then_some(last + 1);
            } else {
                next[i] = None;
            }
        }
    }
}

/// One user change applied unguarded, as a run of one (an operator's resync,
/// a hold's preview, an approved event): resolved against the transaction's
/// scope first, its directory recorded if it is new.
pub async fn change_one(
    c: &impl ConnectionTrait,
    scope: &mut Scope,
    change: &DirectoryUserChange,
    event: Option<&EventId>,
    reason: Option<Reason>,
    now: Micros,
) -> Result<Outcome, DbErr> {
    let plan = match scope.resolve(c, change).await? {
        Resolved::Ready(plan) => plan,
        Resolved::NewDirectory(plan) => {
            scope.add_directory_for(c, change, &plan, now).await?;
            plan
        }
        Resolved::Settled(outcome) => return Ok(outcome),
    };
    let run = Pending { plan, items: vec![Item { change, event }], guard: None, reason };
    let mut done = apply_in_order(c, scope, vec![run], now).await?;
    // Unguarded, a run of one has exactly one outcome.
    done.pop()
        .and_then(|d| d.outcomes.into_iter().next())
        .ok_or_else(|| DbErr::Custom("a change applied alone left no outcome".into()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DirectoryId, Seat, UserState};

    fn plan(mode: PlanMode) -> Plan {
        let mut plan = Plan::new(
            PlanId::parse("plan_1").unwrap(),
            "Plan".into(),
            Some(OrganizationId::parse("org_1").unwrap()),
            10,
        );
        plan.mode = mode;
        plan
    }

    fn change(user: usize, email: &str, active: bool, second: i64) -> DirectoryUserChange {
        DirectoryUserChange {
            user: DirectoryUserId::parse(&format!("directory_user_{user}")).unwrap(),
            directory: DirectoryId::parse("directory_1").unwrap(),
            organization: Some(OrganizationId::parse("org_1").unwrap()),
            email: Email::parse(email).unwrap(),
            state: if active { UserState::Active } else { UserState::Inactive },
            updated_at: Micros(second * 1_000_000),
            deleted: false,
        }
    }

    fn book<'p>(plan: &'p Plan, reason: Option<Reason>) -> WorkingSet<'p, 'static> {
        WorkingSet::new(plan, plan.organization_id.as_ref().unwrap(), reason, Micros(0))
    }

    fn paid(book: &WorkingSet<'_, '_>) -> Vec<String> {
        let mut paid: Vec<String> =
            book.members.values().filter(|m| m.seat.tier == Tier::Paid).map(|m| m.email.clone()).collect();
        paid.sort();
        paid
    }

    #[test]
    fn the_eleventh_active_email_of_a_test_mode_plan_makes_enforcement_due_before_the_next_change() {
        let plan = plan(PlanMode::Test);
        let changes: Vec<_> = (0..12).map(|i| change(i, &format!("u{i}@example.com"), true, 1)).collect();
        let items: Vec<Item<'_>> = changes.iter().map(|change| Item { change, event: None }).collect();
        let mut book = book(&plan, None);
        book.active_emails = Some(0);
        let result = book.apply_all(&items, None).unwrap();
        assert_eq!(result.outcomes, vec![Outcome::Applied; 11]);
        assert!(result.enforcement_due);
        assert_eq!(book.active_emails, Some(11));
        assert_eq!(paid(&book).len(), 11);
        assert_eq!(result.paid_changes, vec![1; 11]);
    }

    #[test]
    fn two_users_holding_one_email_count_once_and_an_email_change_moves_the_count() {
        let plan = plan(PlanMode::Test);
        let changes = [
            change(1, "same@example.com", true, 1),
            change(2, "same@example.com", true, 1),
            change(1, "other@example.com", true, 2),
            change(2, "other@example.com", false, 2),
        ];
        let items: Vec<Item<'_>> = changes.iter().map(|change| Item { change, event: None }).collect();
        let mut book = book(&plan, None);
        book.active_emails = Some(9);
        let result = book.apply_all(&items[..2], None).unwrap();
        assert_eq!(result.outcomes.len(), 2);
        assert_eq!(book.active_emails, Some(10), "one email, two holders: {result:?}");
        assert!(!result.enforcement_due);
        // User 1 moves to other@: same@ is still held by user 2, so 11.
        let result = book.apply_all(&items[2..], None).unwrap();
        assert_eq!(book.active_emails, Some(11));
        assert!(result.enforcement_due);
        assert_eq!(result.outcomes.len(), 1, "the change after it waits for enforcement");
    }

    #[test]
    fn a_release_at_the_limit_is_undone_and_everything_after_it_waits() {
        let plan = plan(PlanMode::Enforced);
        let joins: Vec<_> = (0..3).map(|i| change(i, &format!("u{i}@example.com"), true, 1)).collect();
        let leaves: Vec<_> = (0..3).map(|i| change(i, &format!("u{i}@example.com"), false, 2)).collect();
        let mut book = book(&plan, None);
        let items: Vec<Item<'_>> = joins.iter().map(|change| Item { change, event: None }).collect();
        book.apply_all(&items, None).unwrap();
        let settings = GuardSettings { min: 1, percent: 0, window: std::time::Duration::from_secs(60) };
        let guard = RunGuard { standing: Standing { used: 0, paid: None, granted: 0 }, settings: &settings };
        let audit_before = book.audit.len();
        let items: Vec<Item<'_>> = leaves.iter().map(|change| Item { change, event: None }).collect();
        let result = book.apply_all(&items, Some(guard)).unwrap();
        assert_eq!(result.outcomes, vec![Outcome::Applied]);
        assert_eq!(result.held_at, Some((1, HoldKind::Release)));
        assert_eq!(paid(&book), vec!["u1@example.com", "u2@example.com"]);
        assert_eq!(book.audit.len(), audit_before + 1);
        assert_eq!(book.users[&leaves[1].user].state, UserState::Active, "the held change is undone");
    }

    #[test]
    fn a_resync_audits_every_change_with_its_own_reason_and_stale_changes_are_stale() {
        let plan = plan(PlanMode::Enforced);
        let changes = [change(1, "a@example.com", true, 5), change(1, "a@example.com", false, 4)];
        let items: Vec<Item<'_>> = changes.iter().map(|change| Item { change, event: None }).collect();
        let mut book = book(&plan, Some(Reason::Resync));
        let result = book.apply_all(&items, None).unwrap();
        assert_eq!(result.outcomes, vec![Outcome::Applied, Outcome::Stale]);
        assert_eq!(book.audit.iter().map(|a| a.reason).collect::<Vec<_>>(), vec![Reason::Resync]);
        assert_eq!(book.members["a@example.com"].seat, Seat::PAID_DIRECTORY);
    }
}
