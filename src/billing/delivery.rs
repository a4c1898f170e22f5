//! The delivery worker `serve` runs (CONTRACT 7.1): a plan's messages to one
//! target in `sequence` order, one at a time; plans in parallel, up to a bound.
//! A plan and target are sent to under a lease in the database (their
//! stream's), so whichever path sends (this worker, an operator's retry,
//! another replica) one request is in flight; a replica that dies mid-send
//! leaves the lease to run out and the message is sent again, with the same
//! `webhook-id` (at least once). A message is numbered (`sequence`) when first
//! attempted; before that, never-attempted messages behind it are folded into
//! one (the counts are absolute, so the newest says it all).
use super::{
    message::{self, SeatsUpdated},
    notice,
    schedule::{self, Next, Schedule},
    stripe::StripeClient,
    webhook::{Attempted, WebhookSender},
};
use crate::telemetry::trace_context;
use crate::{
    db,
    domain::{DeliveryState, Micros, PlanId, Target},
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
use tracing::Instrument;

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
    pub async fn deliver_until(self, mut stop: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut failures: u32 = 0;
        loop {
            if *stop.borrow() {
                break;
            }
            let room = MAX_PARALLEL.saturating_sub(in_flight.len());
            let mut pause = POLL_EVERY;
            if room > 0 {
                let backend = self.db.get_database_backend();
                match db::within(backend, Duration::from_secs(30), self.start_due(room, &mut in_flight)).await {
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

    /// Leases up to `room` due plans and targets and starts sending to them.
    async fn start_due(&self, room: usize, in_flight: &mut JoinSet<()>) -> Result<usize, DbErr> {
        let now = db::clock(&self.db).await?;
        let heads = outbound::due_heads(&self.db, &self.targets(), now, room).await?;
        let mut started = 0;
        for head in heads {
            let (plan, target) = (head.plan_id.clone(), head.target);
            // An owner of its own per send: a task that overran its lease can
            // then never pass for the one that took the stream after it.
            let this = self.for_one_send();
            if !outbound::lease(&self.db, &plan, target, &this.owner, now, this.lease_until(now)).await? {
                continue;
            }
            // Bounded on PostgreSQL (`db::bounded`): a send stuck on a hung
            // database node lets its lease run out and is sent again.
            let (backend, limit) = (this.db.get_database_backend(), this.lease_for.saturating_mul(2));
            in_flight.spawn(async move {
                if let Err(err) = db::within(backend, limit, this.send_next(&plan, target)).await.map(|_| ()) {
                    tracing::warn!(plan_id = %plan, billing_target = target.as_str(), error = %err, "billing delivery: attempt not recorded; it is sent again when its lease runs out");
                }
            });
            started += 1;
        }
        Ok(started)
    }

    /// This deliverer, under an owner name used for one send only.
    fn for_one_send(&self) -> Self {
        Self { owner: format!("{}:{}", self.owner, ulid::Ulid::new()).into(), ..self.clone() }
    }

    fn lease_until(&self, now: Micros) -> Micros {
        now.plus(self.lease_for)
    }

    /// An operator's "send it again now" (`POST /admin/outbound/{id}/retry`,
    /// `seatsync outbound retry`): a `dead` or `failing` message is due now,
    /// with its own id and body; a Stripe message older than one the item
    /// already received is superseded instead. It is sent at once when it is
    /// first of its plan and target and nobody is sending to them (by this
    /// process, when it sends to that target), else in its turn by `serve`.
    pub async fn retry(db: &DatabaseConnection, me: Option<&Self>, id: &str) -> Result<outbound::Retried, DbErr> {
        let now = db::clock(db).await?;
        let txn = db.begin().await?;
        let retried = outbound::retry_now(&txn, id, now).await?;
        txn.commit().await?;
        let outbound::Retried::Due(message) = &retried else { return Ok(retried) };
        let Some(this) = me.filter(|d| d.targets().contains(&message.target)) else { return Ok(retried) };
        // A lease of its own: the delivery worker of this same process must
        // not find it is already the owner and send to the stream too.
        let me = this.for_one_send();
        let (plan, target) = (&message.plan_id, message.target);
        let mut sent = None;
        if outbound::lease(db, plan, target, &me.owner, now, me.lease_until(now)).await? {
            sent = me.send_next(plan, target).await?;
        }
        // A pending message may have been folded into a newer one: that one was sent.
        let found = match outbound::get(db, id).await? {
            Some(message) => Some(message),
            None => match sent {
                Some(sent) => outbound::get(db, &sent).await?,
                None => None,
            },
        };
        Ok(found.map_or(outbound::Retried::NotFound, outbound::Retried::Due))
    }

    /// Under this deliverer's lease on a plan and target: sends their first
    /// unsent message if it is due (after folding the never-attempted ones
    /// behind it into it), records how it went and gives the lease back.
    /// Returns the id sent, or `None` when nothing was (not due, superseded,
    /// the lease lost).
    async fn send_next(&self, plan: &PlanId, target: Target) -> Result<Option<String>, DbErr> {
        // Superseded Stripe messages are skipped over; bounded all the same.
        for _ in 0..64 {
            let now = db::clock(&self.db).await?;
            let Some(head) = outbound::head(&self.db, plan, target).await? else { break };
            if head.next_attempt_at > now {
                break;
            }
            if target == Target::Stripe && self.supersede_stale(&head).await? {
                continue;
            }
            let Some(message) = self.prepare(head).await? else { return Ok(None) };
            return self.attempt(message).await;
        }
        outbound::release(&self.db, plan, target, &self.owner).await?;
        Ok(None)
    }

    /// A Stripe head that must not be sent (CONTRACT 7.2): older than a
    /// message the item already received, or tried before while a newer count
    /// waits behind it (only the newest count matters to Stripe). It is
    /// marked `superseded`; true when it was.
    async fn supersede_stale(&self, head: &Message) -> Result<bool, DbErr> {
        let stream = outbound::stream(&self.db, &head.plan_id, head.target).await?;
        let newer_waits = head.attempts > 0 && !outbound::unsent_after(&self.db, head).await?.is_empty();
        if stream.delivered_position < head.position && !newer_waits {
            return Ok(false);
        }
        // The head and anything before it: older than, or as old as, a count
        // the item has, or one waiting behind it.
        outbound::supersede_older(&self.db, &head.plan_id, head.target, head.position + 1).await?;
        tracing::info!(message_id = %head.id, plan_id = %head.plan_id, "billing delivery: an older Stripe count superseded; not sent");
        Ok(true)
    }

    /// Folds the never-attempted messages behind a never-attempted head into
    /// the newest of them (the counts are absolute, so the newest says it
    /// all), and numbers the message to send if it has no `sequence` yet; one
    /// transaction, under the lease. A message that was attempted keeps its
    /// own id and body and is never folded. `None`: the lease was lost.
    async fn prepare(&self, head: Message) -> Result<Option<Message>, DbErr> {
        let txn = self.db.begin().await?;
        let mut message = head.clone();
        // Only seat messages merge, and never across a notice: a notice keeps
        // its place between the seat messages before and after it.
        if head.sequence.is_none() && head.attempts == 0 && head.is_seats() {
            let later = outbound::unsent_after(&txn, &head).await?;
            let run: Vec<&Message> =
                later.iter().take_while(|m| m.sequence.is_none() && m.attempts == 0 && m.is_seats()).collect();
            if let Some((newest, between)) = run.split_last() {
                outbound::fold(&txn, &head, between, newest).await?;
                message = Message {
                    snapshot: message::folded(&head.snapshot, &newest.snapshot),
                    next_attempt_at: head.next_attempt_at,
                    ..(*newest).clone()
                };
                tracing::debug!(into = %newest.id, folded = between.len() + 1, "billing delivery: pending messages merged");
            }
        }
        let Some(sequence) = outbound::number(&txn, &message, &self.owner).await? else {
            return Ok(None);
        };
        txn.commit().await?;
        Ok(Some(Message { sequence: Some(sequence), ..message }))
    }

    /// Sends a prepared message once, and records how it went. Returns its id,
    /// or `None` when the lease was lost.
    async fn attempt(&self, message: Message) -> Result<Option<String>, DbErr> {
        let request = match (message.target, &self.webhook, &self.stripe) {
            (Target::Webhook, Some(_), _) => match &message.notice {
                Some(stored) => {
                    let s = &message.snapshot;
                    let header = notice::Header {
                        plan_id: message.plan_id.as_str(),
                        organization_id: s.organization_id.as_deref(),
                        external_id: s.external_id.as_deref(),
                        sequence: message.sequence.unwrap_or_default(),
                    };
                    Request::Webhook(notice::body(&message.kind, stored, &header, message.created_at))
                }
                None => {
                    let s = &message.snapshot;
                    let changes = audit::range(&self.db, &message.plan_id, s.audit_after, s.audit_through).await?;
                    Request::Webhook(SeatsUpdated::of(&message, &changes).body(message.created_at))
                }
            },
            // The item as the plan names it now (it may have been changed or unset).
            (Target::Stripe, _, Some(_)) => {
                Request::Stripe(plans::find(&self.db, &message.plan_id).await?.and_then(|p| p.stripe_subscription_item))
            }
            _ => {
                outbound::release(&self.db, &message.plan_id, message.target, &self.owner).await?;
                return Ok(None);
            }
        };
        // Renewed just before sending, so the whole time-out is covered even
        // if folding or reading waited. Only a lease still ours is renewed:
        // one that ran out may have been taken, and the message sent (and a
        // newer one after it) by another; then this one is not sent at all.
        let now = db::clock(&self.db).await?;
        if !outbound::renew(&self.db, &message.plan_id, message.target, &self.owner, self.lease_until(now)).await? {
            return Ok(None);
        }
        // Superseded meanwhile (the plan's Stripe item changed): not sent.
        if outbound::get(&self.db, &message.id).await?.is_none_or(|m| !m.state.is_unsent()) {
            outbound::release(&self.db, &message.plan_id, message.target, &self.owner).await?;
            return Ok(None);
        }
        let quantity = u64::try_from(message.snapshot.paid_seats).unwrap_or(0);
        let sequence = message.sequence.unwrap_or_default();
        // In the trace of the change that wrote the message (CONTRACT 7.1).
        let span = tracing::info_span!(
            "billing_delivery",
            otel.name = "billing delivery",
            message_id = %message.id,
            plan_id = %message.plan_id,
            billing_target = message.target.as_str(),
            message_type = %message.kind,
            sequence,
            outcome = tracing::field::Empty,
            http_status = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        trace_context::set_parent(&span, message.traceparent.as_deref());
        trace_context::record_ids(&span);
        let attempted = match (request, &self.webhook, &self.stripe) {
            (Request::Webhook(body), Some(webhook), _) => {
                let traceparent = trace_context::traceparent_of(&span);
                webhook
                    .send(&message.id, chrono::Utc::now().timestamp(), body, traceparent)
                    .instrument(span.clone())
                    .await
            }
            (Request::Stripe(Some(item)), _, Some(stripe)) => {
                let key = stripe.idempotency_key(message.plan_id.as_str(), sequence, &item, quantity);
                stripe.set_quantity(&item, quantity, &key).instrument(span.clone()).await
            }
            (Request::Stripe(None), _, _) => {
                // The plan stopped following an item: nothing to keep equal.
                let txn = self.db.begin().await?;
                outbound::supersede_all(&txn, &message.plan_id, Target::Stripe).await?;
                outbound::release(&txn, &message.plan_id, message.target, &self.owner).await?;
                txn.commit().await?;
                return Ok(None);
            }
            _ => return Ok(None),
        };
        let attempts = u32::try_from(message.attempts - message.schedule_from).unwrap_or(0).saturating_add(1);
        let next = self.schedule.after(attempts, attempted.answer, schedule::random_jitter());
        let (state, wait) = match next {
            Next::Delivered => (DeliveryState::Delivered, Duration::ZERO),
            Next::RetryAfter(wait) => (DeliveryState::Failing, wait),
            Next::Dead => (DeliveryState::Dead, Duration::ZERO),
        };
        let Attempted { status, error, .. } = attempted;
        span.record("outcome", outcome_label(state));
        if let Some(status) = status {
            span.record("http_status", status);
        }
        let attempt = Attempt { state, wait, status: status.map(i32::from), error: error.clone() };
        let txn = self.db.begin().await?;
        if !outbound::record(&txn, &message, &self.owner, &attempt).await? {
            txn.rollback().await?;
            tracing::warn!(message_id = %message.id, "billing delivery: the lease ran out during the attempt; another replica sends it again");
            return Ok(None);
        }
        txn.commit().await?;
        // `billing_target`, not `target`: tracing's own JSON field is `target`.
        let billing_target = message.target.as_str();
        self.metrics.outbound_delivery(billing_target, outcome_label(state));
        let _in_span = span.enter();
        match state {
            DeliveryState::Dead => tracing::warn!(
                message_id = %message.id, plan_id = %message.plan_id, billing_target, sequence,
                attempts = message.attempts + 1, error = error.as_deref().unwrap_or(""), "billing delivery: message is dead; it will not be sent again unless retried"
            ),
            DeliveryState::Failing => tracing::info!(
                message_id = %message.id, plan_id = %message.plan_id, billing_target, attempts = message.attempts + 1,
                error = error.as_deref().unwrap_or(""), "billing delivery: attempt failed; retrying later"
            ),
            _ => {
                tracing::debug!(message_id = %message.id, plan_id = %message.plan_id, billing_target, "billing delivery: delivered")
            }
        }
        Ok(Some(message.id))
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
