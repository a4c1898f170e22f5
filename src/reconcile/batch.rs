//! One batch: claim groups from the queue, apply their events in arrival order
//! inside one transaction, record every outcome, commit once. User changes of
//! an enforced plan gather into runs, and the runs of every plan in the batch
//! are applied together (`bulk`); everything else goes one event at a time.
//! Either way the release guard decides each release as of its event.
use super::{
    apply::{self, Outcome, Scope, apply_command},
    bulk,
    failure::BatchFailure,
    guard::GuardSettings,
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

/// Consecutive user changes of one enforced plan, applied together.
type Run<'e> = Vec<(Parsed<'e>, Plan)>;

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
    let mut outcomes = Outcomes::default();
    // The budget counts applying, not claiming: a claim's cost is bounded apart.
    let started = Instant::now();
    let mut scope = Scope::default();
    let orgs: Vec<_> =
        claim.groups.iter().filter_map(|g| g.key.as_deref().and_then(order_key::organization_of)).collect();
    scope.prefetch(txn, &orgs).await?;
    // Runs that end their group, applied together after the last group.
    let mut deferred: Vec<(Option<&str>, Run<'_>)> = Vec::new();
    'groups: for group in &claim.groups {
        let key = group.key.as_deref();
        if let Some(dir) = key.and_then(order_key::directory_of) {
            // Legacy events whose directory is known now belong to its
            // organization's group: moved there, applied in their place next.
            if let Some(known) = scope.directory(txn, &dir).await? {
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
        // Consecutive user changes of an enforced plan, applied together.
        let mut run: Run<'_> = Vec::new();
        for event in &group.events {
            if !bulk {
                // Nobody is blamed until this event is applied (`process_contained`).
                *current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
            }
            if event.held {
                // Behind a hold: whatever came after it waits with it.
                if let Some(stopped) =
                    flush(txn, &mut scope, &limits, &mut deferred, &mut run, &mut outcomes, now).await?
                {
                    hold(txn, &mut scope, key, stopped, now).await?;
                }
                queue::hold_from(txn, key, event.seq).await.map_err(|err| at(event, err))?;
                continue 'groups;
            }
            let waiting_in_runs = run.len() + deferred.iter().map(|(_, r)| r.len()).sum::<usize>();
            let out_of_budget = report.decided > 0
                && (started.elapsed() >= limits.time_budget || waiting_in_runs >= limits.max_deferred);
            if !event.due || out_of_budget {
                // A retry back-off runs (the group waits, in order), or time is up.
                if let Some(stopped) =
                    flush(txn, &mut scope, &limits, &mut deferred, &mut run, &mut outcomes, now).await?
                {
                    hold(txn, &mut scope, key, stopped, now).await?;
                }
                if out_of_budget {
                    report.more_waiting = true;
                    break 'groups;
                }
                continue 'groups;
            }
            report.decided += 1;
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
                    if let Some(stopped) =
                        flush(txn, &mut scope, &limits, &mut deferred, &mut run, &mut outcomes, now).await?
                    {
                        hold(txn, &mut scope, key, stopped, now).await?;
                        continue 'groups;
                    }
                    queue::fail(txn, event.seq, &reason, now).await.map_err(|err| at(event, err))?;
                    outcomes.tally.push((event.event_type.clone(), EventStatus::Failed));
                    tracing::warn!(event_id = %event.event_id, event = %event.event_type, %reason, "event failed");
                    continue;
                }
            };
            // Only a user change can release a seat; its plan's guard applies
            // unless an operator approved this very event.
            let guarded = match &parsed.command {
                Command::ChangeDirectoryUser(change) if !event.approved => {
                    scope.plan_for(txn, change).await.map_err(|err| at(event, err))?
                }
                _ => None,
            };
            if bulk
                && guarded.is_some()
                && let Command::ChangeDirectoryUser(change) = &parsed.command
            {
                let plan = apply::fits_bulk(txn, &mut scope, change).await.map_err(|err| at(event, err))?;
                if let Some(plan) = plan {
                    run.push((parsed, plan));
                    continue;
                }
            }
            if let Some(stopped) = flush(txn, &mut scope, &limits, &mut deferred, &mut run, &mut outcomes, now).await? {
                hold(txn, &mut scope, key, stopped, now).await?;
                continue 'groups;
            }
            // Applied on its own: after what earlier groups' runs did.
            flush_deferred(txn, &mut scope, &limits, &mut deferred, &mut outcomes, now).await?;
            let span = tracing::info_span!("reconcile", event_id = %event.event_id, event = %event.event_type);
            let mut paid_change = None;
            let outcome = match (&guarded, &parsed.command) {
                (Some(plan), Command::ChangeDirectoryUser(change)) => {
                    let applied = apply_guarded(txn, &mut scope, plan, change, &parsed.id, &limits.guard, now)
                        .instrument(span.clone())
                        .await
                        .map_err(|err| at(event, err))?;
                    match applied {
                        Ok((outcome, moves)) => {
                            paid_change = Some(moves.paid_delta);
                            outcome
                        }
                        Err(kind) => {
                            let stopped = Stopped { seq: event.seq, plan: plan.clone(), kind };
                            hold(txn, &mut scope, key, stopped, now).await?;
                            continue 'groups;
                        }
                    }
                }
                _ => {
                    // Unguarded: no plan yet (it parks), not a user change (no
                    // tier moves), or approved.
                    let outcome = apply_command(txn, &mut scope, &parsed.command, Some(&parsed.id), now)
                        .instrument(span.clone())
                        .await
                        .map_err(|err| at(event, err))?;
                    scope.take_moves();
                    if event.approved
                        && let Some(plan) =
                            scope.plan_for_command(txn, &parsed.command).await.map_err(|err| at(event, err))?
                    {
                        // Applied without limit, and the guard counts from zero
                        // after it (read the plan and its standing afresh).
                        plans::restart_release_count(txn, &plan.id).await.map_err(|err| at(event, err))?;
                        scope.forget_standing(&plan.id);
                        scope.forget_reads();
                    }
                    outcome
                }
            };
            if outcome == Outcome::Parked {
                queue::park_from(txn, key, event.seq).await.map_err(|err| at(event, err))?;
                if !event.parked {
                    outcomes.tally.push((event.event_type.clone(), EventStatus::Parked));
                    span.in_scope(|| tracing::info!(status = "parked", "event reconciled"));
                }
                // The rest of the group waits behind it.
                continue 'groups;
            }
            outcomes.record(event, &outcome);
            if trace_context::enabled() && event.traceparent.is_some() {
                let plan = match &guarded {
                    Some(plan) => Some(plan.clone()),
                    None => scope.plan_for_command(txn, &parsed.command).await.map_err(|err| at(event, err))?,
                };
                traced(&mut scope, event, &outcome, plan.as_ref(), paid_change);
            }
            if std::mem::take(&mut scope.regrouped) {
                // Legacy events joined this group: the rest of it is claimed
                // again, with them in arrival order.
                report.retry_now = true;
                continue 'groups;
            }
        }
        if !run.is_empty() {
            // The group ends with a run: applied with the other groups' runs.
            deferred.push((key, run));
        }
    }
    flush_deferred(txn, &mut scope, &limits, &mut deferred, &mut outcomes, now).await?;
    // Past the last event: a panic from here on is nobody's data.
    *current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    scope.announce(txn, now).await?;
    for plan in std::mem::take(&mut scope.held_now) {
        // After the plan's seat message: the hold comes after the changes before it.
        crate::seats::hold_preview::announce_hold(txn, &plan, now).await?;
    }
    queue::settle(txn, &outcomes.settled, now).await?;
    Ok((report, outcomes))
}

/// A guard stopped an event: it and the rest of its group are held, and its
/// plan is on hold. A hold that starts now is announced to billing before the
/// commit (`announce_holds`).
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

/// Applies the collected run through the batched path and empties it, after
/// the runs deferred from earlier groups (they come first in arrival order
/// for any row they share). Returns the `seq` of the event the release guard
/// stopped in this run, if it stopped one; the deferred runs' holds are placed
/// here.
async fn flush<'e>(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    limits: &BatchLimits,
    deferred: &mut Vec<(Option<&'e str>, Run<'e>)>,
    run: &mut Run<'e>,
    outcomes: &mut Outcomes,
    now: Micros,
) -> Result<Option<Stopped>, BatchFailure> {
    if run.is_empty() {
        return Ok(None);
    }
    let run = std::mem::take(run);
    settle_runs(txn, scope, limits, deferred, Some(run), outcomes, now).await
}

/// Applies the runs deferred from earlier groups and places their holds. A
/// group about to apply an event on its own calls it first, so the event sees
/// what those runs did.
async fn flush_deferred<'e>(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    limits: &BatchLimits,
    deferred: &mut Vec<(Option<&'e str>, Run<'e>)>,
    outcomes: &mut Outcomes,
    now: Micros,
) -> Result<(), BatchFailure> {
    settle_runs(txn, scope, limits, deferred, None, outcomes, now).await.map(|_| ())
}

/// The deferred runs, then `current`: applied, the deferred ones' holds placed;
/// returns `current`'s.
async fn settle_runs<'e>(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    limits: &BatchLimits,
    deferred: &mut Vec<(Option<&'e str>, Run<'e>)>,
    current: Option<Run<'e>>,
    outcomes: &mut Outcomes,
    now: Micros,
) -> Result<Option<Stopped>, BatchFailure> {
    if deferred.is_empty() && current.is_none() {
        return Ok(None);
    }
    let (keys, mut runs): (Vec<Option<&str>>, Vec<Run<'_>>) = std::mem::take(deferred).into_iter().unzip();
    let has_current = current.is_some();
    runs.extend(current);
    let mut stops = flush_all(txn, scope, limits, &runs, outcomes, now).await?;
    let current_stop = if has_current { stops.pop().flatten() } else { None };
    for (key, stop) in keys.into_iter().zip(stops) {
        if let Some(stopped) = stop {
            hold(txn, scope, key, stopped, now).await?;
        }
    }
    Ok(current_stop)
}

/// Applies runs of different plans in order: through `bulk::apply_runs`, and a
/// run that path does not take one event at a time, before the runs after it.
/// Per run, the event the release guard stopped, if any, with its plan.
async fn flush_all(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    limits: &BatchLimits,
    runs: &[Run<'_>],
    outcomes: &mut Outcomes,
    now: Micros,
) -> Result<Vec<Option<Stopped>>, BatchFailure> {
    let in_bulk = BatchFailure::InBulk;
    let items: Vec<Vec<bulk::Item<'_>>> = runs
        .iter()
        .map(|run| {
            run.iter()
                .filter_map(|(p, _)| match &p.command {
                    Command::ChangeDirectoryUser(change) => Some(bulk::Item { change, event: &p.id }),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let mut stops = Vec::with_capacity(runs.len());
    while stops.len() < runs.len() {
        let next = stops.len();
        // Each run's guard as its plan stands now, after the runs before it
        // (the scope keeps each plan's standing up to date).
        let mut guards = Vec::with_capacity(runs.len() - next);
        for (run, items) in runs[next..].iter().zip(&items[next..]) {
            let plan = &run[0].1;
            let possible = items.iter().filter(|i| apply::may_release(i.change)).count() as u64;
            let grants = plan.grant_limit.is_some() && items.iter().any(|i| apply::may_grant(i.change));
            let guard = if possible > 0 || grants {
                let standing = scope.standing(txn, plan, &limits.guard, now, possible).await.map_err(in_bulk)?;
                Some(bulk::RunGuard { standing, settings: &limits.guard })
            } else {
                None
            };
            guards.push(guard);
        }
        // Runs are never empty: a run starts with the event that opened it.
        let inputs: Vec<bulk::RunInput<'_, '_>> = (next..runs.len())
            .zip(guards)
            .map(|(i, guard)| bulk::RunInput { plan: &runs[i][0].1, items: &items[i], guard })
            .collect();
        let taken = bulk::apply_runs(txn, &inputs, now).await.map_err(in_bulk)?;
        let stopped = taken.len() < inputs.len();
        for result in taken {
            let run = &runs[stops.len()];
            let plan = &run[0].1;
            scope.record(&plan.id, result.moves);
            stops.push(record_run(scope, run, &result, outcomes));
        }
        if stopped {
            // Not a run the batched path takes: one event at a time, guarded
            // (each change recorded in the standing as it goes), before the
            // runs after it are read.
            let run = &runs[stops.len()];
            let plan = &run[0].1;
            let mut result = bulk::RunResult { outcomes: Vec::new(), moves: Default::default(), held_at: None };
            for (i, item) in items[stops.len()].iter().enumerate() {
                match apply_guarded(txn, scope, plan, item.change, item.event, &limits.guard, now)
                    .await
                    .map_err(in_bulk)?
                {
                    Ok((outcome, _)) => result.outcomes.push(outcome),
                    Err(kind) => {
                        result.held_at = Some((i, kind));
                        break;
                    }
                }
            }
            stops.push(record_run(scope, run, &result, outcomes));
        }
    }
    Ok(stops)
}

/// Records a run's outcomes; the event a guard stopped, if any, with its plan.
fn record_run(scope: &mut Scope, run: &Run<'_>, result: &bulk::RunResult, outcomes: &mut Outcomes) -> Option<Stopped> {
    for ((parsed, plan), outcome) in run.iter().zip(&result.outcomes) {
        outcomes.record(parsed.event, outcome);
        traced(scope, parsed.event, outcome, Some(plan), None);
    }
    result.held_at.map(|(i, kind)| Stopped { seq: run[i].0.event.seq, plan: run[0].1.clone(), kind })
}

/// The event a guard stopped: it and the rest of its group are held.
struct Stopped {
    seq: i64,
    plan: Plan,
    kind: HoldKind,
}

/// Applies a user change under its plan's guards, exactly as a batched run
/// decides it: a release (or, with a grant limit, a grant) is checked against
/// the limit as of this event (`guard::Standing`). At the limit the change is
/// tried in a savepoint and undone if it would pass it. `Err`: undone, to be
/// held by that guard.
async fn apply_guarded(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    plan: &Plan,
    change: &DirectoryUserChange,
    event: &EventId,
    settings: &GuardSettings,
    now: Micros,
) -> Result<Result<(Outcome, apply::Moves), HoldKind>, DbErr> {
    let at_limit = if apply::may_release(change) && !scope.allows_release(txn, plan, settings, now).await? {
        Some(HoldKind::Release)
    } else if apply::may_grant(change) && !scope.allows_grant(txn, plan, settings, now).await? {
        Some(HoldKind::Grant)
    } else {
        None
    };
    let Some(kind) = at_limit else {
        let outcome = apply::change_user(txn, scope, change, Some(event), now, None).await?;
        let moves = scope.take_moves();
        scope.record(&plan.id, moves);
        return Ok(Ok((outcome, moves)));
    };
    let savepoint = txn.begin().await?;
    let outcome = apply::change_user(&savepoint, scope, change, Some(event), now, None).await?;
    let moves = scope.take_moves();
    if bulk::passes(kind, apply::Moves::default(), moves) {
        savepoint.rollback().await?;
        scope.rolled_back();
        return Ok(Err(kind));
    }
    savepoint.commit().await?;
    scope.record(&plan.id, moves);
    Ok(Ok((outcome, moves)))
}
