//! Refused attempts by client address, in fixed one-minute windows: after
//! `MAX_REFUSALS` in one, that address is turned away until the minute is over
//! (the admin token's guessing brake, CONTRACT 3.3).
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Refused tokens allowed from one address in one window.
pub const MAX_REFUSALS: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past it, new addresses share one window (braked
/// together), so memory stays bounded however many addresses guess.
const MAX_TRACKED: usize = 100_000;
/// The shared window's key: an address no client has.
const OVERFLOW: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

/// Refused tokens by client address, in fixed one-minute windows.
#[derive(Default)]
pub struct RefusedTokens {
    windows: Mutex<Windows>,
    /// The example token's refusal through a tunnel: its 403 does not count
    /// toward the brake, so its line is one a second.
    pub example_warnings: crate::http::warn_budget::WarnBudget,
}

/// Two generations of windows, each one minute of the clock: a window is
/// never older than a minute, so one that began in the generation before the
/// current one is the oldest that can still be open. Moving on drops the
/// older generation whole: no request ever sweeps the map.
#[derive(Default)]
struct Windows {
    origin: Option<Instant>,
    generation: u64,
    current: HashMap<IpAddr, (Instant, u32)>,
    previous: HashMap<IpAddr, (Instant, u32)>,
}

impl Windows {
    fn move_to(&mut self, now: Instant) {
        let origin = *self.origin.get_or_insert(now);
        let generation = now.saturating_duration_since(origin).as_secs() / WINDOW.as_secs();
        if generation == self.generation {
            return;
        }
        if generation == self.generation + 1 {
            self.previous = std::mem::take(&mut self.current);
        } else {
            self.previous.clear();
            self.current.clear();
        }
        self.generation = generation;
    }

    /// The open window of `key`, if any.
    fn open(&self, key: &IpAddr, now: Instant) -> Option<(Instant, u32)> {
        let found = self.current.get(key).or_else(|| self.previous.get(key)).copied()?;
        (now.saturating_duration_since(found.0) < WINDOW).then_some(found)
    }

    fn key_for(&self, client: IpAddr) -> IpAddr {
        let key = crate::http::client_address::share_of(client);
        let tracked = self.current.contains_key(&key) || self.previous.contains_key(&key);
        if tracked || self.current.len() < MAX_TRACKED { key } else { OVERFLOW }
    }
}

impl RefusedTokens {
    /// How long `client` must wait, when it has used up its refusals.
    pub fn locked_for(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.move_to(now);
        let key = windows.key_for(client);
        let (since, count) = windows.open(&key, now)?;
        let left = WINDOW.checked_sub(now.saturating_duration_since(since))?;
        (count >= MAX_REFUSALS && !left.is_zero()).then_some(left)
    }

    pub fn refused(&self, client: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.move_to(now);
        let key = windows.key_for(client);
        let (since, count) = windows.open(&key, now).unwrap_or((now, 0));
        windows.previous.remove(&key);
        windows.current.insert(key, (since, count + 1));
    }

    /// Addresses tracked now (both generations).
    pub fn tracked(&self) -> usize {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.current.len() + windows.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_refusals_lock_an_address_until_its_minute_is_over() {
        let refused = RefusedTokens::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let start = Instant::now();
        for n in 0..MAX_REFUSALS {
            assert_eq!(refused.locked_for(a, start), None, "after {n}");
            refused.refused(a, start + Duration::from_secs(u64::from(n)));
        }
        let at = start + Duration::from_secs(20);
        assert_eq!(refused.locked_for(a, at), Some(Duration::from_secs(40)));
        assert_eq!(refused.locked_for(b, at), None, "another address is not affected");
        assert_eq!(refused.locked_for(a, start + WINDOW), None);
        refused.refused(a, start + WINDOW);
        assert_eq!(refused.locked_for(a, start + WINDOW), None, "a new minute starts from zero");
    }

    #[test]
    fn memory_stays_bounded_and_old_windows_go_whole() {
        let refused = RefusedTokens::default();
        let start = Instant::now();
        for n in 0..(MAX_TRACKED as u32 + 5_000) {
            let client = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + n));
            refused.refused(client, start);
        }
        assert_eq!(refused.tracked(), MAX_TRACKED + 1, "the rest share one window");
        let late = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));
        assert!(refused.locked_for(late, start).is_some(), "5,000 refusals in the shared window: braked together");
        // Two minutes on, everything is gone without a sweep.
        refused.refused(late, start + WINDOW * 2);
        assert_eq!(refused.tracked(), 1);
    }

    #[test]
    fn a_window_that_began_last_minute_still_counts() {
        let refused = RefusedTokens::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        refused.refused("192.0.2.99".parse().unwrap(), start);
        // Its window opens at 50 s, before the clock's minute turns at 60 s…
        refused.refused(a, start + Duration::from_secs(50));
        for n in 1..MAX_REFUSALS {
            refused.refused(a, start + Duration::from_secs(60 + u64::from(n)));
        }
        // …and still counts after it: ten refusals, locked until 110 s.
        assert_eq!(refused.locked_for(a, start + Duration::from_secs(70)), Some(Duration::from_secs(40)));
        assert_eq!(refused.locked_for(a, start + Duration::from_secs(110)), None, "its own minute is over");
    }
}
