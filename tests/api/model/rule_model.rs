//! An in-memory model of the test-mode rule and the release guard, written
//! from CONTRACT 3.3 (hold, approve with `through`), 4 and 4.1 alone: no SQL,
//! nothing from `seatsync::reconcile`. It is the reference `model_check.rs`
//! compares the service with, so a decision the bulk path and the per-event
//! path share cannot hide from it.
//!
//! Where the contract is silent, the model takes the service's answer, named
//! here so a change of mind is one place:
//! - in test mode, a seat the directory granted that goes back to free is
//!   `manual` (as while enforced: "manual for everyone else");
//! - a user event without an email is `failed` even for a deleted directory;
//! - `dsync.deleted` writes its `from` = `to` row for every member its
//!   (not deleted) users held, free seats included ("one audit row each").
//!
//! One `Plan` is one organization's plan. Events are given in the order they
//! were stored; everything happens within the guard's window (a test runs in
//! seconds, the window is an hour).
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Paid,
    Free,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Paid => "paid",
            Tier::Free => "free",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Manual,
    Directory,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Manual => "manual",
            Source::Directory => "directory",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Applied,
    Stale,
    Held,
    Failed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Stale => "stale",
            Status::Held => "held",
            Status::Failed => "failed",
        }
    }
}

/// A `dsync.*` event as the contract describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `dsync.user.created|updated|deleted`: `email` `None` when it has none.
    User {
        id: String,
        user: String,
        directory: String,
        email: Option<String>,
        deleted: bool,
        active: bool,
        updated_at: u32,
    },
    /// `dsync.activated`.
    DirectoryActivated { id: String, directory: String },
    /// `dsync.deleted`.
    DirectoryDeleted { id: String, directory: String },
}

impl Event {
    pub fn id(&self) -> &str {
        match self {
            Event::User { id, .. } | Event::DirectoryActivated { id, .. } | Event::DirectoryDeleted { id, .. } => id,
        }
    }
}

/// `RELEASE_LIMIT_MIN` and `RELEASE_LIMIT_PERCENT`.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    pub min: u32,
    pub percent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub tier: Tier,
    pub source: Source,
}

/// One audit row: email, from, to, reason, event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub email: String,
    pub from: Option<Tier>,
    pub to: Tier,
    pub reason: &'static str,
    pub event: Option<String>,
}

#[derive(Debug, Clone)]
struct DirectoryUser {
    directory: String,
    email: String,
    active: bool,
    deleted: bool,
    /// The `updated_at` held for the user.
    updated_at: u32,
    /// When the user was last deleted.
    deleted_at: Option<u32>,
}

/// What the plan shows of a hold (CONTRACT 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// `release` or `grant`: the guard that stopped the hold's first event.
    pub kind: &'static str,
    pub held_events: u64,
    pub through: String,
    pub would_release: Vec<String>,
    pub would_grant: Vec<String>,
}

/// A hand change refused with 409 `seat_managed_by_directory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatManagedByDirectory;

#[derive(Debug, Clone)]
pub struct Plan {
    pub threshold: u32,
    pub enforced: bool,
    pub release_limit: Option<u32>,
    /// CONTRACT 4.1's grant limit: None is off.
    pub grant_limit: Option<u32>,
    pub guard: Guard,
    pub members: BTreeMap<String, Member>,
    pub audit: Vec<Audit>,
    /// Status of every stored event of the organization, by event id.
    pub statuses: BTreeMap<String, Status>,
    users: BTreeMap<String, DirectoryUser>,
    /// Known directories: `true` when deleted.
    directories: BTreeMap<String, bool>,
    /// Paid→free changes counted by the guard since the window (or the last
    /// approval) began.
    released: u32,
    /// Free (or new) → paid changes of active users, counted the same way.
    granted: u32,
    /// Which guard began the hold.
    hold_kind: Option<&'static str>,
    /// Held events, in stored order.
    held: Vec<Event>,
}

const RELEASES: [&str; 2] = ["directory_user_inactive", "directory_user_deleted"];

impl Plan {
    pub fn new(threshold: u32, release_limit: Option<u32>, grant_limit: Option<u32>, guard: Guard) -> Self {
        Plan {
            threshold,
            enforced: false,
            release_limit,
            grant_limit,
            guard,
            members: BTreeMap::new(),
            audit: Vec::new(),
            statuses: BTreeMap::new(),
            users: BTreeMap::new(),
            directories: BTreeMap::new(),
            released: 0,
            granted: 0,
            hold_kind: None,
            held: Vec::new(),
        }
    }

    pub fn mode(&self) -> &'static str {
        if self.enforced { "enforced" } else { "test" }
    }

    fn paid(&self) -> u32 {
        self.members.values().filter(|m| m.tier == Tier::Paid).count() as u32
    }

    /// "users of that organization's live directories whose state is active
    /// and who are not deleted".
    fn counting(&self, user: &DirectoryUser) -> bool {
        user.active && !user.deleted && self.directories.get(&user.directory) == Some(&false)
    }

    fn active_count(&self) -> u32 {
        self.users.values().filter(|u| self.counting(u)).count() as u32
    }

    fn is_active(&self, email: &str) -> bool {
        self.users.values().any(|u| u.email == email && self.counting(u))
    }

    fn record(&mut self, email: &str, from: Option<Tier>, to: Tier, reason: &'static str, event: Option<&str>) {
        self.audit.push(Audit { email: email.to_owned(), from, to, reason, event: event.map(str::to_owned) });
    }

    /// Sets a member's seat, auditing a change of tier, or of source when
    /// `audit_source` (then `from` = `to`).
    fn seat(
        &mut self,
        email: &str,
        tier: Tier,
        source: Source,
        reason: &'static str,
        event: Option<&str>,
        audit_source: bool,
    ) {
        let before = self.members.get(email).cloned();
        let from = before.as_ref().map(|m| m.tier);
        let changed_tier = from != Some(tier);
        let changed_source = before.as_ref().is_some_and(|m| m.source != source);
        if changed_tier || (changed_source && audit_source) {
            self.record(email, from, tier, reason, event);
        }
        self.members.insert(email.to_owned(), Member { tier, source });
    }

    /// The limit for the next event; `None` when the guard is off.
    fn limit(&self) -> Option<u32> {
        match self.release_limit {
            Some(0) => None,
            Some(n) => Some(n),
            None => {
                let base = self.paid() + self.released;
                Some(self.guard.min.max(base * self.guard.percent / 100))
            }
        }
    }

    /// Delivers a stored event (a new id); a duplicate changes nothing.
    pub fn deliver(&mut self, event: Event) {
        if self.statuses.contains_key(event.id()) {
            return;
        }
        self.statuses.insert(event.id().to_owned(), Status::Held);
        if !self.held.is_empty() {
            self.held.push(event);
            return;
        }
        self.judge(event);
    }

    /// Applies `event` unless the guard stops it.
    fn judge(&mut self, event: Event) {
        let limit = self.limit();
        let mut next = self.clone();
        let before = next.audit.len();
        let status = next.apply(&event);
        let releases = next.audit[before..]
            .iter()
            .filter(|a| a.from == Some(Tier::Paid) && a.to == Tier::Free && RELEASES.contains(&a.reason))
            .count() as u32;
        let grants = next.audit[before..]
            .iter()
            .filter(|a| a.from != Some(Tier::Paid) && a.to == Tier::Paid && a.reason == "directory_user_active")
            .count() as u32;
        let stopped = if limit.is_some_and(|limit| self.released + releases > limit) {
            Some("release")
        } else if self.grant_limit.is_some_and(|limit| self.granted + grants > limit) {
            Some("grant")
        } else {
            None
        };
        if let Some(kind) = stopped {
            self.hold_kind.get_or_insert(kind);
            self.statuses.insert(event.id().to_owned(), Status::Held);
            self.held.push(event);
            return;
        }
        *self = next;
        self.released += releases;
        self.granted += grants;
        self.statuses.insert(event.id().to_owned(), status);
    }

    pub fn hold(&self) -> Option<Hold> {
        let through = self.held.last()?.id().to_owned();
        let mut after = self.clone();
        after.approve(&through).expect("the last held event");
        let would_release = self
            .members
            .iter()
            .filter(|(email, m)| {
                m.tier == Tier::Paid && after.members.get(*email).is_some_and(|a| a.tier == Tier::Free)
            })
            .map(|(email, _)| email.clone())
            .collect();
        let would_grant = after
            .members
            .iter()
            .filter(|(email, a)| a.tier == Tier::Paid && self.members.get(*email).is_none_or(|m| m.tier != Tier::Paid))
            .map(|(email, _)| email.clone())
            .collect();
        Some(Hold {
            kind: self.hold_kind.unwrap_or("release"),
            held_events: self.held.len() as u64,
            through,
            would_release,
            would_grant,
        })
    }

    /// Held event ids, in order.
    pub fn held_ids(&self) -> Vec<String> {
        self.held.iter().map(|e| e.id().to_owned()).collect()
    }

    /// Approves through a held event: `Err` when it is not one.
    pub fn approve(&mut self, through: &str) -> Result<(), ()> {
        let at = self.held.iter().position(|e| e.id() == through).ok_or(())?;
        let rest = self.held.split_off(at + 1);
        let approved = std::mem::take(&mut self.held);
        for event in approved {
            let status = self.apply(&event);
            self.statuses.insert(event.id().to_owned(), status);
        }
        self.released = 0;
        self.granted = 0;
        self.hold_kind = None;
        for event in rest {
            if self.held.is_empty() {
                self.judge(event);
            } else {
                self.held.push(event);
            }
        }
        Ok(())
    }

    /// `PUT …/members/{email}` (CONTRACT 3.3, 4).
    pub fn set_tier(&mut self, email: &str, tier: Tier) -> Result<(), SeatManagedByDirectory> {
        let active = self.is_active(email);
        let before = self.members.get(email).cloned();
        if self.enforced {
            if (tier == Tier::Paid) != active {
                return Err(SeatManagedByDirectory);
            }
            if active {
                return Ok(());
            }
            self.seat(email, Tier::Free, Source::Manual, "manual", None, false);
            return Ok(());
        }
        match tier {
            Tier::Free if active => Err(SeatManagedByDirectory),
            Tier::Free => {
                self.seat(email, Tier::Free, Source::Manual, "manual", None, false);
                Ok(())
            }
            Tier::Paid => {
                // A paid seat the directory granted becomes `manual`, `from` = `to`.
                let audit_source = before.is_some_and(|m| m.tier == Tier::Paid && m.source == Source::Directory);
                self.seat(email, Tier::Paid, Source::Manual, "manual", None, audit_source);
                Ok(())
            }
        }
    }

    /// Applies one event without the guard; its status.
    fn apply(&mut self, event: &Event) -> Status {
        match event {
            Event::DirectoryActivated { directory, .. } => {
                if self.directories.get(directory) == Some(&true) {
                    return Status::Stale;
                }
                self.directories.insert(directory.clone(), false);
                Status::Applied
            }
            Event::DirectoryDeleted { id, directory } => {
                if self.directories.get(directory) == Some(&true) {
                    return Status::Stale;
                }
                self.directories.insert(directory.clone(), true);
                let emails: BTreeSet<String> = self
                    .users
                    .values()
                    .filter(|u| &u.directory == directory && !u.deleted)
                    .map(|u| u.email.clone())
                    .collect();
                // "every seat they held stays as it is, with source turned to
                // manual (one audit row each, from = to)": free seats too.
                for email in emails {
                    if let Some(m) = self.members.get(&email).cloned() {
                        self.record(&email, Some(m.tier), m.tier, "directory_deleted", Some(id));
                        self.members.insert(email, Member { tier: m.tier, source: Source::Manual });
                    }
                }
                if !self.directories.values().any(|deleted| !deleted) {
                    self.enforced = false;
                }
                Status::Applied
            }
            Event::User { id, user, directory, email, deleted, active, updated_at } => {
                // An event that cannot be applied as it is fails, whatever
                // its directory (the contract names both; the service reads first).
                let Some(email) = email else { return Status::Failed };
                if self.directories.get(directory) == Some(&true) {
                    return Status::Stale;
                }
                if let Some(held) = self.users.get(user)
                    && (*updated_at < held.updated_at || held.deleted_at.is_some_and(|d| *updated_at <= d))
                {
                    return Status::Stale;
                }
                self.directories.entry(directory.clone()).or_insert(false);
                let previous = self.users.get(user).cloned();
                let deleted_at =
                    if *deleted { Some(*updated_at) } else { previous.as_ref().and_then(|p| p.deleted_at) };
                self.users.insert(
                    user.clone(),
                    DirectoryUser {
                        directory: directory.clone(),
                        email: email.clone(),
                        active: *active && !*deleted,
                        deleted: *deleted,
                        updated_at: *updated_at,
                        deleted_at,
                    },
                );
                let now_active = *active && !*deleted;
                let release = if *deleted { "directory_user_deleted" } else { "directory_user_inactive" };
                let old = previous.filter(|p| !p.deleted && &p.email != email).map(|p| p.email);
                match &old {
                    Some(old) => {
                        // The old address goes to free; a deactivation that
                        // comes with the change is a release.
                        let reason = if now_active { "email_changed" } else { release };
                        self.reseat(old, reason, "email_changed", id);
                        self.reseat(email, if now_active { "email_changed" } else { release }, "email_changed", id);
                    }
                    None => self.reseat(email, release, "directory_user_active", id),
                }
                if !self.enforced && self.active_count() > self.threshold {
                    self.enforce(id);
                }
                Status::Applied
            }
        }
    }

    /// Seats `email` by the rule after its directory user changed.
    fn reseat(&mut self, email: &str, release: &'static str, grant: &'static str, event: &str) {
        let active = self.is_active(email);
        let member = self.members.get(email).cloned();
        if self.enforced {
            if active {
                self.seat(email, Tier::Paid, Source::Directory, grant, Some(event), false);
            } else if member.is_some() {
                self.seat(email, Tier::Free, Source::Manual, release, Some(event), false);
            }
            return;
        }
        // Test mode: every active directory user holds a paid seat (a new or
        // free member is granted it by the directory); a seat the directory
        // granted goes back to free when its user stops being active.
        let paid = member.as_ref().is_some_and(|m| m.tier == Tier::Paid);
        let granted = member.as_ref().is_some_and(|m| m.tier == Tier::Paid && m.source == Source::Directory);
        if active && !paid {
            self.seat(email, Tier::Paid, Source::Directory, grant, Some(event), false);
        } else if !active && granted {
            // Source: silent in test mode; `manual` as while enforced
            // ("manual for everyone else"), as the service does.
            self.seat(email, Tier::Free, Source::Manual, release, Some(event), false);
        }
    }

    /// Enforcement starts: every active directory user paid, everyone else
    /// free, each change audited `enforcement_started`.
    fn enforce(&mut self, event: &str) {
        let active: BTreeSet<String> =
            self.users.values().filter(|u| self.counting(u)).map(|u| u.email.clone()).collect();
        let everyone: BTreeSet<String> = self.members.keys().cloned().chain(active.iter().cloned()).collect();
        for email in everyone {
            if active.contains(&email) {
                self.seat(&email, Tier::Paid, Source::Directory, "enforcement_started", Some(event), false);
            } else {
                self.seat(&email, Tier::Free, Source::Manual, "enforcement_started", Some(event), false);
            }
        }
        self.enforced = true;
    }
}
