//! Identifier newtypes. Prefixes are not parsed (legacy ids start `wh_`), only
//! emptiness, length and control characters are checked (a NUL would be refused
//! by PostgreSQL's text columns, and no identifier of WorkOS's holds one).
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be a non-empty string of at most 255 printable characters")]
pub struct InvalidId {
    pub what: &'static str,
}

macro_rules! id_type {
    ($name:ident, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                let trimmed = raw.trim();
                if trimmed.is_empty() || trimmed.len() > 255 || !crate::domain::text::is_plain(trimmed) {
                    return Err(InvalidId { what: $what });
                }
                Ok(Self(trimmed.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(EventId, "event id");
id_type!(DirectoryId, "directory id");
id_type!(DirectoryUserId, "directory user id");
id_type!(OrganizationId, "organization id");
id_type!(PlanId, "plan id");

impl PlanId {
    /// A new, sortable plan id.
    pub fn generate() -> Self {
        Self(format!("plan_{}", ulid::Ulid::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_trimmed_and_must_not_be_empty() {
        assert_eq!(EventId::parse(" wh_1 ").unwrap().as_str(), "wh_1");
        assert!(EventId::parse("  ").is_err());
        assert!(OrganizationId::parse(&"x".repeat(256)).is_err());
        assert!(EventId::parse("event_\u{0}1").is_err());
    }

    #[test]
    fn generated_plan_ids_have_the_plan_prefix() {
        assert!(PlanId::generate().as_str().starts_with("plan_"));
    }
}
