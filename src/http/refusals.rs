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
/// Beyond this many addresses tracked, expired windows are swept.
const SWEEP_AT: usize = 10_000;

/// Refused tokens by client address, in fixed one-minute windows.
#[derive(Default)]
pub struct RefusedTokens {
    by_client: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// The example token's refusal through a tunnel: its 403 does not count
    /// toward the brake, so its line is one a second.
    pub example_warnings: crate::http::warn_budget::WarnBudget,
}

impl RefusedTokens {
    /// How long `client` must wait, when it has used up its refusals.
    pub fn locked_for(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        let (since, count) = map.get(&crate::http::client_address::share_of(client))?;
        let left = WINDOW.checked_sub(now.duration_since(*since))?;
        (*count >= MAX_REFUSALS && !left.is_zero()).then_some(left)
    }

    pub fn refused(&self, client: IpAddr, now: Instant) {
        let mut map = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
        }
        let entry = map.entry(crate::http::client_address::share_of(client)).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
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
}
