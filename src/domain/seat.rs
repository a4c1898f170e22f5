//! The vocabulary of seats: tiers, sources, plan modes, directory user states and
//! the reasons the audit trail records.

string_enum!(Tier { Paid => "paid", Free => "free" });
string_enum!(Source { Manual => "manual", Directory => "directory" });
string_enum!(PlanMode { Test => "test", Enforced => "enforced" });
// Which guard holds a plan's events (CONTRACT 4.1).
string_enum!(HoldKind { Release => "release", Grant => "grant" });
// Who made a hand change or an approval: the operator (admin API, shell) or
// the customer's admin through the plan portal (CONTRACT 3.6).
string_enum!(Actor { Operator => "operator", Portal => "portal" });
string_enum!(Reason {
    DirectoryUserActive => "directory_user_active",
    DirectoryUserInactive => "directory_user_inactive",
    DirectoryUserDeleted => "directory_user_deleted",
    EmailChanged => "email_changed",
    EnforcementStarted => "enforcement_started",
    DirectoryDeleted => "directory_deleted",
    Manual => "manual",
    Resync => "resync",
});

/// A member's seat: which tier, and who granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seat {
    pub tier: Tier,
    pub source: Source,
}

impl Seat {
    pub const PAID_MANUAL: Seat = Seat { tier: Tier::Paid, source: Source::Manual };
    pub const PAID_DIRECTORY: Seat = Seat { tier: Tier::Paid, source: Source::Directory };
    pub const FREE_MANUAL: Seat = Seat { tier: Tier::Free, source: Source::Manual };
}

/// A directory user's `state`. Unknown values are kept and count as not active.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserState {
    Active,
    Inactive,
    Suspended,
    Other(String),
}

impl UserState {
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "active" => Self::Active,
            "inactive" => Self::Inactive,
            "suspended" => Self::Suspended,
            _ => Self::Other(raw.trim().to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Suspended => "suspended",
            Self::Other(raw) => raw,
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self, Self::Active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_texts_round_trip() {
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.as_str()), Some(*tier));
        }
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(*reason));
        }
        assert_eq!(Tier::parse("gold"), None);
    }

    #[test]
    fn only_the_active_state_counts_as_active() {
        assert!(UserState::parse("Active").is_active());
        for other in ["inactive", "suspended", "pending", ""] {
            assert!(!UserState::parse(other).is_active(), "{other}");
        }
        assert_eq!(UserState::parse("pending"), UserState::Other("pending".into()));
    }
}
