//! Full resync of an organization against the Directory Sync API: list every
//! directory and user, then bring stored users and seats to match in one
//! transaction (users missing from a complete listing count as deleted). If any
//! page fails, nothing is changed. A listed user whose entry cannot be read is
//! neither added nor removed: it is reported as unreadable (CONTRACT 5).
use super::client::{ApiError, ListPage, WorkosClient};
use crate::{
    domain::{DirectoryId, Micros, OrganizationId, Reason, Tier},
    events::{DirectoryUserChange, payload::DirectoryUser, user_change},
    seats::{
        book::{change_one, may_release},
        guard::{self, GuardSettings},
        scope::{Outcome, Scope},
        unit::PlanChange,
    },
    store::{
        audit::{self, AuditEntry},
        directory, plans,
    },
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde::Deserialize;
use std::{collections::BTreeSet, time::Duration};

/// WorkOS allows 4 `/directory_users` requests a second per directory.
const PER_DIRECTORY_SPACING: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("no plan for organization {0}")]
    NoPlan(String),
    #[error("listing stopped at {at}; nothing was changed")]
    Incomplete {
        at: String,
        #[source]
        source: ApiError,
    },
    #[error("database error; nothing was changed")]
    Database(#[from] DbErr),
    #[error(
        "the resync would release {} paid seats, with {} released in the window and a limit of {}; nothing was \
         changed (--allow-mass-release applies it)",
        .0.would_release, .0.released_in_window, .0.limit.unwrap_or(0)
    )]
    MassRelease(ReleaseCheck),
    #[error(
        "the resync would turn {} seats paid, with {} granted in the window and the plan's grant limit of {}; \
         nothing was changed (--allow-mass-release applies it)",
        .0.would_grant, .0.granted_in_window, .0.limit
    )]
    MassGrant(GrantCheck),
}

/// What the plan's grant guard (CONTRACT 4.1, opt-in) says of a resync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantCheck {
    /// Seats the resync turns paid.
    pub would_grant: u64,
    /// Already granted in the window.
    pub granted_in_window: u64,
    pub limit: u64,
}

impl GrantCheck {
    pub fn passes_limit(&self) -> bool {
        self.granted_in_window + self.would_grant > self.limit
    }
}

#[derive(Debug, Clone, Deserialize)]
struct ListedDirectory {
    id: String,
    #[serde(default)]
    state: Option<String>,
}

/// How a resync runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct ResyncOptions {
    /// Report what would change; change nothing.
    pub dry_run: bool,
    /// Apply even past the release guard's limit.
    pub allow_mass_release: bool,
    pub guard: GuardSettings,
}

/// What the release guard says of a resync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseCheck {
    /// Paid seats the resync releases.
    pub would_release: u64,
    /// Already released in the window.
    pub released_in_window: u64,
    /// None: the guard is off for this plan.
    pub limit: Option<u64>,
}

impl ReleaseCheck {
    pub fn passes_limit(&self) -> bool {
        self.limit.is_some_and(|l| self.released_in_window + self.would_release > l)
    }
}

/// A listed user whose entry cannot be read (a malformed email, say): it is
/// neither added nor removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub directory: DirectoryId,
    /// The entry's `id` as listed (trimmed); None when it has none that is text.
    pub id: Option<String>,
    /// Why it cannot be read.
    pub why: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The id is WorkOS's text: shown escaped unless it is plain.
        match self.id.as_deref() {
            Some(id) if crate::domain::text::is_plain(id) => write!(f, "{id}")?,
            Some(id) => write!(f, "{id:?}")?,
            None => write!(f, "an entry without an id")?,
        }
        write!(f, " in directory {}: {}", self.directory, self.why)
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResyncReport {
    pub directories: usize,
    pub users_listed: usize,
    /// Listed users whose entries cannot be read: neither added nor removed.
    /// The command exits non-zero when there are any.
    pub unreadable: Vec<Unreadable>,
    pub users_applied: usize,
    pub users_already_newer: usize,
    pub users_removed: usize,
    pub seat_changes: Vec<AuditEntry>,
    pub dry_run: bool,
    /// Directories WorkOS lists in a state other than `linked` (deleting,
    /// unlinked, validating, invalid_credentials): reported, not compared.
    pub left_alone: Vec<(DirectoryId, String)>,
    pub release_check: Option<ReleaseCheck>,
    /// Only for a plan with a grant limit.
    pub grant_check: Option<GrantCheck>,
}

async fn list_all<T: serde::de::DeserializeOwned>(
    client: &WorkosClient,
    path: &str,
    query: &[(&str, String)],
    spacing: Option<Duration>,
    what: &str,
    mut progress: impl FnMut(usize),
) -> Result<Vec<T>, ResyncError> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = query.to_vec();
        q.push(("limit", "100".into()));
        if let Some(a) = &after {
            q.push(("after", a.clone()));
        }
        let page: ListPage<T> = client.get(path, &q).await.map_err(|source| ResyncError::Incomplete {
            at: format!("{what}, page after {}", after.as_deref().unwrap_or("the start")),
            source,
        })?;
        let next = page.after().map(str::to_owned);
        items.extend(page.data);
        progress(items.len());
        match next {
            Some(next) => after = Some(next),
            None => return Ok(items),
        }
        if let Some(spacing) = spacing {
            tokio::time::sleep(spacing).await;
        }
    }
}

pub async fn resync(
    db: &DatabaseConnection,
    client: &WorkosClient,
    org: &OrganizationId,
    options: ResyncOptions,
    mut progress: impl FnMut(&str),
) -> Result<ResyncReport, ResyncError> {
    let dry_run = options.dry_run;
    if plans::find_by_org(db, org).await?.is_none() {
        return Err(ResyncError::NoPlan(org.to_string()));
    }
    // Users written after this moment (a webhook applied while the listing runs)
    // may be missing from the listing without being gone. The database's clock,
    // the one their writes are stamped with, not this host's.
    let listing_started = crate::db::clock(db).await?;
    let listed: Vec<ListedDirectory> =
        list_all(client, "/directories", &[("organization_id", org.to_string())], None, "directories", |_| {}).await?;
    // Only a linked directory's listing is its truth. One being deleted gets its
    // own dsync.deleted; an unlinked, validating or failing one lists nobody, or
    // not everybody: comparing it would release every seat it grants.
    let mut live: Vec<DirectoryId> = Vec::new();
    let mut left_alone: Vec<(DirectoryId, String)> = Vec::new();
    for directory in &listed {
        let Ok(id) = DirectoryId::parse(&directory.id) else { continue };
        match directory.state.as_deref() {
            Some("linked") => live.push(id),
            other => {
                let state = other.unwrap_or("unknown").to_owned();
                progress(&format!("directory {id} is {state}: left as it is"));
                left_alone.push((id, state));
            }
        }
    }

    // Everything is listed before anything is changed.
    let mut listings = Vec::new();
    for dir in &live {
        let what = format!("directory {dir}");
        // Each entry on its own: one that does not parse must not stop the
        // listing, nor look like a user who left.
        let users: Vec<serde_json::Value> = list_all(
            client,
            "/directory_users",
            &[("directory", dir.to_string())],
            Some(PER_DIRECTORY_SPACING),
            &what,
            |n| progress(&format!("{what}: {n} users listed")),
        )
        .await?;
        listings.push((dir.clone(), users));
    }

    let mut report = ResyncReport { directories: live.len(), dry_run, left_alone, ..Default::default() };
    let now = Micros::now();
    // The organization group's lock before the plan's, in the order a batch
    // takes them (`seats::unit`): a directory the resync adds adopts legacy
    // events into the group, which no batch may be applying meanwhile.
    let change = PlanChange::begin_for(db, org).await?.ok_or_else(|| ResyncError::NoPlan(org.to_string()))?;
    let (txn, plan) = (change.txn(), change.plan().clone());
    let first_new_seq = audit::last_seq(txn, &plan.id).await?;
    // Read under the plan's lock, before any change: replicas agree on it.
    let standing = guard::standing(txn, &plan, &options.guard, now).await?;
    let limit = guard::limit(plan.release_limit, &options.guard, standing.paid.unwrap_or(0) + standing.used);

    // A directory we hold that WorkOS no longer lists at all is being deleted:
    // its `dsync.deleted` settles it, not a resync that may run before it.
    let listed_ids: BTreeSet<&str> = listed.iter().map(|d| d.id.as_str()).collect();
    for dir in directory::live_directories_of(txn, org).await? {
        if !listed_ids.contains(dir.as_str()) {
            progress(&format!("directory {dir} is no longer listed: left as it is"));
            report.left_alone.push((dir, "not listed".to_owned()));
        }
    }

    // The listing as a whole: every user who left (missing, deleted or no longer
    // active) is applied before any user who joined, so the active count only
    // falls, then rises to what the listing says. A listing that never passes the
    // threshold never starts enforcement.
    let mut removed: Vec<DirectoryUserChange> = Vec::new();
    let mut leaving: Vec<DirectoryUserChange> = Vec::new();
    let mut others: Vec<DirectoryUserChange> = Vec::new();
    for (dir, users) in &listings {
        let mut seen = BTreeSet::new();
        // Listed, but unreadable: present, so never removed, and not added.
        let mut unreadable_ids: BTreeSet<String> = BTreeSet::new();
        let mut unidentified = false;
        for entry in users {
            report.users_listed += 1;
            let read = serde_json::from_value::<DirectoryUser>(entry.clone())
                .map_err(|e| format!("the entry does not parse: {e}"))
                .and_then(|user| user_change(&user, false).map_err(|e| e.to_string()));
            let mut change = match read {
                Ok(change) => change,
                Err(why) => {
                    let id = entry.get("id").and_then(|v| v.as_str()).map(|id| id.trim().to_owned());
                    match &id {
                        Some(id) => {
                            unreadable_ids.insert(id.clone());
                        }
                        None => unidentified = true,
                    }
                    let unreadable = Unreadable { directory: dir.clone(), id, why };
                    progress(&format!("unreadable: {unreadable}; neither added nor removed"));
                    report.unreadable.push(unreadable);
                    continue;
                }
            };
            change.organization = Some(org.clone());
            change.directory = dir.clone();
            seen.insert(change.user.clone());
            if may_release(&change) { leaving.push(change) } else { others.push(change) }
        }
        if unidentified {
            // Who it is cannot be told: nobody missing from this listing is
            // removed (any of them may be that entry).
            progress(&format!("directory {dir}: an unreadable entry has no id; nobody missing from it is removed"));
            continue;
        }
        let missing = missing_users(txn, org, dir, &seen, listing_started, now).await?;
        removed.extend(missing.into_iter().filter(|m| !unreadable_ids.contains(m.user.as_str())));
    }
    let mut scope = Scope::default();
    for change in &removed {
        if change_one(txn, &mut scope, change, None, Some(Reason::Resync), now).await? == Outcome::Applied {
            report.users_removed += 1;
        }
    }
    for change in leaving.iter().chain(&others) {
        match change_one(txn, &mut scope, change, None, Some(Reason::Resync), now).await? {
            Outcome::Applied => report.users_applied += 1,
            _ => report.users_already_newer += 1,
        }
    }

    let (changes, _) = audit::page(txn, &plan.id, first_new_seq, u32::MAX as u64).await?;
    report.seat_changes = changes;
    let would_release = report
        .seat_changes
        .iter()
        .filter(|c| c.from == Some(Tier::Paid) && c.to == Tier::Free && guard::counts(c.reason))
        .count() as u64;
    let check = ReleaseCheck { would_release, released_in_window: standing.used, limit };
    report.release_check = Some(check);
    if check.passes_limit() && !options.allow_mass_release && !dry_run {
        change.rollback().await?;
        return Err(ResyncError::MassRelease(check));
    }
    if let Some(limit) = plan.grant_limit {
        let would_grant = report
            .seat_changes
            .iter()
            .filter(|c| c.from != Some(Tier::Paid) && c.to == Tier::Paid && guard::counts_grant(c.reason))
            .count() as u64;
        let check = GrantCheck { would_grant, granted_in_window: standing.granted, limit: u64::from(limit) };
        report.grant_check = Some(check);
        if check.passes_limit() && !options.allow_mass_release && !dry_run {
            change.rollback().await?;
            return Err(ResyncError::MassGrant(check));
        }
    }
    if dry_run {
        change.rollback().await?;
    } else {
        change.commit(now).await?;
    }
    Ok(report)
}

/// Users stored for `dir` but absent from its complete listing are deleted, as of
/// now (so an older late webhook for them is stale). Users written after the
/// listing began are not missing: the listing could not show them.
async fn missing_users(
    c: &impl ConnectionTrait,
    org: &OrganizationId,
    dir: &DirectoryId,
    seen: &BTreeSet<crate::domain::DirectoryUserId>,
    listing_started: Micros,
    now: Micros,
) -> Result<Vec<DirectoryUserChange>, DbErr> {
    Ok(directory::live_users_of(c, dir, listing_started)
        .await?
        .into_iter()
        .filter(|(id, ..)| !seen.contains(id))
        .map(|(id, email, state, updated_at)| DirectoryUserChange {
            user: id,
            directory: dir.clone(),
            organization: Some(org.clone()),
            email,
            state,
            updated_at: Micros(now.0.max(updated_at.0 + 1)),
            deleted: true,
        })
        .collect())
}
