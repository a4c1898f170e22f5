//! The delivery worker `serve` runs (CONTRACT 7.1): a plan's messages to one
//! target in `sequence` order, one at a time; plans in parallel, up to a bound.
//! A message is sent under a lease in the database, so with several replicas
//! one sends it; a replica that dies mid-send leaves the lease to run out and
//! the message is sent again, with the same `webhook-id` (at least once).
//! Before a message is sent, the plan's later unsent messages are folded into
//! it (the counts are absolute, so the newest says it all).
use super::{
    message::{self, SeatsUpdated},
    schedule::{self, Next, Schedule},
    stripe::StripeClient,
    webhook::{Attempted, WebhookSender},
};
use crate::{
    db,
    domain::{DeliveryState, Micros, Target},
    metrics::Metrics,
    store::{
        audit,
        outbound::{self, Attempt, Message},
        plans,
    },
};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use std::{sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinSet};

/// Plans (and targets) being sent to at once, per replica.
pub const MAX_PARALLEL: usize = 16;
/// How often the worker looks for due messages when nothing woke it.
const POLL_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct Deliverer {
    db: DatabaseConnection,
    webhook: Option<WebhookSender>,
    stripe: Option<StripeClient>,
    schedule: Schedule,
    /// A lease outlives one attempt (its time-out) by this margin.
    lease_for: Duration,
    /// This replica, as the lease's owner.
    owner: Arc<str>,
    metrics: Arc<Metrics>,
}

impl Deliverer {
    /// A deliverer to one webhook receiver (`bench reconcile --billing` too).
    pub fn for_webhook(
        db: DatabaseConnection,
        webhook: Option<WebhookSender>,
        schedule: Schedule,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            webhook,
            stripe: None,
            schedule,
            lease_for: timeout + Duration::from_secs(5),
            owner: format!("deliverer_{}", ulid::Ulid::new()).into(),
            metrics,
        }
    }

    /// Sends to Stripe as well (or only), when a client is given.
    pub fn with_stripe(self, stripe: Option<StripeClient>) -> Self {
        Self { stripe, ..self }
    }

    fn targets(&self) -> Vec<Target> {
        let webhook = self.webhook.iter().map(|_| Target::Webhook);
        webhook.chain(self.stripe.iter().map(|_| Target::Stripe)).collect()
    }

    /// Runs until `stop` turns true; attempts in flight then finish (each has
    /// its time-out), or are left to their lease.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut failures: u32 = 0;
        loop {
            if *stop.borrow() {
                break;
            }
            let room = MAX_PARALLEL.saturating_sub(in_flight.len());
            let mut pause = POLL_EVERY;
            if room > 0 {
                match self.start_due(room, &mut in_flight).await {
                    Ok(started) => {
                        failures = 0;
                        if started == room {
                            // More may be due: look again when one ends.
                            pause = Duration::from_millis(20);
                        }
                    }
                    Err(err) => {
                        failures = failures.saturating_add(1);
                        pause = crate::retry::jittered(Duration::from_millis(500).saturating_mul(failures.min(20)));
                        tracing::warn!(error = %err, "billing delivery: could not read the outbox; retrying");
                    }
                }
            }
            tokio::select! {
                Some(ended) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Err(err) = ended {
                        tracing::error!(error = %err, "billing delivery: an attempt ended abnormally");
                    }
                }
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
        let deadline = self.lease_for;
        let _ = tokio::time::timeout(deadline, async { while in_flight.join_next().await.is_some() {} }).await;
    }

    /// Leases up to `room` due messages and starts sending them.
    async fn start_due(&self, room: usize, in_flight: &mut JoinSet<()>) -> Result<usize, DbErr> {
        let now = db::clock(&self.db).await?;
        let heads = outbound::due_heads(&self.db, &self.targets(), now, room).await?;
        let mut started = 0;
        for head in heads {
            if !outbound::lease(&self.db, &head.id, &self.owner, now, self.lease_until(now)).await? {
                continue;
            }
            let this = self.clone();
            in_flight.spawn(async move {
                let id = head.id.clone();
                if let Err(err) = this.attempt(head).await.map(|_| ()) {
                    tracing::warn!(message_id = %id, error = %err, "billing delivery: attempt not recorded; it is sent again when its lease runs out");
                }
            });
            started += 1;
        }
        Ok(started)
    }

    fn lease_until(&self, now: Micros) -> Micros {
        Micros(now.0.saturating_add(i64::try_from(self.lease_for.as_micros()).unwrap_or(i64::MAX)))
    }

    /// An operator's "send it again now" (`POST /admin/outbound/{id}/retry`,
    /// `seatsync outbound retry`): the message is due now, and sent at once
    /// when it is first of its plan and nobody is sending it; otherwise it goes
    /// in its turn. A delivered one is not sent again (its seats may be stale
    /// by now: `billing resend` sends the current ones), nor one for a target
    /// this process does not send to. Returns the message as it stands after.
    pub async fn retry(&self, id: &str) -> Result<Option<Message>, DbErr> {
        let Some(message) = outbound::get(&self.db, id).await? else { return Ok(None) };
        if message.state == DeliveryState::Delivered || !self.targets().contains(&message.target) {
            return Ok(Some(message));
        }
        // A lease of its own: the delivery worker of this same process must
        // not find it is already the owner and send the message too.
        let me = Self { owner: format!("{}:retry:{}", self.owner, ulid::Ulid::new()).into(), ..self.clone() };
        let now = db::clock(&me.db).await?;
        let mut sent = id.to_owned();
        // Ours only if nobody was sending it; then sent now when it is first
        // of its plan, else given back to go in its turn.
        if outbound::retry_now(&me.db, id, &me.owner, now, me.lease_until(now)).await? {
            match outbound::head(&me.db, id).await? {
                // Folded into a newer message: that one is what was sent.
                Some(head) => sent = me.attempt(head).await?.unwrap_or(sent),
                None => outbound::release(&me.db, id, &me.owner).await?,
            }
        }
        outbound::get(&me.db, &sent).await
    }

    /// Sends a leased message once, after folding its plan's later unsent
    /// messages into it, and records how it went. Returns the id sent (the
    /// newest message, if others were folded into it), or `None` when the
    /// lease was lost before sending.
    async fn attempt(&self, head: Message) -> Result<Option<String>, DbErr> {
        let Some(message) = self.fold(head).await? else { return Ok(None) };
        let request = match (message.target, &self.webhook, &self.stripe) {
            (Target::Webhook, Some(_), _) => {
                let s = &message.snapshot;
                let changes = audit::range(&self.db, &message.plan_id, s.audit_after, s.audit_through).await?;
                Request::Webhook(SeatsUpdated::of(&message, &changes).body(message.created_at))
            }
            // The item as the plan names it now (it may have been changed or unset).
            (Target::Stripe, _, Some(_)) => {
                Request::Stripe(plans::find(&self.db, &message.plan_id).await?.and_then(|p| p.stripe_subscription_item))
            }
            _ => return Ok(None),
        };
        // Renewed just before sending, so the whole time-out is covered even
        // if folding or reading waited; lost meanwhile, another replica sends it.
        let now = db::clock(&self.db).await?;
        if !outbound::lease(&self.db, &message.id, &self.owner, now, self.lease_until(now)).await? {
            return Ok(None);
        }
        let quantity = u64::try_from(message.snapshot.paid_seats).unwrap_or(0);
        let attempted = match (request, &self.webhook, &self.stripe) {
            (Request::Webhook(body), Some(webhook), _) => {
                webhook.send(&message.id, chrono::Utc::now().timestamp(), body).await
            }
            (Request::Stripe(Some(item)), _, Some(stripe)) => {
                let key = stripe.idempotency_key(message.plan_id.as_str(), message.sequence, &item, quantity);
                stripe.set_quantity(&item, quantity, &key).await
            }
            (Request::Stripe(None), _, _) => Attempted {
                answer: schedule::Answer::Gone,
                status: None,
                error: Some("the plan has no Stripe subscription item any more".into()),
            },
            _ => return Ok(None),
        };
        let attempts = u32::try_from(message.attempts).unwrap_or(0).saturating_add(1);
        let next = self.schedule.after(attempts, attempted.answer, schedule::random_jitter());
        let (state, wait) = match next {
            Next::Delivered => (DeliveryState::Delivered, Duration::ZERO),
            Next::RetryAfter(wait) => (DeliveryState::Failing, wait),
            Next::Dead => (DeliveryState::Dead, Duration::ZERO),
        };
        let Attempted { status, error, .. } = attempted;
        let attempt = Attempt { state, wait, status: status.map(i32::from), error: error.clone() };
        if !outbound::record(&self.db, &message.id, &self.owner, &attempt).await? {
            tracing::warn!(message_id = %message.id, "billing delivery: the lease ran out during the attempt; another replica sends it again");
            return Ok(None);
        }
        let target = message.target.as_str();
        self.metrics.outbound_delivery(target, outcome_label(state));
        match state {
            DeliveryState::Dead => tracing::warn!(
                message_id = %message.id, plan_id = %message.plan_id, target, sequence = message.sequence,
                attempts, error = error.as_deref().unwrap_or(""), "billing delivery: message is dead; it will not be sent again unless retried"
            ),
            DeliveryState::Failing => tracing::info!(
                message_id = %message.id, plan_id = %message.plan_id, target, attempts,
                error = error.as_deref().unwrap_or(""), "billing delivery: attempt failed; retrying later"
            ),
            _ => {
                tracing::debug!(message_id = %message.id, plan_id = %message.plan_id, target, "billing delivery: delivered")
            }
        }
        Ok(Some(message.id))
    }

    /// Folds the plan's later unsent messages into the newest of them, which
    /// then carries the head's schedule and lease. Only messages never sent
    /// and not being sent are folded (an id that went out keeps its body);
    /// otherwise the head goes alone. `None`: the lease was lost.
    async fn fold(&self, head: Message) -> Result<Option<Message>, DbErr> {
        // Nothing after it, the common case: no transaction needed. A message
        // written meanwhile is sent next, in its turn.
        if outbound::unsent_after(&self.db, &head).await?.is_empty() {
            return Ok(Some(head));
        }
        let txn = self.db.begin().await?;
        let later = outbound::unsent_after(&txn, &head).await?;
        let foldable = |m: &Message| m.attempts == 0 && m.state == DeliveryState::Pending;
        let Some((newest, between)) = later.split_last().filter(|_| later.iter().all(foldable)) else {
            txn.commit().await?;
            return Ok(Some(head));
        };
        let snapshot = message::folded(&head.snapshot, &newest.snapshot);
        let between: Vec<&Message> = between.iter().collect();
        if !outbound::fold(&txn, &head, &between, newest, &self.owner).await? {
            return Ok(None);
        }
        txn.commit().await?;
        tracing::debug!(into = %newest.id, folded = between.len() + 1, "billing delivery: pending messages merged");
        Ok(Some(Message {
            snapshot,
            state: head.state,
            attempts: head.attempts,
            next_attempt_at: head.next_attempt_at,
            last_status: head.last_status,
            last_error: head.last_error.clone(),
            ..newest.clone()
        }))
    }
}

/// What one attempt sends.
enum Request {
    Webhook(Vec<u8>),
    /// The plan's subscription item, if it still has one.
    Stripe(Option<String>),
}

/// The `outcome` label of `seatsync_outbound_deliveries_total`.
fn outcome_label(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Delivered => "delivered",
        DeliveryState::Dead => "dead",
        _ => "failed",
    }
}
