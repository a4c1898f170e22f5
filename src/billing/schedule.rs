//! When a failed delivery is tried again (CONTRACT 7.1): after 5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h and 10 h, each ±20%, then never (`dead`). Pure: the
//! jitter is passed in.
use std::time::Duration;

/// The contract's waits after the 1st, 2nd, … failed attempt.
pub const CONTRACT_WAITS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    waits: Vec<Duration>,
}

impl Default for Schedule {
    fn default() -> Self {
        Self { waits: CONTRACT_WAITS.to_vec() }
    }
}

/// What an attempt's answer means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx.
    Accepted,
    /// 410 Gone: the receiver wants no more.
    Gone,
    /// Anything else (another status, a time-out, a network error), with the
    /// receiver's `Retry-After` if it sent one.
    Failed { retry_after: Option<Duration> },
}

impl Answer {
    pub fn from_status(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            200..=299 => Answer::Accepted,
            410 => Answer::Gone,
            _ => Answer::Failed { retry_after },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAfter(Duration),
    Dead,
}

impl Schedule {
    /// Waits other than the contract's (tests, and `BILLING_RETRY_SCHEDULE_SECS`).
    pub fn new(waits: Vec<Duration>) -> Self {
        Self { waits }
    }

    pub fn waits(&self) -> &[Duration] {
        &self.waits
    }

    /// What follows attempt number `attempts` (1 for the first) answered with
    /// `answer`. `jitter` is in [-1, 1] and moves the wait by up to 20%. A
    /// `Retry-After` is honoured: never sooner than it asks, but never later
    /// than twice the planned wait.
    pub fn after(&self, attempts: u32, answer: Answer, jitter: f64) -> Next {
        let retry_after = match answer {
            Answer::Accepted => return Next::Delivered,
            Answer::Gone => return Next::Dead,
            Answer::Failed { retry_after } => retry_after,
        };
        let Some(planned) = attempts.checked_sub(1).and_then(|i| self.waits.get(i as usize)) else {
            return Next::Dead;
        };
        let planned = planned.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0));
        let wait = match retry_after {
            Some(asked) => asked.clamp(planned, planned.saturating_mul(2)),
            None => planned,
        };
        Next::RetryAfter(wait)
    }
}

/// A jitter in [-1, 1], different each call.
pub fn random_jitter() -> f64 {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (random % 2001) as f64 / 1000.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILED: Answer = Answer::Failed { retry_after: None };

    #[test]
    fn failures_are_retried_on_the_contracts_schedule_then_dead() {
        let schedule = Schedule::default();
        let waits: Vec<Next> = (1..=8).map(|n| schedule.after(n, FAILED, 0.0)).collect();
        let expected: Vec<Next> = CONTRACT_WAITS.iter().map(|w| Next::RetryAfter(*w)).chain([Next::Dead]).collect();
        assert_eq!(waits, expected);
    }

    #[test]
    fn jitter_moves_a_wait_by_at_most_a_fifth() {
        let schedule = Schedule::default();
        assert_eq!(schedule.after(2, FAILED, 1.0), Next::RetryAfter(Duration::from_secs(360)));
        assert_eq!(schedule.after(2, FAILED, -1.0), Next::RetryAfter(Duration::from_secs(240)));
        for _ in 0..100 {
            let j = random_jitter();
            assert!((-1.0..=1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_twice_the_planned_wait() {
        let schedule = Schedule::default();
        let asked = |secs| Answer::Failed { retry_after: Some(Duration::from_secs(secs)) };
        assert_eq!(schedule.after(1, asked(8), 0.0), Next::RetryAfter(Duration::from_secs(8)));
        assert_eq!(schedule.after(1, asked(3600), 0.0), Next::RetryAfter(Duration::from_secs(10)));
        // Sooner than planned is not asked for: the plan stands.
        assert_eq!(schedule.after(2, asked(1), 0.0), Next::RetryAfter(Duration::from_secs(300)));
    }

    #[test]
    fn a_2xx_delivers_and_a_410_is_dead_at_once() {
        let schedule = Schedule::default();
        assert_eq!(schedule.after(1, Answer::from_status(204, None), 0.0), Next::Delivered);
        assert_eq!(schedule.after(1, Answer::from_status(410, None), 0.0), Next::Dead);
        assert_eq!(schedule.after(1, Answer::from_status(301, None), 0.0), Next::RetryAfter(Duration::from_secs(5)));
        assert_eq!(schedule.after(1, Answer::from_status(500, None), 0.0), Next::RetryAfter(Duration::from_secs(5)));
    }
}
