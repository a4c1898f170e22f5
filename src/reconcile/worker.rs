//! The reconciler loop: claim a batch of groups from the queue, apply their
//! events in arrival order in one transaction, record every outcome, commit
//! once. Several processes may run it against one PostgreSQL database: groups are
//! claimed under locks, and every seat change takes its plan's lock first.
//!
//! Faults: an error from an event's own data (a value the database refuses)
//! rolls the batch back; the event is counted, retried after a back-off, and
//! `failed` after `MAX_ATTEMPTS`, and the batch runs again without it. A passing
//! fault (the database gone, a time-out) rolls back too and is retried with a
//! growing, jittered back-off; it never makes an event `failed`.
use super::{
    apply::{self, Outcome, Scope, apply_command},
    bulk,
    guard::GuardSettings,
};
use crate::{
    db::{Fault, classify},
    domain::{EventId, EventStatus, Micros, order_key},
    events::{Command, DirectoryUserChange, Envelope, translate},
    inbox::{
        Arrivals,
        queue::{self, ClaimLimits, QueuedEvent},
    },
    metrics::Metrics,
    store::plans::{self, Plan},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::Instrument;

/// An event whose own data the database refuses this many times is `failed`.
pub const MAX_ATTEMPTS: i32 = 3;
/// How often parked events are checked against new plans and directories, as a
/// safety net behind the targeted unparks.
const UNPARK_SWEEP_EVERY: Duration = Duration::from_secs(5);

/// How big a batch may grow.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub claim: ClaimLimits,
    /// A batch stops taking new events after this long, so the transaction
    /// (and on SQLite the one connection the webhook also needs) is short.
    pub time_budget: Duration,
    /// A batch this big means a backlog: the next one starts at once.
    pub full_batch: usize,
    /// After a smaller batch, wait this long for more deliveries.
    pub linger: Duration,
    /// The release guard's settings (`RELEASE_*`).
    pub guard: GuardSettings,
    /// Faults injected by tests (none otherwise).
    pub faults: crate::faults::Faults,
    /// Where seat changes are pushed (CONTRACT 7): the batch writes their
    /// messages before it commits.
    pub targets: crate::billing::Targets,
}

impl BatchLimits {
    pub fn for_backend(backend: DbBackend) -> Self {
        match backend {
            // One connection is shared with the inbox writer: short batches keep
            // webhook latency low while a backlog is applied.
            // Many groups a batch: their plans and directories are read, and
            // their runs applied, together (`Scope::prefetch`, `flush_all`).
            DbBackend::Sqlite => Self {
                claim: ClaimLimits { groups: 64, events: 512 },
                time_budget: Duration::from_millis(10),
                full_batch: 128,
                linger: Duration::from_millis(5),
                guard: GuardSettings::default(),
                faults: crate::faults::Faults::default(),
                targets: crate::billing::Targets::default(),
            },
            _ => Self {
                claim: ClaimLimits { groups: 8, events: 1024 },
                time_budget: Duration::from_millis(250),
                full_batch: 256,
                linger: Duration::from_millis(2),
                guard: GuardSettings::default(),
                faults: crate::faults::Faults::default(),
                targets: crate::billing::Targets::default(),
            },
        }
    }
}

impl BatchLimits {
    /// How long to let deliveries gather after a batch that ran the queue
    /// nearly dry. A batch spread thin over many groups (an initial sync of
    /// many organizations at once: one or two events each) pays each group's
    /// fixed cost for little: wait longer, so the next has more per group.
    fn linger_after(&self, report: &StepReport) -> Duration {
        let thin = report.groups >= SPREAD_THIN_GROUPS && report.applied < report.groups * SPREAD_THIN_PER_GROUP;
        if thin { self.linger.max(SPREAD_THIN_LINGER) } else { self.linger }
    }
}

const SPREAD_THIN_GROUPS: usize = 8;
const SPREAD_THIN_PER_GROUP: usize = 4;
const SPREAD_THIN_LINGER: Duration = Duration::from_millis(40);

/// Handle to wake the reconciler when something new is stored.
#[derive(Clone, Default)]
pub struct Reconciler {
    arrivals: Arrivals,
    faults: crate::faults::Faults,
    targets: crate::billing::Targets,
}

impl Reconciler {
    pub fn new() -> Self {
        Self::default()
    }

    /// With faults to inject (tests only; see `faults`).
    pub fn with_faults(faults: crate::faults::Faults) -> Self {
        Self { faults, ..Self::default() }
    }

    /// Seat changes are announced to these billing targets (CONTRACT 7).
    pub fn with_targets(self, targets: crate::billing::Targets) -> Self {
        Self { targets, ..self }
    }

    pub fn faults(&self) -> crate::faults::Faults {
        self.faults
    }

    pub fn wake(&self) {
        self.arrivals.ring();
    }

    /// What the inbox rings when it stores something new.
    pub fn arrivals(&self) -> Arrivals {
        self.arrivals.clone()
    }

    /// Runs until `shutdown` resolves, finishing the batch in hand.
    pub async fn run(
        self,
        db: DatabaseConnection,
        metrics: Arc<Metrics>,
        guard: GuardSettings,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let limits = BatchLimits {
            guard,
            faults: self.faults,
            targets: self.targets,
            ..BatchLimits::for_backend(db.get_database_backend())
        };
        let mut failures: u32 = 0;
        let mut last_sweep: Option<Instant> = None;
        loop {
            if last_sweep.is_none_or(|t| t.elapsed() >= UNPARK_SWEEP_EVERY) {
                match queue::unpark_ready(&db).await {
                    Ok(_) => last_sweep = Some(Instant::now()),
                    Err(err) => tracing::warn!(error = %err, "could not re-queue parked events"),
                }
            }
            let stepped = step(&db, &metrics, limits).await;
            if stepped.as_ref().is_ok_and(|report| report.applied > 0) {
                self.faults.reconciler();
            }
            let pause = match stepped {
                // A backlog (many organizations at once, say): no pause.
                Ok(report) if report.retry_now || report.more_waiting || report.applied >= limits.full_batch => {
                    failures = 0;
                    None
                }
                // The queue ran nearly dry: let deliveries gather for a moment, so
                // the next batch is worth its fixed cost and the inbox writer gets
                // the connection in between.
                Ok(report) if report.applied > 0 => {
                    failures = 0;
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(limits.linger_after(&report)) => {}
                    }
                    None
                }
                Ok(_) => {
                    failures = 0;
                    Some(Duration::from_millis(500))
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let delay = crate::retry::jittered(backoff(failures as i32));
                    tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "reconciler batch failed; retrying");
                    Some(delay)
                }
            };
            match pause {
                // Stay responsive to shutdown between batches.
                None => {
                    if futures_util::FutureExt::now_or_never(&mut shutdown).is_some() {
                        return;
                    }
                }
                Some(pause) => tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.arrivals.wait() => {}
                    // Other replicas' events and back-offs are found by polling.
                    _ = tokio::time::sleep(pause) => {}
                },
            }
        }
    }
}

/// Applies everything that can be applied now, including events another
/// reconciler holds at the moment (it waits for them). Events held back by a
/// retry back-off are left. For tests and one-shot commands.
pub async fn drain(db: &DatabaseConnection, metrics: &Metrics) -> Result<u64, DbErr> {
    drain_with(db, metrics, BatchLimits::for_backend(db.get_database_backend())).await
}

/// `drain` with the batches' limits (and the release guard's settings) given.
pub async fn drain_with(db: &DatabaseConnection, metrics: &Metrics, limits: BatchLimits) -> Result<u64, DbErr> {
    let mut applied = 0;
    let mut rechecks = 0;
    queue::unpark_ready(db).await?;
    loop {
        let report = step(db, metrics, limits).await?;
        applied += report.applied as u64;
        if report.applied > 0 || report.retry_now {
            continue;
        }
        if report.held_elsewhere {
            // Held by another reconciler: wait for it to commit.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        // Another reconciler may have just created what a parked event waits for.
        if queue::unpark_ready(db).await? > 0 {
            continue;
        }
        // A claim that raced another reconciler's commit can come back empty
        // while that commit made other events ready: look again, for a while
        // (an event its group cannot let go yet must not keep us here).
        rechecks += 1;
        if rechecks > 50 || !queue::ready_exists(db, Micros::now()).await? {
            return Ok(applied);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct StepReport {
    /// Events given an outcome (applied, ignored, stale, parked or failed).
    pub applied: usize,
    /// An event's own data failed the batch; it was counted and the rest should
    /// run again at once.
    pub retry_now: bool,
    /// Groups claimed.
    pub groups: usize,
    /// Due groups were held by another reconciler.
    pub held_elsewhere: bool,
    /// The batch stopped at a limit (groups or events claimed, or its time
    /// budget), not because the queue ran dry: the next one starts at once.
    pub more_waiting: bool,
}

/// Runs one batch. An error is a passing fault; the event it hit (if any) was
/// held back with a back-off.
pub async fn step(db: &DatabaseConnection, metrics: &Metrics, limits: BatchLimits) -> Result<StepReport, DbErr> {
    let mut result = run_contained(db, metrics, limits, true).await;
    let refused_in_bulk =
        matches!(&result, Err(BatchError { event: None, in_bulk: true, err, .. }) if classify(err) == Fault::OwnData);
    if refused_in_bulk {
        // A value the database refused somewhere in a batched run: the same
        // batch again, one event at a time, finds which event it was.
        result = run_contained(db, metrics, limits, false).await;
    }
    match result {
        Ok(report) => Ok(report),
        Err(BatchError { event: Some(event), err, panicked, .. }) => {
            let now = Micros::now();
            let (id, kind) = (&event.event_id, &event.event_type);
            match classify(&err) {
                Fault::OwnData if event.attempts + 1 >= MAX_ATTEMPTS => {
                    let reason = if panicked {
                        format!("applying this event failed {MAX_ATTEMPTS} times: {err}")
                    } else {
                        format!("the database refused this event {MAX_ATTEMPTS} times: {err}")
                    };
                    queue::fail(db, event.seq, &reason, now).await?;
                    metrics.reconciled(kind, EventStatus::Failed.as_str());
                    tracing::warn!(event_id = %id, event = %kind, %reason, "event failed");
                    Ok(StepReport { retry_now: true, ..Default::default() })
                }
                Fault::OwnData => {
                    let delay = crate::retry::jittered(backoff(event.attempts));
                    queue::retry_later(db, event.seq, &format!("retrying: {err}"), delay, now, true).await?;
                    let retry_in_ms = delay.as_millis() as u64;
                    tracing::warn!(event_id = %id, event = %kind, error = %err, retry_in_ms, "event refused; will retry");
                    Ok(StepReport { retry_now: true, ..Default::default() })
                }
                Fault::Passing => {
                    let delay = crate::retry::jittered(backoff(event.attempts));
                    // Best effort: with the database gone this fails too.
                    // Not counted: a passing fault never brings an event nearer `failed`.
                    let recorded =
                        queue::retry_later(db, event.seq, &format!("retrying: {err}"), delay, now, false).await;
                    if let Err(e) = recorded {
                        tracing::debug!(error = %e, "could not record the retry");
                    }
                    Err(err)
                }
            }
        }
        Err(BatchError { event: None, err, .. }) => Err(err),
    }
}

struct BatchError {
    /// The event being applied when it failed, if the failure was not in the
    /// claim, a batched run or the commit.
    event: Option<QueuedEvent>,
    /// The failure was in a batched run (several events at once).
    in_bulk: bool,
    /// Applying panicked (a bug its data reaches), as opposed to a refusal.
    panicked: bool,
    err: DbErr,
}

impl From<DbErr> for BatchError {
    fn from(err: DbErr) -> Self {
        Self { event: None, in_bulk: false, panicked: false, err }
    }
}

/// `run_batch`, with a panic on one event's data contained like a refusal of
/// it: counted against the event, which is `failed` after `MAX_ATTEMPTS`, so a
/// bug that one event reaches cannot stop its organization, or a restarted
/// process, for ever. A panic in a batched run is retried one event at a time
/// to find the event; a panic no event can be blamed for still ends the task
/// (and the process: `startup` supervises it).
async fn run_contained(
    db: &DatabaseConnection,
    metrics: &Metrics,
    limits: BatchLimits,
    bulk: bool,
) -> Result<StepReport, BatchError> {
    let current = std::sync::Mutex::new(None);
    let run = std::panic::AssertUnwindSafe(run_batch(db, metrics, limits, bulk, &current));
    let panic = match futures_util::FutureExt::catch_unwind(run).await {
        Ok(result) => return result,
        Err(panic) => panic,
    };
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned());
    let err = DbErr::Custom(format!("the reconciler panicked: {message}"));
    tracing::error!(error = %err, bulk, "reconciler batch panicked; rolled back");
    if bulk {
        return Err(BatchError { event: None, in_bulk: true, panicked: true, err });
    }
    let Some(event) = current.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) else {
        std::panic::resume_unwind(panic)
    };
    // A panic while the database is gone (a driver's broken connection) is a
    // passing fault: it must not count against the event.
    if let Err(unreachable) = crate::db::ping(db).await {
        return Err(BatchError { event: None, in_bulk: false, panicked: true, err: unreachable });
    }
    Err(BatchError { event: Some(event), in_bulk: false, panicked: true, err })
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

/// Consecutive user changes of one enforced plan, applied together.
type Run<'e> = Vec<(Parsed<'e>, Plan)>;

/// One claimed event, parsed.
struct Parsed<'e> {
    event: &'e QueuedEvent,
    id: EventId,
    command: Command,
}

async fn run_batch(
    db: &DatabaseConnection,
    metrics: &Metrics,
    limits: BatchLimits,
    bulk: bool,
    current: &std::sync::Mutex<Option<QueuedEvent>>,
) -> Result<StepReport, BatchError> {
    let batch_started = Instant::now();
    let now = Micros::now();
    let txn = db.begin().await?;
    crate::db::plan_each_statement(&txn).await?;
    match apply_batch(&txn, limits, bulk, now, current).await {
        Ok((report, outcomes)) => {
            txn.commit().await?;
            for (event_type, status) in &outcomes.tally {
                metrics.reconciled(event_type, status.as_str());
            }
            if report.applied > 0 {
                let took_ms = batch_started.elapsed().as_millis() as u64;
                tracing::debug!(events = report.applied, took_ms, "batch committed");
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
) -> Result<(StepReport, Outcomes), BatchError> {
    let claim = queue::claim(txn, now, limits.claim).await?;
    let claimed: usize = claim.groups.iter().map(|g| g.events.len()).sum();
    let mut report = StepReport {
        held_elsewhere: claim.held_elsewhere,
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
                    queue::adopt_directory(txn, &dir, &known.organization_id).await?;
                    report.retry_now = true;
                } else {
                    report.held_elsewhere = true;
                }
                continue 'groups;
            }
        }
        // Consecutive user changes of an enforced plan, applied together.
        let mut run: Run<'_> = Vec::new();
        for event in &group.events {
            if !bulk {
                // Nobody is blamed until this event is applied (`run_contained`).
                *current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
            }
            if event.held {
                // Behind a hold: whatever came after it waits with it.
                if let Some((seq, plan)) = flush(txn, &mut scope, &limits, &mut run, &mut outcomes, now).await? {
                    hold(txn, key, seq, &plan, now).await?;
                }
                queue::hold_from(txn, key, event.seq).await.map_err(|err| at(event, err))?;
                continue 'groups;
            }
            let out_of_budget = report.applied > 0 && started.elapsed() >= limits.time_budget;
            if !event.due || out_of_budget {
                // A retry back-off runs (the group waits, in order), or time is up.
                if let Some((seq, plan)) = flush(txn, &mut scope, &limits, &mut run, &mut outcomes, now).await? {
                    hold(txn, key, seq, &plan, now).await?;
                }
                if out_of_budget {
                    report.more_waiting = true;
                    break 'groups;
                }
                continue 'groups;
            }
            report.applied += 1;
            if !bulk {
                // Whom to blame if applying it panics (`run_contained`).
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
                    if let Some((seq, plan)) = flush(txn, &mut scope, &limits, &mut run, &mut outcomes, now).await? {
                        hold(txn, key, seq, &plan, now).await?;
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
            if let Some((seq, plan)) = flush(txn, &mut scope, &limits, &mut run, &mut outcomes, now).await? {
                hold(txn, key, seq, &plan, now).await?;
                continue 'groups;
            }
            let span = tracing::info_span!("reconcile", event_id = %event.event_id, event = %event.event_type);
            let outcome = match (&guarded, &parsed.command) {
                (Some(plan), Command::ChangeDirectoryUser(change)) => {
                    let applied = apply_guarded(txn, &mut scope, plan, change, &parsed.id, &limits.guard, now)
                        .instrument(span.clone())
                        .await
                        .map_err(|err| at(event, err))?;
                    match applied {
                        Some(outcome) => outcome,
                        None => {
                            hold(txn, key, event.seq, plan, now).await?;
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
    let (keys, runs): (Vec<Option<&str>>, Vec<_>) = deferred.into_iter().unzip();
    let held = flush_all(txn, &mut scope, &limits, &runs, &mut outcomes, now).await?;
    for (key, held) in keys.into_iter().zip(held) {
        if let Some((seq, plan)) = held {
            hold(txn, key, seq, &plan, now).await?;
        }
    }
    // Past the last event: a panic from here on is nobody's data.
    *current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    crate::billing::outbox::announce(txn, scope.locked_plans(), limits.targets, now).await?;
    queue::settle(txn, &outcomes.settled, now).await?;
    Ok((report, outcomes))
}

/// The release guard stops the event at `seq`: it and the rest of its group are
/// held, and its plan is on hold.
async fn hold(
    txn: &DatabaseTransaction,
    key: Option<&str>,
    seq: i64,
    plan: &Plan,
    now: Micros,
) -> Result<(), BatchError> {
    queue::hold_from(txn, key, seq).await?;
    if plan.hold_since.is_none() {
        tracing::warn!(
            plan_id = %plan.id,
            organization_id = ?plan.organization_id,
            "release guard: the directory would release more paid seats than the plan's limit; \
             its events are held until an operator approves (POST /admin/plans/{{id}}/hold/approve)"
        );
    }
    plans::set_hold(txn, &plan.id, now).await?;
    Ok(())
}

fn at(event: &QueuedEvent, err: DbErr) -> BatchError {
    BatchError { event: Some(event.clone()), in_bulk: false, panicked: false, err }
}

fn parse(event: &QueuedEvent) -> Result<Parsed<'_>, String> {
    let envelope = Envelope::parse(&event.body).map_err(|e| e.to_string())?;
    let id = EventId::parse(&event.event_id).map_err(|e| e.to_string())?;
    let command = translate(&envelope).map_err(|e| e.to_string())?;
    Ok(Parsed { event, id, command })
}

/// Applies a collected run through the batched path and empties it. Returns the
/// `seq` of the event the release guard stopped, if it stopped one.
async fn flush(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    limits: &BatchLimits,
    run: &mut Run<'_>,
    outcomes: &mut Outcomes,
    now: Micros,
) -> Result<Option<(i64, Plan)>, BatchError> {
    if run.is_empty() {
        return Ok(None);
    }
    let runs = [std::mem::take(run)];
    Ok(flush_all(txn, scope, limits, &runs, outcomes, now).await?.pop().flatten())
}

/// Applies runs of different plans together (`bulk::apply_runs`); a run that
/// path does not take goes one event at a time. Per run, the event the release
/// guard stopped, if any, with its plan.
async fn flush_all(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    limits: &BatchLimits,
    runs: &[Run<'_>],
    outcomes: &mut Outcomes,
    now: Micros,
) -> Result<Vec<Option<(i64, Plan)>>, BatchError> {
    let in_bulk = |err| BatchError { event: None, in_bulk: true, panicked: false, err };
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
    let mut guards = Vec::with_capacity(runs.len());
    for (run, items) in runs.iter().zip(&items) {
        let possible = items.iter().filter(|i| apply::may_release(i.change)).count() as u64;
        let guard = match (run.first(), possible) {
            (Some((_, plan)), n) if n > 0 => {
                let standing = scope.standing(txn, plan, &limits.guard, now, n).await.map_err(in_bulk)?;
                Some(bulk::RunGuard { standing, settings: &limits.guard })
            }
            _ => None,
        };
        guards.push(guard);
    }
    let inputs: Vec<bulk::RunInput<'_, '_>> = runs
        .iter()
        .zip(&items)
        .zip(&guards)
        .filter_map(|((run, items), guard)| run.first().map(|(_, plan)| bulk::RunInput { plan, items, guard: *guard }))
        .collect();
    let results = bulk::apply_runs(txn, &inputs, now).await.map_err(in_bulk)?;
    let mut held = Vec::with_capacity(runs.len());
    let mut results = results.into_iter();
    for (run, items) in runs.iter().zip(&items) {
        let Some((_, plan)) = run.first() else {
            held.push(None);
            continue;
        };
        let result = match results.next().flatten() {
            Some(result) => {
                scope.record(&plan.id, result.moves);
                result
            }
            // Not a run the batched path takes: one event at a time, guarded.
            None => {
                let mut result = bulk::RunResult { outcomes: Vec::new(), moves: Default::default(), held_at: None };
                for (i, item) in items.iter().enumerate() {
                    match apply_guarded(txn, scope, plan, item.change, item.event, &limits.guard, now)
                        .await
                        .map_err(in_bulk)?
                    {
                        Some(outcome) => result.outcomes.push(outcome),
                        None => {
                            result.held_at = Some(i);
                            break;
                        }
                    }
                }
                result
            }
        };
        for ((parsed, _), outcome) in run.iter().zip(&result.outcomes) {
            outcomes.record(parsed.event, outcome);
        }
        held.push(result.held_at.map(|i| (run[i].0.event.seq, plan.clone())));
    }
    Ok(held)
}

/// Applies a user change under its plan's release guard, exactly as a batched
/// run decides it: a release is checked against the limit as of this event
/// (`guard::Standing`). At the limit the change is tried in a savepoint and
/// undone if it would release one more seat. None: undone, to be held.
async fn apply_guarded(
    txn: &DatabaseTransaction,
    scope: &mut Scope,
    plan: &Plan,
    change: &DirectoryUserChange,
    event: &EventId,
    settings: &GuardSettings,
    now: Micros,
) -> Result<Option<Outcome>, DbErr> {
    let allowed = !apply::may_release(change) || scope.allows_release(txn, plan, settings, now).await?;
    if allowed {
        let outcome = apply::change_user(txn, scope, change, Some(event), now, None).await?;
        let moves = scope.take_moves();
        scope.record(&plan.id, moves);
        return Ok(Some(outcome));
    }
    let savepoint = txn.begin().await?;
    let outcome = apply::change_user(&savepoint, scope, change, Some(event), now, None).await?;
    let moves = scope.take_moves();
    if moves.released > 0 {
        savepoint.rollback().await?;
        scope.rolled_back();
        return Ok(None);
    }
    savepoint.commit().await?;
    scope.record(&plan.id, moves);
    Ok(Some(outcome))
}

/// 0.5 s doubling per attempt, at most 2 minutes.
const BACKOFF: crate::retry::Backoff =
    crate::retry::Backoff { first: Duration::from_millis(500), max: Duration::from_secs(120) };

fn backoff(attempts: i32) -> Duration {
    BACKOFF.delay(attempts.clamp(0, 8) as u32)
}
