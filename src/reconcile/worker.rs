//! The reconciler loop: one batch after another (`failure::step` runs each,
//! `batch` is the batch itself), pausing when the queue runs dry. Several
//! processes may run it against one PostgreSQL database: groups are claimed
//! under locks, and every seat change takes its plan's lock first.
pub use super::limits::{BatchLimits, StepReport};
use super::{failure::step, guard::GuardSettings};
use crate::{
    domain::Micros,
    inbox::{Arrivals, queue},
    metrics::Metrics,
};
use sea_orm::{DatabaseConnection, DbErr};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// The longest a batch may take on PostgreSQL (`db::bounded`): far above
/// any batch measured (a 100,000-member enforcement switch included).
const STEP_WITHIN: Duration = Duration::from_secs(120);

/// How often parked events are checked against new plans and directories, as a
/// safety net behind the targeted unparks.
const UNPARK_SWEEP_EVERY: Duration = Duration::from_secs(5);

impl BatchLimits {
    /// How long to let deliveries gather after a batch that ran the queue
    /// nearly dry. A batch spread thin over many groups (an initial sync of
    /// many organizations at once: one or two events each) pays each group's
    /// fixed cost for little: wait longer, so the next has more per group.
    fn linger_after(&self, report: &StepReport) -> Duration {
        let thin = report.groups >= SPREAD_THIN_GROUPS && report.decided < report.groups * SPREAD_THIN_PER_GROUP;
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
}

impl Reconciler {
    pub fn new() -> Self {
        Self::default()
    }

    /// With faults to inject (tests only; see `faults`).
    pub fn with_faults(faults: crate::faults::Faults) -> Self {
        Self { faults, ..Self::default() }
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
    pub async fn reconcile_until(
        self,
        db: DatabaseConnection,
        metrics: Arc<Metrics>,
        guard: GuardSettings,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        if !self.faults.reconciles() {
            shutdown.await;
            return;
        }
        let limits = BatchLimits { guard, faults: self.faults, ..BatchLimits::for_backend(db.get_database_backend()) };
        let mut failures: u32 = 0;
        let mut last_sweep: Option<Instant> = None;
        loop {
            if last_sweep.is_none_or(|t| t.elapsed() >= UNPARK_SWEEP_EVERY) {
                let sweep = queue::unpark_ready(&db);
                match crate::db::within(db.get_database_backend(), Duration::from_secs(30), sweep).await {
                    Ok(_) => last_sweep = Some(Instant::now()),
                    Err(err) => tracing::warn!(error = %err, "could not re-queue parked events"),
                }
            }
            // Bounded on PostgreSQL: a batch on a node that hung is
            // dropped and tried again on the node the pool follows now.
            let stepped = crate::db::within(db.get_database_backend(), STEP_WITHIN, step(&db, &metrics, limits)).await;
            if stepped.as_ref().is_ok_and(|report| report.decided > 0) {
                self.faults.reconciler();
            }
            let pause = match stepped {
                // A backlog (many organizations at once, say): no pause.
                Ok(report) if report.retry_now || report.more_waiting || report.decided >= limits.full_batch => {
                    failures = 0;
                    None
                }
                // The queue ran nearly dry: let deliveries gather for a moment, so
                // the next batch is worth its fixed cost and the inbox writer gets
                // the connection in between.
                Ok(report) if report.decided > 0 => {
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
                    let delay = crate::retry::jittered(super::failure::backoff(failures as i32));
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
        applied += report.decided as u64;
        if report.decided > 0 || report.retry_now {
            continue;
        }
        if report.locked_elsewhere {
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

/// After an operator approved a hold through the held event at `through` (its
/// `seq`): applies batches now, as the reconciler would, until none of the
/// organization's approved events up to it waits any more, so the approval can
/// answer with the plan they leave. Other work in the same batches is applied
/// as usual. Gives up after `within`, on a fault, or when what is left cannot be
/// applied yet (a retry back-off): the reconciler applies it later. Whether
/// every approved event was decided.
pub async fn apply_approved(
    db: &DatabaseConnection,
    metrics: &Metrics,
    limits: BatchLimits,
    org: &crate::domain::OrganizationId,
    through: i64,
    within: Duration,
) -> bool {
    let deadline = Instant::now() + within;
    let stepped = async {
        loop {
            if !queue::approved_pending(db, org, through).await? {
                return Ok::<bool, DbErr>(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let report = step(db, metrics, limits).await?;
            if report.decided > 0 || report.retry_now {
                continue;
            }
            if !report.locked_elsewhere && !queue::ready_exists(db, Micros::now()).await? {
                // Only a back-off is left: not now.
                return Ok(false);
            }
            // Another reconciler has the group, or its commit just made more ready.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    match stepped.await {
        Ok(done) => done,
        Err(err) => {
            tracing::warn!(error = %err, "applying approved events failed; the reconciler retries them");
            false
        }
    }
}
