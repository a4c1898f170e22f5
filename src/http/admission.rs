//! Who may have a webhook body read, before a byte of it is: the allowlist
//! (`WEBHOOK_ALLOWED_IPS`), then a cap on bodies read at once in all
//! (`WEBHOOK_MAX_INFLIGHT`) and from one client (`..._PER_CLIENT`). The check
//! made before the body needs no secret, so without the per-client cap one
//! address sending slow bodies could hold every slot and starve WorkOS.
use ipnet::IpNet;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Admission {
    allowed: Option<Vec<IpNet>>,
    all: Arc<Semaphore>,
    max_all: usize,
    max_per_client: usize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    /// The "refused: busy" line: one a second.
    pub busy_warnings: crate::http::warn_budget::WarnBudget,
    /// Every other refusal's line (signature, size, deadline, allowlist).
    pub refusal_warnings: crate::http::warn_budget::WarnBudget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not on `WEBHOOK_ALLOWED_IPS`.
    NotAllowed,
    /// Every slot is taken.
    Busy,
    /// This client holds all of its own slots.
    ClientBusy,
}

/// A slot; given back when dropped. The client's share can be given back
/// sooner, once its body is read (`body_read`).
pub struct Slot {
    _all: OwnedSemaphorePermit,
    client: Option<IpAddr>,
    admission: Arc<Admission>,
}

impl Slot {
    /// The body is in: this client's share is free for its next one, while
    /// the slot in the total still bounds the bodies in flight until stored.
    pub fn body_read(&mut self) {
        if let Some(client) = self.client.take() {
            let mut counts = self.admission.per_client.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = counts.get_mut(&client) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&client);
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.body_read();
    }
}

impl Admission {
    pub fn new(allowed: Option<Vec<IpNet>>, max_all: usize, max_per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            allowed,
            all: Arc::new(Semaphore::new(max_all)),
            max_all,
            max_per_client,
            per_client: Mutex::new(HashMap::new()),
            busy_warnings: Default::default(),
            refusal_warnings: Default::default(),
        })
    }

    /// May `client` post at all? Checked before anything else.
    pub fn allows(&self, client: IpAddr) -> Result<(), Refusal> {
        match &self.allowed {
            Some(ranges) if !crate::http::client_address::contains(ranges, client) => Err(Refusal::NotAllowed),
            _ => Ok(()),
        }
    }

    /// A slot for one body, or a refusal at once (never a queue).
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Refusal> {
        let client = crate::http::client_address::share_of(client);
        let mut counts = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let in_flight = counts.get(&client).copied().unwrap_or(0);
        if in_flight >= self.max_per_client {
            return Err(Refusal::ClientBusy);
        }
        let permit = self.all.clone().try_acquire_owned().map_err(|_| Refusal::Busy)?;
        counts.insert(client, in_flight + 1);
        Ok(Slot { _all: permit, client: Some(client), admission: self.clone() })
    }

    /// Bodies being read now.
    pub fn in_flight(&self) -> usize {
        self.max_all - self.all.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_client_cannot_take_every_slot() {
        let admission = Admission::new(None, 4, 2);
        let a1 = admission.admit(ip("192.0.2.1")).unwrap();
        let _a2 = admission.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(admission.admit(ip("192.0.2.1")).err(), Some(Refusal::ClientBusy));
        let _b1 = admission.admit(ip("192.0.2.2")).unwrap();
        let _b2 = admission.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(admission.admit(ip("192.0.2.3")).err(), Some(Refusal::Busy));
        assert_eq!(admission.in_flight(), 4);
        drop(a1);
        assert_eq!(admission.in_flight(), 3);
        let mut again = admission.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(admission.admit(ip("192.0.2.1")).err(), Some(Refusal::ClientBusy));
        again.body_read();
        assert_eq!(admission.admit(ip("192.0.2.1")).err(), Some(Refusal::Busy), "its share is free, the total is not");
        assert_eq!(admission.in_flight(), 4);
    }

    #[test]
    fn the_allowlist_is_checked_by_range() {
        let admission = Admission::new(Some(crate::http::client_address::parse_ranges("10.0.0.0/8").unwrap()), 4, 2);
        assert!(admission.allows(ip("10.9.8.7")).is_ok());
        assert_eq!(admission.allows(ip("192.0.2.1")), Err(Refusal::NotAllowed));
        assert!(Admission::new(None, 1, 1).allows(ip("192.0.2.1")).is_ok());
    }
}
