//! Warn lines that anyone can cause (a forged signature, a guessed token, a
//! flood of slow bodies) are written at most once a second for each kind, so a
//! flood of requests is not a flood of log lines; the next line written says
//! how many were left out. Every refusal is still counted in `/metrics`.
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub struct WarnBudget {
    /// When the last line was written (ms on the process's monotonic clock).
    last_ms: AtomicI64,
    /// Lines left out since then.
    left_out: AtomicU64,
}

impl Default for WarnBudget {
    fn default() -> Self {
        Self { last_ms: AtomicI64::new(i64::MIN), left_out: AtomicU64::new(0) }
    }
}

impl WarnBudget {
    /// `Some(lines left out since the last one)` when a line may be written
    /// now; `None` (and one more left out) otherwise.
    pub fn take(&self, now_ms: i64) -> Option<u64> {
        let last = self.last_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= 1000
            && self.last_ms.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            return Some(self.left_out.swap(0, Ordering::Relaxed));
        }
        self.left_out.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// `take` at the current time (monotonic: a clock stepped back must not
    /// silence every line until it catches up).
    pub fn take_now(&self) -> Option<u64> {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let since_start = START.get_or_init(std::time::Instant::now).elapsed();
        self.take(i64::try_from(since_start.as_millis()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_second_and_the_next_says_how_many_were_left_out() {
        let budget = WarnBudget::default();
        assert_eq!(budget.take(10_000), Some(0));
        assert_eq!(budget.take(10_001), None);
        assert_eq!(budget.take(10_999), None);
        assert_eq!(budget.take(11_000), Some(2));
        assert_eq!(budget.take(11_500), None);
        assert_eq!(budget.take(20_000), Some(1));
    }
}
