//! The release guard (CONTRACT 4.1): a plan may lose only so many paid seats to
//! its directory in a rolling window; past that, events are held until an
//! operator approves. The limit is a pure function; the count is the audit's.
use crate::{
    domain::{Micros, Reason},
    store::{audit, members, plans::Plan},
};
use sea_orm::{ConnectionTrait, DbErr};
use std::time::Duration;

/// `RELEASE_LIMIT_MIN`, `RELEASE_LIMIT_PERCENT`, `RELEASE_WINDOW_SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    pub min: u64,
    pub percent: u64,
    pub window: Duration,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self { min: 10, percent: 20, window: Duration::from_secs(3600) }
    }
}

/// The audit reasons that count: paid→free changes the directory caused.
/// Enforcement starting is the rule itself, not a release.
pub const COUNTED: [Reason; 3] = [Reason::DirectoryUserInactive, Reason::DirectoryUserDeleted, Reason::Resync];

pub fn counts(reason: Reason) -> bool {
    COUNTED.contains(&reason)
}

/// How many releases a plan may have in a window: its own limit (0: no limit),
/// else the larger of the minimum and the percentage of its paid seats.
/// `paid` is the paid seats before this window's releases.
pub fn limit(plan_limit: Option<u32>, settings: &GuardSettings, paid: u64) -> Option<u64> {
    match plan_limit {
        Some(0) => None,
        Some(n) => Some(u64::from(n)),
        None => Some(settings.min.max(paid.saturating_mul(settings.percent) / 100)),
    }
}

/// Where a plan stands in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// None: the guard is off for this plan.
    pub limit: Option<u64>,
    /// Counted releases in the window so far.
    pub used: u64,
    /// False: `limit` is a lower bound (the minimum), the percentage of paid
    /// seats not yet counted. Counting them reads every member of the plan, so
    /// it is done only when the lower bound would hold an event.
    pub exact: bool,
}

impl Budget {
    /// Releases still allowed (None: any number).
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used))
    }

    pub fn allows(&self, more: u64) -> bool {
        self.limit.is_none_or(|l| self.used + more <= l)
    }
}

/// Reads the plan's budget; `exact` also counts its paid seats when the limit
/// depends on them. Call under the plan's lock, so replicas agree.
pub async fn budget(
    c: &impl ConnectionTrait,
    plan: &Plan,
    settings: &GuardSettings,
    now: Micros,
    exact: bool,
) -> Result<Budget, DbErr> {
    let since = Micros(now.0.saturating_sub(i64::try_from(settings.window.as_micros()).unwrap_or(i64::MAX)));
    let used = audit::released_since(c, &plan.id, since, plan.release_floor, &COUNTED).await?;
    let depends_on_paid = plan.release_limit.is_none() && settings.percent > 0;
    if depends_on_paid && !exact {
        return Ok(Budget { limit: Some(settings.min), used, exact: false });
    }
    let paid = if depends_on_paid { members::paid_count(c, &plan.id).await? } else { 0 };
    Ok(Budget { limit: limit(plan.release_limit, settings, paid + used), used, exact: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_is_the_larger_of_the_minimum_and_the_share() {
        let s = GuardSettings::default();
        assert_eq!(limit(None, &s, 0), Some(10));
        assert_eq!(limit(None, &s, 50), Some(10));
        assert_eq!(limit(None, &s, 1000), Some(200));
    }

    #[test]
    fn a_plan_limit_wins_and_zero_turns_the_guard_off() {
        let s = GuardSettings::default();
        assert_eq!(limit(Some(3), &s, 1000), Some(3));
        assert_eq!(limit(Some(0), &s, 1000), None);
    }

    #[test]
    fn a_budget_allows_up_to_its_limit() {
        let b = Budget { limit: Some(10), used: 9, exact: true };
        assert!(b.allows(1) && !b.allows(2));
        assert_eq!(b.remaining(), Some(1));
        assert!(Budget { limit: None, used: 1000, exact: true }.allows(1000));
    }

    #[test]
    fn only_the_directorys_releases_count() {
        assert!(
            counts(Reason::DirectoryUserInactive) && counts(Reason::DirectoryUserDeleted) && counts(Reason::Resync)
        );
        assert!(!counts(Reason::EnforcementStarted) && !counts(Reason::EmailChanged) && !counts(Reason::Manual));
    }
}
