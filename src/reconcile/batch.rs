//! One batch: claim groups from the queue, apply their events in arrival order
//! inside one transaction, record every outcome, commit once. A group's
//! consecutive user changes gather into a run for its plan, and the runs of
//! every group in the batch are decided together by the book
//! (`seats::book`), each guard deciding as of each event; a new directory's
//! first event is a run of its own, after its directory is recorded; every
//! other event (directory events, approved events, unusable payloads, and
//! changes parked or stale without reaching a plan) goes one at a time, after
//! the runs before it.
use super::{
    apply::apply_command,
    book,
    scope::{Outcome, Resolved, Scope},
    worker::{BatchLimits, StepReport},
};
use crate::telemetry::trace_context;
use crate::{
    domain::{EventId, EventStatus, HoldKind, Micros, order_key},
    events::{Command, DirectoryUserChange, Envelope, translate},
    inbox::queue::{self, QueuedEvent},
    metrics::Metrics,
    store::plans::{self, Plan},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::time::Instant;
use tracing::Instrument;

/// Why a batch failed; it was rolled back.
pub(super) enum BatchFailure {
    /// The claim, the commit or the database itself: nobody's data.
    Database(DbErr),
    /// A batched run of several events: which one is not known yet.
    InBulk(DbErr),
    /// Applying this event: a refusal of its data, or a panic (a bug its data
    /// reaches).
    Event { event: QueuedEvent, err: DbErr, panicked: bool },
}

impl From<DbErr> for BatchFailure {
    fn from(err: DbErr) -> Self {
        Self::Database(err)
    }
}

/// Everything a batch decided, recorded at its end.
#[derive(Default)]
struct Outcomes {
    settled: Vec<(i64, &'static str)>,
    tally: Vec<(String, EventStatus)>,
}

impl Outcomes {
    fn record(&mut self, event: &QueuedEvent, outcome: &Outcome) {
        self.settled.push((event.seq, outcome.status().as_str()));
        self.tally.push((event.event_type.clone(), outcome.status()));
    }
}

/// With traces on, an event's apply as a span of its own trace (a child of the
/// span that received it), named with its outcome and plan; the plan's billing
/// message then joins that trace. Nothing is done while traces are off.
fn traced(scope: &mut Scope, event: &QueuedEvent, outcome: &Outcome, plan: Option<&Plan>, paid_change: Option<i64>) {
    if !trace_context::enabled() || event.traceparent.is_none() {
        return;
    }
    let span = tracing::info_span!(
        "apply_event",
        otel.name = "apply event",
        event_id = %event.event_id,
        event_type = %event.event_type,
        outcome = outcome.status().as_str(),
        plan_id = tracing::field::Empty,
        organization_id = tracing::field::Empty,
        paid_seats_change = tracing::field::Empty,
    );
    trace_context::set_parent(&span, event.traceparent.as_deref());
    if let Some(plan) = plan {
        span.record("plan_id", plan.id.as_str());
        if let Some(org) = &plan.organization_id {
            span.record("organization_id", org.as_str());
        }
        if let Some(traceparent) = trace_context::traceparent_of(&span) {
            scope.traces.insert(plan.id.clone(), traceparent);
        }
    }
    if let Some(change) = paid_change {
        span.record("paid_seats_change", change);
    }
}

/// One group's consecutive user changes, waiting to be applied together
/// with the other groups' runs.
struct Run<'e> {
    /// Its group's place in the claim, and its key.
    group: usize,
    key: Option<&'e str>,
    plan: Plan,
    events: Vec<Joined<'e>>,
}

/// A user change in a run.
struct Joined<'e> {
    event: &'e QueuedEvent,
    id: EventId,
    change: DirectoryUserChange,
}

/// One claimed event, parsed.
struct Parsed<'e> {
    event: &'e QueuedEvent,
    id: EventId,
    command: Command,
}

pub(super) async fn process(
    db: &DatabaseConnection,
    metrics: &Metrics,
    limits: BatchLimits,
    bulk: bool,
    current: &std::sync::Mutex<Option<QueuedEvent>>,
) -> Result<StepReport, BatchFailure> {
    let batch_started = Instant::now();
    let now = Micros::now();
    let txn = db.begin().await?;
    crate::db::plan_each_statement(&txn).await?;
    let span = tracing::info_span!(
        "reconcile_batch",
        otel.name = "reconcile batch",
        events = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    trace_context::record_ids(&span);
    match apply_batch(&txn, limits, bulk, now, current, &span).instrument(span.clone()).await {
        Ok((report, outcomes)) => {
            txn.commit().await?;
            for (event_type, status) in &outcomes.tally {
                metrics.reconciled(event_type, status.as_str());
            }
            if report.decided > 0 {
                let took_ms = batch_started.elapsed().as_millis() as u64;
                tracing::debug!(events = report.decided, took_ms, "batch committed");
            }
            Ok(report)
        }
        Err(err) => {
            let _ = txn.rollback().await;
            Err(err)
        }
    }
}

/// Claims and applies one batch inside `txn`; the caller commits.
async fn apply_batch(
    txn: &DatabaseTransaction,
    limits: BatchLimits,
    bulk: bool,
    now: Micros,
    current: &std::sync::Mutex<Option<QueuedEvent>>,
    span: &tracing::Span,
) -> Result<(StepReport, Outcomes), BatchFailure> {
    let claim = queue::claim(txn, now, limits.claim).await?;
    let claimed: usize = claim.groups.iter().map(|g| g.events.len()).sum();
    if trace_context::enabled() {
        // The batch links to every event it claimed: each is its own trace.
        span.record("events", claimed);
        for event in claim.groups.iter().flat_map(|g| &g.events) {
            trace_context::link(span, event.traceparent.as_deref());
        }
    }
    let mut report = StepReport {
        locked_elsewhere: claim.locked_elsewhere,
        groups: claim.groups.len(),
        more_waiting: claim.groups.len() >= limits.claim.groups || claimed >= limits.claim.events,
        ..Default::default()
    };
    let mut batch = Batch { txn, limits: &limits, bulk, now, scope: Scope::default(), outcomes: Outcomes::default() };
    // The budget counts applying, not claiming: a claim's cost is bounded apart.
    let started = Instant::now();
    let orgs: Vec<_> =
        claim.groups.iter().filter_map(|g| g.key.as_deref().and_then(order_key::organization_of)).collect();
    batch.scope.prefetch(txn, &orgs).await?;
    // Runs of user changes not applied yet, in arrival order: a group's run
    // waits for the next event it cannot join, or for the batch's end.
    let mut runs: Vec<Run<'_>> = Vec::new();
    'groups: for (at_group, group) in claim.groups.iter().enumerate() {
        let key = group.key.as_deref();
        if let Some(dir) = key.and_then(order_key::directory_of) {
            // Legacy events whose directory is known now belong to its
            // organization's group: moved there, applied in their place next.
            if let Some(known) = batch.scope.directory(txn, &dir).await? {
                // Under the organization group's lock, so no batch applying
                // that group misses them.
                let org_key = order_key::of_organization(&known.organization_id);
                if queue::try_lock_group(txn, &org_key).await? {
                    // After any storer still writing one under the directory's key.
                    queue::wait_for_storers(txn, &order_key::of_directory(&dir)).await?;
                    queue::adopt_directory(txn, &dir, &known.organization_id).await?;
                    report.retry_now = true;
                } else {
                    report.locked_elsewhere = true;
                }
                continue 'groups;
            }
        }
        for event in &group.events {
            if !bulk {
                // Nobody is blamed until this event is applied (`process_contained`).
                *current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
            }
            if event.held {
                // Behind a hold: whatever came after it waits with it.
                batch.flush(&mut runs, Some(at_group), None).await?;
                queue::hold_from(txn, key, event.seq).await.map_err(|err| at(event, err))?;
                continue 'groups;
            }
            let waiting: usize = runs.iter().map(|r| r.events.len()).sum();
            let out_of_budget =
                report.decided > 0 && (started.elapsed() >= limits.time_budget || waiting >= limits.max_deferred);
            if !event.due || out_of_budget {
                // A retry back-off runs (the group waits, in order), or time is up.
                batch.flush(&mut runs, Some(at_group), None).await?;
                if out_of_budget {
                    report.more_waiting = true;
                    break 'groups;
                }
                continue 'groups;
            }
            report.decided += 1;
            // Whom to blame for an error: in bulk, nobody in particular.
            let blamed = (!bulk).then_some(event);
            if !bulk {
                // Whom to blame if applying it panics (`process_contained`).
                let blamed = QueuedEvent { body: Vec::new(), ..event.clone() };
                *current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(blamed);
            }
            limits.faults.applying(&event.body);
            let parsed = match parse(event) {
                Ok(parsed) => parsed,
                Err(reason) => {
                    // Unusable as it is: final, and it changes no seat. The run
                    // before it is applied first: if the guard stops it there,
                    // this event is held behind it, as one at a time.
                    if batch.flush(&mut runs, Some(at_group), blamed).await? {
                        continue 'groups;
                    }
                    queue::fail(txn, event.seq, &reason, now).await.map_err(|err| at(event, err))?;
                    batch.outcomes.tally.push((event.event_type.clone(), EventStatus::Failed));
                    tracing::warn!(event_id = %event.event_id, event = %event.event_type, %reason, "event failed");
                    continue;
                }
            };
            let resolved = match &parsed.command {
                Command::ChangeDirectoryUser(change) => {
                    Some(batch.scope.resolve(txn, change).await.map_err(|err| at(event, err))?)
                }
                _ => None,
            };
            let (outcome, parsed) = match (resolved, parsed) {
                // An operator approved this very event: applied without
                // limit, alone (below).
                (Some(Resolved::Ready(plan)), Parsed { id, command: Command::ChangeDirectoryUser(change), .. })
                    if !event.approved =>
                {
                    // Joins its group's run (guarded as of its own turn).
                    let joined = Joined { event, id, change };
                    match runs.last_mut() {
                        Some(run) if run.group == at_group && run.plan.id == plan.id => run.events.push(joined),
                        _ => runs.push(Run { group: at_group, key, plan, events: vec![joined] }),
                    }
                    if !bulk && batch.flush(&mut runs, Some(at_group), blamed).await? {
                        continue 'groups;
                    }
                    continue;
                }
                (
                    Some(Resolved::NewDirectory(plan)),
                    Parsed { id, command: Command::ChangeDirectoryUser(change), .. },
                ) if !event.approved => {
                    // The directory is recorded after everything before it.
                    if batch.flush(&mut runs, Some(at_group), blamed).await? {
                        continue 'groups;
                    }
                    // Kept even if a guard holds this event: WorkOS named the
                    // directory, and its legacy events (earlier in arrival
                    // order) may apply in their place.
                    batch.scope.add_directory_for(txn, &change, &plan, now).await.map_err(|err| at(event, err))?;
                    // Legacy events joined this group: the rest of it is
                    // claimed again, with them in arrival order.
                    let regrouped = std::mem::take(&mut batch.scope.regrouped);
                    report.retry_now |= regrouped;
                    runs.push(Run { group: at_group, key, plan, events: vec![Joined { event, id, change }] });
                    if batch.flush(&mut runs, Some(at_group), blamed).await? || regrouped {
                        continue 'groups;
                    }
                    continue;
                }
                (_, parsed) => {
                    // Applied on its own: after what the runs before it did.
                    if batch.flush(&mut runs, Some(at_group), blamed).await? {
                        continue 'groups;
                    }
                    let outcome = batch.alone(&parsed).await.map_err(|err| at(event, err))?;
                    if outcome == Outcome::Parked {
                        queue::park_from(txn, key, event.seq).await.map_err(|err| at(event, err))?;
                        if !event.parked {
                            batch.outcomes.tally.push((event.event_type.clone(), EventStatus::Parked));
                            tracing::info!(event_id = %event.event_id, event = %event.event_type, status = "parked", "event reconciled");
                        }
                        // The rest of the group waits behind it.
                        continue 'groups;
                    }
                    (outcome, parsed)
                }
            };
            batch.outcomes.record(event, &outcome);
            if trace_context::enabled() && event.traceparent.is_some() {
                let plan = batch.scope.plan_for_command(txn, &parsed.command).await.map_err(|err| at(event, err))?;
                traced(&mut batch.scope, event, &outcome, plan.as_ref(), None);
            }
            if std::mem::take(&mut batch.scope.regrouped) {
                // Legacy events joined this group: the rest of it is claimed
                // again, with them in arrival order.
                report.retry_now = true;
                continue 'groups;
            }
        }
    }
    batch.flush(&mut runs, None, None).await?;
    // Past the last event: a panic from here on is nobody's data.
    *current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    let Batch { mut scope, outcomes, .. } = batch;
    scope.announce(txn, now).await?;
    for plan in std::mem::take(&mut scope.held_now) {
        // After the plan's seat message: the hold comes after the changes before it.
        crate::seats::hold_preview::announce_hold(txn, &plan, now).await?;
    }
    queue::settle(txn, &outcomes.settled, now).await?;
    Ok((report, outcomes))
}

/// What one batch's transaction carries while it applies.
struct Batch<'t> {
    txn: &'t DatabaseTransaction,
    limits: &'t BatchLimits,
    bulk: bool,
    now: Micros,
    scope: Scope,
    outcomes: Outcomes,
}

impl Batch<'_> {
    /// Applies the waiting runs through the book, records their outcomes and
    /// places the holds their guards started. True when the run of the group
    /// at `group` (its place in the claim) was stopped by a guard: the rest of
    /// that group is held.
    /// `blamed`: the one event applied, when a refused value must be pinned
    /// on it (one event at a time); else an error is the batch's.
    async fn flush(
        &mut self,
        runs: &mut Vec<Run<'_>>,
        group: Option<usize>,
        blamed: Option<&QueuedEvent>,
    ) -> Result<bool, BatchFailure> {
        if runs.is_empty() {
            return Ok(false);
        }
        let runs = std::mem::take(runs);
        let fail = |err: DbErr| match blamed {
            Some(event) if !self.bulk => at(event, err),
            _ => BatchFailure::InBulk(err),
        };
        let pending: Vec<book::Pending<'_>> = runs
            .iter()
            .map(|run| book::Pending {
                plan: run.plan.clone(),
                items: run.events.iter().map(|j| book::Item { change: &j.change, event: Some(&j.id) }).collect(),
                guard: Some(&self.limits.guard),
                reason: None,
            })
            .collect();
        let done = book::apply_in_order(self.txn, &mut self.scope, pending, self.now).await.map_err(fail)?;
        let mut stopped_here = false;
        for (run, done) in runs.iter().zip(done) {
            for ((joined, outcome), change) in run.events.iter().zip(&done.outcomes).zip(&done.paid_changes) {
                self.outcomes.record(joined.event, outcome);
                traced(&mut self.scope, joined.event, outcome, Some(&run.plan), Some(*change));
            }
            if let Some((at, kind)) = done.held_at {
                let stopped = Stopped { seq: run.events[at].event.seq, plan: run.plan.clone(), kind };
                hold(self.txn, &mut self.scope, run.key, stopped, self.now).await?;
                stopped_here |= Some(run.group) == group;
            }
        }
        Ok(stopped_here)
    }

    /// An event that is not a run's: a directory command, an approved user
    /// change (without limit; the guard counts from zero after it), or one
    /// whose plan or directory settles it.
    async fn alone(&mut self, parsed: &Parsed<'_>) -> Result<Outcome, DbErr> {
        let span =
            tracing::info_span!("reconcile", event_id = %parsed.event.event_id, event = %parsed.event.event_type);
        let outcome = apply_command(self.txn, &mut self.scope, &parsed.command, Some(&parsed.id), self.now)
            .instrument(span)
            .await?;
        if parsed.event.approved
            && let Some(plan) = self.scope.plan_for_command(self.txn, &parsed.command).await?
        {
            // Read the plan and its standing afresh after the approval.
            plans::restart_release_count(self.txn, &plan.id).await?;
            self.scope.forget_standing(&plan.id);
            self.scope.forget_reads();
        }
        Ok(outcome)
    }
}

/// A guard stopped an event: it and the rest of its group are held, and its
/// plan is on hold. A hold that starts now is announced to billing before the
/// commit (`hold_preview::announce_hold`, at the batch's end).
async fn hold(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    key: Option<&str>,
    stopped: Stopped,
    now: Micros,
) -> Result<(), BatchFailure> {
    let Stopped { seq, plan, kind } = stopped;
    queue::hold_from(txn, key, seq).await?;
    if plans::set_hold(txn, &plan.id, kind, now).await? {
        let what = match kind {
            HoldKind::Release => "release more paid seats",
            HoldKind::Grant => "turn more seats paid",
        };
        tracing::warn!(
            plan_id = %plan.id,
            organization_id = plan.organization_id.as_ref().map_or("", |org| org.as_str()),
            hold_kind = kind.as_str(),
            "{} guard: the directory would {what} than the plan's limit allows; its events are \
             held until an operator approves (`seatsync plans approve PLAN`, the admin page, the plan portal, or \
             POST /admin/plans/{{id}}/hold/approve with the hold's `through`)",
            kind.as_str()
        );
        scope.held_now.push(plan);
    }
    Ok(())
}

fn at(event: &QueuedEvent, err: DbErr) -> BatchFailure {
    BatchFailure::Event { event: event.clone(), err, panicked: false }
}

fn parse(event: &QueuedEvent) -> Result<Parsed<'_>, String> {
    let envelope = Envelope::parse(&event.body).map_err(|e| e.to_string())?;
    let id = EventId::parse(&event.event_id).map_err(|e| e.to_string())?;
    let command = translate(&envelope).map_err(|e| e.to_string())?;
    Ok(Parsed { event, id, command })
}

/// The event a guard stopped: it and the rest of its group are held.
struct Stopped {
    seq: i64,
    plan: Plan,
    kind: HoldKind,
}
