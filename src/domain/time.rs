//! Time as microseconds since the Unix epoch: what the database stores and compares.
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

impl Micros {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_micros())
    }

    /// WorkOS writes RFC 3339, and sometimes `2021-10-27 15:21:50.640959` with no
    /// zone: that is UTC.
    pub fn parse_workos(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
            return Some(Self(t.timestamp_micros()));
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
                return Some(Self(t.and_utc().timestamp_micros()));
            }
        }
        None
    }

    /// `self + d`, saturating: a far-future duration (a setting of years)
    /// never wraps into the past.
    pub fn plus(self, d: std::time::Duration) -> Self {
        Self(self.0.saturating_add(Self::of(d)))
    }

    /// `self - d`, saturating.
    pub fn minus(self, d: std::time::Duration) -> Self {
        Self(self.0.saturating_sub(Self::of(d)))
    }

    /// A duration in microseconds, saturating at `i64::MAX`.
    pub fn of(d: std::time::Duration) -> i64 {
        i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
    }

    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_micros(self.0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_zoneless_times_parse_to_the_same_instant() {
        let zoned = Micros::parse_workos("2021-12-13T12:15:45.531847Z").unwrap();
        let zoneless = Micros::parse_workos("2021-12-13 12:15:45.531847").unwrap();
        assert_eq!(zoned, zoneless);
        assert_eq!(zoned.to_rfc3339(), "2021-12-13T12:15:45.531847Z");
    }

    #[test]
    fn offsets_are_honoured() {
        let a = Micros::parse_workos("2021-06-25T21:07:33.155+02:00").unwrap();
        let b = Micros::parse_workos("2021-06-25T19:07:33.155Z").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn adding_and_subtracting_durations_saturates() {
        let t = Micros(1_000);
        assert_eq!(t.plus(std::time::Duration::from_millis(1)), Micros(2_000));
        assert_eq!(t.minus(std::time::Duration::from_millis(2)), Micros(-1_000));
        assert_eq!(t.plus(std::time::Duration::MAX), Micros(i64::MAX));
        assert_eq!(t.minus(std::time::Duration::MAX), Micros(1_000 - i64::MAX));
    }

    #[test]
    fn garbage_is_not_a_time() {
        assert_eq!(Micros::parse_workos("yesterday"), None);
    }
}
