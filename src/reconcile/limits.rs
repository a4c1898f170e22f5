//! How big a batch may grow (`BatchLimits`), and what one batch did
//! (`StepReport`): shared by the loop (`worker`) and the step (`failure`).
use super::guard::GuardSettings;
use crate::inbox::queue::ClaimLimits;
use sea_orm::DbBackend;
use std::time::Duration;

/// How big a batch may grow.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub claim: ClaimLimits,
    /// A batch stops taking new events after this long, so the transaction
    /// (and on SQLite the one connection admin writes and the spool's move
    /// also need) is short.
    pub time_budget: Duration,
    /// A batch this big means a backlog: the next one starts at once.
    pub full_batch: usize,
    /// Events waiting in runs (applied together at the end of the claim) past
    /// which a batch takes no more groups: the time budget cannot see them
    /// coming (with many organizations interleaved, 128 of them once kept
    /// SQLite's one writer for up to 86 ms).
    pub max_deferred: usize,
    /// After a smaller batch, wait this long for more deliveries.
    pub linger: Duration,
    /// The release guard's settings (`RELEASE_*`).
    pub guard: GuardSettings,
    /// Faults injected by tests (none otherwise).
    pub faults: crate::faults::Faults,
}

impl BatchLimits {
    pub fn for_backend(backend: DbBackend) -> Self {
        match backend {
            // Deliveries commit to the spool, not behind this connection
            // (`inbox/sqlite_lane.rs`), so a batch no longer has to be short for
            // their sake: it is as long as its fixed costs (the claim, one
            // fsync a commit) want. 1,024 events and 25 ms doubled `bench
            // reconcile` over 128 and 10 ms (docs/benchmarks.md, 2026-12-07);
            // 2,048 and 40 ms added 3% more for 5 MiB more peak memory.
            // Many groups a batch: their plans and directories are read, and
            // their runs applied, together (`Scope::prefetch`, `book::apply_runs`).
            DbBackend::Sqlite => Self {
                claim: ClaimLimits { groups: 64, events: 1024 },
                time_budget: Duration::from_millis(25),
                full_batch: 256,
                max_deferred: 512,
                linger: Duration::from_millis(5),
                guard: GuardSettings::default(),
                faults: crate::faults::Faults::default(),
            },
            _ => Self {
                claim: ClaimLimits { groups: 8, events: 1024 },
                time_budget: Duration::from_millis(250),
                full_batch: 256,
                max_deferred: usize::MAX,
                linger: Duration::from_millis(2),
                guard: GuardSettings::default(),
                faults: crate::faults::Faults::default(),
            },
        }
    }
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct StepReport {
    /// Events given an outcome (applied, ignored, stale, parked or failed).
    pub decided: usize,
    /// An event's own data failed the batch; it was counted and the rest should
    /// run again at once.
    pub retry_now: bool,
    /// Groups claimed.
    pub groups: usize,
    /// Due groups were locked by another reconciler.
    pub locked_elsewhere: bool,
    /// The batch stopped at a limit (groups or events claimed, or its time
    /// budget), not because the queue ran dry: the next one starts at once.
    pub more_waiting: bool,
}
