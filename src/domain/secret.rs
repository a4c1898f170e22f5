//! Secrets as values.
use std::fmt;

/// A value that must never reach a log line or `Debug` output. No `PartialEq`:
/// secrets are compared in constant time where they are checked (`subtle`), and
/// an `==` here would invite a comparison that is not.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
