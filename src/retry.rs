//! The one retry policy: doubling back-off with a ceiling, jittered so that
//! replicas (or clients) that failed together do not retry together.
use std::{
    hash::BuildHasher,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry number `attempt` (0 for the first retry), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.first.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(self.max)
    }

    /// `delay` with jitter: between half and all of it.
    pub fn jittered(&self, attempt: u32) -> Duration {
        jittered(self.delay(attempt))
    }
}

/// The waits between the attempts of one call: `retries` of them, each
/// `Backoff::jittered`. `backon` drives the attempts with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    pub backoff: Backoff,
    pub retries: u32,
}

impl backon::BackoffBuilder for Retries {
    type Backoff = Waits;

    fn build(self) -> Waits {
        Waits { policy: self, next: 0 }
    }
}

/// The waits of one call, in order.
#[derive(Debug)]
pub struct Waits {
    policy: Retries,
    next: u32,
}

impl Iterator for Waits {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        (self.next < self.policy.retries).then(|| {
            self.next += 1;
            self.policy.backoff.jittered(self.next - 1)
        })
    }
}

/// Between half and all of `delay`.
pub fn jittered(delay: Duration) -> Duration {
    // The standard library's per-process random hasher keys are enough here:
    // this spreads retries, it is not a secret.
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
    delay.mul_f64(fraction)
}

/// A `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 10.2.3),
/// measured from `now`. `None` when it is neither.
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_its_ceiling_and_jitter_stays_within_half() {
        let policy = Backoff { first: Duration::from_millis(500), max: Duration::from_secs(120) };
        assert_eq!(policy.delay(0), Duration::from_millis(500));
        assert_eq!(policy.delay(3), Duration::from_secs(4));
        assert_eq!(policy.delay(50), Duration::from_secs(120));
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(10), "{d:?}");
        }
    }

    #[test]
    fn a_call_gets_its_retries_and_no_more() {
        use backon::BackoffBuilder;
        let backoff = Backoff { first: Duration::from_millis(100), max: Duration::from_secs(1) };
        let waits: Vec<Duration> = Retries { backoff, retries: 3 }.build().collect();
        assert_eq!(waits.len(), 3);
        for (n, wait) in waits.iter().enumerate() {
            let full = backoff.delay(n as u32);
            assert!(*wait >= full / 2 && *wait <= full, "{n}: {wait:?}");
        }
        assert_eq!(Retries { backoff, retries: 0 }.build().count(), 0);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T08:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Sun, 29 Nov 2026 08:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Sun, 29 Nov 2026 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
    }
}
