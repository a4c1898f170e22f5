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
    /// (and on SQLite the one connection the webhook also needs) is short.
    pub time_budget: Duration,
    /// A batch this big means a backlog: the next one starts at once.
    pub full_batch: usize,
    /// Events waiting in runs (applied together at the end of the claim) past
    /// which a batch takes no more groups: the time budget cannot see them
    /// coming, and with many organizations interleaved they kept SQLite's
    /// one writer for up to 86 ms.
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
            // One connection is shared with the inbox writer: short batches keep
            // webhook latency low while a backlog is applied.
            // Many groups a batch: their plans and directories are read, and
            // their runs applied, together (`Scope::prefetch`, `flush_all`).
            DbBackend::Sqlite => Self {
                claim: ClaimLimits { groups: 64, events: 512 },
                time_budget: Duration::from_millis(10),
                full_batch: 128,
                max_deferred: 128,
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
