//! Seat changes pushed out to billing (CONTRACT 7): the outbox written with
//! every seat change (`outbox.rs`), what a message says (`message.rs`), the
//! Standard Webhooks signature (`signature.rs`), the retry schedule
//! (`schedule.rs`) and the worker that delivers (`delivery.rs`, `webhook.rs`).
pub mod delivery;
pub mod message;
pub mod notice;
pub mod outbox;
pub mod schedule;
pub mod signature;
pub mod stripe;
pub mod webhook;

/// A set of targets: those registered in the database (`targets`), for
/// which every seat change writes a message, or those a process is
/// configured to send to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Targets {
    /// `BILLING_WEBHOOK_URL` is set.
    pub webhook: bool,
    /// `STRIPE_API_KEY` is set (and then only plans with a subscription item).
    pub stripe: bool,
}

impl Targets {
    pub fn any(self) -> bool {
        self.webhook || self.stripe
    }

    pub fn list(self) -> Vec<crate::domain::Target> {
        let mut out = Vec::new();
        if self.webhook {
            out.push(crate::domain::Target::Webhook);
        }
        if self.stripe {
            out.push(crate::domain::Target::Stripe);
        }
        out
    }
}
