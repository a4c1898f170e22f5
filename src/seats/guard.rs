//! The release guard (CONTRACT 4.1): a plan may lose only so many paid seats to
//! its directory in a rolling window; past that, events are held until an
//! operator approves. The limit is a pure function; the count is the audit's.
//! The grant guard, opt-in per plan (`grant_limit`), is its mirror: at most
//! that many seats may turn paid because of the directory in the same window.
//! By default the limit is the larger of `RELEASE_LIMIT_MIN` and
//! `RELEASE_LIMIT_PERCENT`% of the paid seats the plan had when the window
//! began, that is its paid seats now plus those the directory released in the
//! window (so the seats a mass release takes away do not shrink its own limit).
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

/// The audit reasons the grant guard counts: free (or new) → paid changes the
/// directory caused. Enforcement starting is the rule itself, not a grant.
pub const GRANTS_COUNTED: [Reason; 2] = [Reason::DirectoryUserActive, Reason::Resync];

pub fn counts_grant(reason: Reason) -> bool {
    GRANTS_COUNTED.contains(&reason)
}

/// How many releases a plan may have in a window: its own limit (0: no limit),
/// else the larger of the minimum and the percentage of the paid seats the
/// plan had when the window began, that is its paid seats now plus those the
/// directory released in the window: `paid` is that sum.
pub fn limit(plan_limit: Option<u32>, settings: &GuardSettings, paid: u64) -> Option<u64> {
    match plan_limit {
        Some(0) => None,
        Some(n) => Some(u64::from(n)),
        None => Some(settings.min.max(paid.saturating_mul(settings.percent) / 100)),
    }
}

/// Where a plan stands in the current window, at one moment of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Counted releases in the window so far (since the last approval).
    pub used: u64,
    /// Paid seats now; None while not counted (counting reads the plan's
    /// members, so it is done only when the minimum alone cannot decide).
    /// The percentage applies to `paid + used`: the paid seats the plan had
    /// when the window began.
    pub paid: Option<u64>,
    /// Counted grants in the window so far (0 while the plan has no grant limit).
    pub granted: u64,
}

impl Standing {
    /// Whether one more counted grant fits under the plan's grant limit (None: off).
    pub fn allows_one_more_grant(&self, grant_limit: Option<u32>) -> bool {
        grant_limit.is_none_or(|limit| self.granted < u64::from(limit))
    }

    /// Whether one more counted release fits under the limit now. None: the
    /// answer depends on the paid seats, which are not counted yet.
    pub fn allows_one_more(&self, plan_limit: Option<u32>, settings: &GuardSettings) -> Option<bool> {
        let next = self.used + 1;
        match plan_limit {
            Some(_) => Some(limit(plan_limit, settings, 0).is_none_or(|l| next <= l)),
            None if next <= settings.min || settings.percent == 0 => Some(next <= settings.min),
            None => self.paid.map(|paid| limit(None, settings, paid + self.used).is_none_or(|l| next <= l)),
        }
    }

    /// Whether `more` releases could all fit without counting paid seats.
    pub fn needs_paid_for(&self, plan_limit: Option<u32>, settings: &GuardSettings, more: u64) -> bool {
        plan_limit.is_none() && settings.percent > 0 && self.paid.is_none() && self.used + more > settings.min
    }

    /// Seats changed by what was just applied: `released` counted releases,
    /// `granted` counted grants, `paid_delta` paid seats gained (negative: lost).
    pub fn record(&mut self, released: u64, granted: u64, paid_delta: i64) {
        self.used += released;
        self.granted += granted;
        self.paid = self.paid.map(|p| p.saturating_add_signed(paid_delta));
    }
}

fn window_start(settings: &GuardSettings, now: Micros) -> Micros {
    now.minus(settings.window)
}

/// The plan's counted releases in the window ending `now` (since its last approval).
pub async fn used(c: &impl ConnectionTrait, plan: &Plan, settings: &GuardSettings, now: Micros) -> Result<u64, DbErr> {
    audit::released_since(c, &plan.id, window_start(settings, now), plan.release_floor, &COUNTED).await
}

/// The plan's counted grants in the window ending `now` (since its last
/// approval); 0 without a grant limit (nothing is read).
pub async fn granted(
    c: &impl ConnectionTrait,
    plan: &Plan,
    settings: &GuardSettings,
    now: Micros,
) -> Result<u64, DbErr> {
    if plan.grant_limit.is_none() {
        return Ok(0);
    }
    audit::granted_since(c, &plan.id, window_start(settings, now), plan.release_floor, &GRANTS_COUNTED).await
}

/// A fresh standing: releases and grants counted, paid seats not.
pub async fn fresh(
    c: &impl ConnectionTrait,
    plan: &Plan,
    settings: &GuardSettings,
    now: Micros,
) -> Result<Standing, DbErr> {
    Ok(Standing {
        used: used(c, plan, settings, now).await?,
        paid: None,
        granted: granted(c, plan, settings, now).await?,
    })
}

/// The plan's standing, paid seats counted: what a resync is checked against as a whole.
pub async fn standing(
    c: &impl ConnectionTrait,
    plan: &Plan,
    settings: &GuardSettings,
    now: Micros,
) -> Result<Standing, DbErr> {
    let standing = fresh(c, plan, settings, now).await?;
    Ok(Standing { paid: Some(members::paid_count(c, &plan.id).await?), ..standing })
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
    fn the_minimum_decides_without_counting_paid_seats() {
        let s = GuardSettings::default();
        assert_eq!(Standing { used: 9, paid: None, granted: 0 }.allows_one_more(None, &s), Some(true));
        assert_eq!(Standing { used: 10, paid: None, granted: 0 }.allows_one_more(None, &s), None);
        assert_eq!(Standing { used: 10, paid: Some(40), granted: 0 }.allows_one_more(None, &s), Some(false));
    }

    #[test]
    fn the_percentage_is_of_the_paid_seats_when_the_window_began() {
        let s = GuardSettings::default();
        // 70 paid when the window began (57 now plus 13 released in it): 20%
        // is 14, so a fourteenth release fits. 20% of the 57 paid now would
        // be 11, and it would not.
        assert_eq!(Standing { used: 10, paid: Some(60), granted: 0 }.allows_one_more(None, &s), Some(true));
        assert_eq!(Standing { used: 13, paid: Some(57), granted: 0 }.allows_one_more(None, &s), Some(true));
        assert_eq!(limit(None, &s, 57), Some(11));
        assert_eq!(Standing { used: 14, paid: Some(56), granted: 0 }.allows_one_more(None, &s), Some(false));
        // A grant raises the limit at once.
        let mut standing = Standing { used: 14, paid: Some(56), granted: 0 };
        standing.record(0, 0, 5);
        assert_eq!(standing.allows_one_more(None, &s), Some(true));
    }

    #[test]
    fn a_plan_limit_decides_alone_and_zero_allows_everything() {
        let s = GuardSettings::default();
        assert_eq!(Standing { used: 2, paid: None, granted: 0 }.allows_one_more(Some(3), &s), Some(true));
        assert_eq!(Standing { used: 3, paid: None, granted: 0 }.allows_one_more(Some(3), &s), Some(false));
        assert_eq!(Standing { used: 5000, paid: None, granted: 0 }.allows_one_more(Some(0), &s), Some(true));
    }

    #[test]
    fn a_grant_limit_caps_the_directorys_grants_and_none_is_off() {
        let standing = Standing { used: 0, paid: None, granted: 49 };
        assert!(standing.allows_one_more_grant(Some(50)));
        assert!(!Standing { granted: 50, ..standing }.allows_one_more_grant(Some(50)));
        assert!(!Standing { granted: 0, ..standing }.allows_one_more_grant(Some(0)));
        assert!(Standing { granted: 10_000, ..standing }.allows_one_more_grant(None));
        assert!(counts_grant(Reason::DirectoryUserActive) && counts_grant(Reason::Resync));
        assert!(!counts_grant(Reason::EnforcementStarted) && !counts_grant(Reason::Manual));
    }

    #[test]
    fn only_the_directorys_releases_count() {
        assert!(
            counts(Reason::DirectoryUserInactive) && counts(Reason::DirectoryUserDeleted) && counts(Reason::Resync)
        );
        assert!(!counts(Reason::EnforcementStarted) && !counts(Reason::EmailChanged) && !counts(Reason::Manual));
    }
}
