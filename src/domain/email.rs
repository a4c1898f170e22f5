//! A member's identity: the lower-cased primary email.
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a usable email address: {0:?}")]
pub struct InvalidEmail(pub String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let value = raw.trim().to_lowercase();
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && value.len() <= 320
                    && !value.chars().any(|c| c.is_whitespace() || super::text::is_deceptive(c))
            }
            None => false,
        };
        if valid { Ok(Self(value)) } else { Err(InvalidEmail(raw.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(Email::parse(" Lela.Block@Example.COM ").unwrap().as_str(), "lela.block@example.com");
    }

    #[test]
    fn non_ascii_emails_are_kept() {
        assert_eq!(Email::parse("Zoë@Exämple.com").unwrap().as_str(), "zoë@exämple.com");
    }

    #[test]
    fn strings_without_a_single_at_sign_and_both_halves_are_refused() {
        for bad in ["", "plain", "@example.com", "a@", "a@b@c", "a b@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
