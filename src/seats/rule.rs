//! The test-mode rule (CONTRACT section 4) as pure functions. The database layer
//! only applies what these return.
use crate::domain::{PlanMode, Seat, Source, Tier};

/// The seat a member should hold, given the plan's mode, the seat held now (None:
/// not a member) and whether the member's email is an active directory user.
/// Depends on state only, never on the path taken to it, so any delivery order
/// that ends in the same user states ends in the same seats.
pub fn target_seat(mode: PlanMode, current: Option<Seat>, directory_active: bool) -> Option<Seat> {
    match (mode, directory_active) {
        // Test mode never takes away a seat the directory did not grant.
        (PlanMode::Test, true) => match current {
            Some(Seat::PAID_MANUAL) => Some(Seat::PAID_MANUAL),
            _ => Some(Seat::PAID_DIRECTORY),
        },
        (PlanMode::Test, false) => match current {
            Some(Seat::PAID_DIRECTORY) => Some(Seat::FREE_MANUAL),
            other => other,
        },
        (PlanMode::Enforced, true) => Some(Seat::PAID_DIRECTORY),
        (PlanMode::Enforced, false) => current.map(|_| Seat::FREE_MANUAL),
    }
}

/// Enforcement starts when active directory users exceed the threshold: ten users
/// is still a test, the eleventh enforces.
pub fn starts_enforcement(mode: PlanMode, threshold: u32, active_users: u64) -> bool {
    mode == PlanMode::Test && active_users > u64::from(threshold)
}

/// Enforcement ends when the organization has no live directory left (its last
/// one was deleted): nobody stands behind the paid plan any more.
pub fn ends_enforcement(mode: PlanMode, live_directories: u64) -> bool {
    mode == PlanMode::Enforced && live_directories == 0
}

/// `dsync.deleted`: a member the deleted directory stood behind keeps the tier
/// it has; the seat becomes the member's own (`manual`) unless the same person
/// is active in another live directory of the organization, which then stands
/// behind it (the seat stays the directory's). `store::members::release_directory`
/// applies this to every such member at once.
pub fn seat_after_directory_release(current: Seat, active_elsewhere: bool) -> Seat {
    if active_elsewhere { current } else { Seat { tier: current.tier, source: Source::Manual } }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("seat is managed by the directory")]
pub struct SeatManagedByDirectory;

/// A change made by hand. In enforced mode the directory decides who pays; in
/// test mode every active directory user holds a paid seat, and a paid seat set
/// by hand is the member's own (`manual`: the directory never takes it back).
pub fn manual_seat(mode: PlanMode, requested: Tier, directory_active: bool) -> Result<Seat, SeatManagedByDirectory> {
    match mode {
        PlanMode::Test => match (requested, directory_active) {
            (Tier::Free, true) => Err(SeatManagedByDirectory),
            (tier, _) => Ok(Seat { tier, source: Source::Manual }),
        },
        PlanMode::Enforced => match (requested, directory_active) {
            (Tier::Paid, true) => Ok(Seat::PAID_DIRECTORY),
            (Tier::Free, false) => Ok(Seat::FREE_MANUAL),
            _ => Err(SeatManagedByDirectory),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlanMode::{Enforced, Test};

    const FREE_DIRECTORY: Seat = Seat { tier: Tier::Free, source: Source::Directory };

    #[test]
    fn enforcement_ends_only_when_no_live_directory_is_left() {
        assert!(ends_enforcement(Enforced, 0));
        assert!(!ends_enforcement(Enforced, 1));
        assert!(!ends_enforcement(Test, 0));
    }

    #[test]
    fn a_released_directory_leaves_each_seat_its_tier_and_the_member_owns_it() {
        assert_eq!(seat_after_directory_release(Seat::PAID_DIRECTORY, false), Seat::PAID_MANUAL);
        assert_eq!(seat_after_directory_release(FREE_DIRECTORY, false), Seat::FREE_MANUAL);
        assert_eq!(seat_after_directory_release(Seat::PAID_DIRECTORY, true), Seat::PAID_DIRECTORY);
    }

    #[test]
    fn test_mode_grants_a_paid_seat_to_a_new_active_user() {
        assert_eq!(target_seat(Test, None, true), Some(Seat::PAID_DIRECTORY));
    }

    #[test]
    fn test_mode_upgrades_a_free_member_who_becomes_active() {
        assert_eq!(target_seat(Test, Some(Seat::FREE_MANUAL), true), Some(Seat::PAID_DIRECTORY));
    }

    #[test]
    fn test_mode_keeps_a_manual_paid_seat_whatever_the_directory_says() {
        assert_eq!(target_seat(Test, Some(Seat::PAID_MANUAL), true), Some(Seat::PAID_MANUAL));
        assert_eq!(target_seat(Test, Some(Seat::PAID_MANUAL), false), Some(Seat::PAID_MANUAL));
    }

    #[test]
    fn test_mode_returns_a_directory_granted_seat_to_free() {
        assert_eq!(target_seat(Test, Some(Seat::PAID_DIRECTORY), false), Some(Seat::FREE_MANUAL));
    }

    #[test]
    fn test_mode_leaves_free_members_and_strangers_alone_when_not_active() {
        assert_eq!(target_seat(Test, Some(Seat::FREE_MANUAL), false), Some(Seat::FREE_MANUAL));
        assert_eq!(target_seat(Test, None, false), None);
    }

    #[test]
    fn enforced_mode_pays_exactly_the_active_users() {
        for current in [None, Some(Seat::FREE_MANUAL), Some(Seat::PAID_MANUAL), Some(FREE_DIRECTORY)] {
            assert_eq!(target_seat(Enforced, current, true), Some(Seat::PAID_DIRECTORY));
        }
        for current in [Seat::PAID_MANUAL, Seat::PAID_DIRECTORY, Seat::FREE_MANUAL] {
            assert_eq!(target_seat(Enforced, Some(current), false), Some(Seat::FREE_MANUAL));
        }
        assert_eq!(target_seat(Enforced, None, false), None);
    }

    #[test]
    fn ten_active_users_is_still_a_test_and_the_eleventh_enforces() {
        assert!(!starts_enforcement(Test, 10, 10));
        assert!(starts_enforcement(Test, 10, 11));
        assert!(!starts_enforcement(Enforced, 10, 50));
        assert!(starts_enforcement(Test, 0, 1));
    }

    #[test]
    fn manual_changes_in_test_mode_never_free_an_active_directory_user() {
        assert_eq!(manual_seat(Test, Tier::Paid, false), Ok(Seat::PAID_MANUAL));
        assert_eq!(manual_seat(Test, Tier::Paid, true), Ok(Seat::PAID_MANUAL));
        assert_eq!(manual_seat(Test, Tier::Free, false), Ok(Seat::FREE_MANUAL));
        assert_eq!(manual_seat(Test, Tier::Free, true), Err(SeatManagedByDirectory));
    }

    #[test]
    fn manual_changes_that_break_enforcement_are_refused() {
        assert_eq!(manual_seat(Enforced, Tier::Paid, false), Err(SeatManagedByDirectory));
        assert_eq!(manual_seat(Enforced, Tier::Free, true), Err(SeatManagedByDirectory));
        assert_eq!(manual_seat(Enforced, Tier::Paid, true), Ok(Seat::PAID_DIRECTORY));
        assert_eq!(manual_seat(Enforced, Tier::Free, false), Ok(Seat::FREE_MANUAL));
    }
}
