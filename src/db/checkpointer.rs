//! A thread that copies a SQLite file's WAL into the file (a checkpoint),
//! so the connections writing it never do.
//!
//! SQLite checkpoints by itself inside the commit that takes the WAL past
//! 1,000 pages: that commit reads the WAL back and writes and syncs the
//! file, on the writer's thread. For the spool that was a lane commit of up
//! to 125 ms; for the seats' file it was the pool's one connection, which
//! the reconciler and the spool's move share (issue 40, docs/benchmarks.md).
//! The writers' connections move the automatic checkpoint far out (the
//! spool's lane: off; the pool: `BACKSTOP_PAGES`) and this thread
//! checkpoints instead, PASSIVE: it never waits for, nor holds up, a reader
//! or the writer.
use std::{
    path::{Path, PathBuf},
    sync::mpsc,
    time::Duration,
};

/// How often the WAL is copied into the file.
const EVERY: Duration = Duration::from_millis(200);

/// WAL pages past which a writer of the seats' file checkpoints by itself
/// after all (32 MiB at 4 KiB pages): a backstop for a writer that never
/// pauses long enough for this thread's checkpoint to catch up.
pub const BACKSTOP_PAGES: i64 = 8192;

/// The running thread; it stops when this is dropped.
pub struct Checkpointer {
    _alive: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the file at `path` on a thread named `name`.
    pub fn start(path: PathBuf, name: &str) -> std::io::Result<Self> {
        let (alive, gone) = mpsc::channel::<()>();
        let what = name.to_owned();
        std::thread::Builder::new().name(name.into()).spawn(move || checkpoint_until(&path, &what, gone))?;
        Ok(Self { _alive: alive })
    }
}

fn checkpoint_until(path: &Path, name: &str, gone: mpsc::Receiver<()>) {
    let mut conn: Option<rusqlite::Connection> = None;
    let mut failures = 0u32;
    while let Err(mpsc::RecvTimeoutError::Timeout) = gone.recv_timeout(EVERY) {
        let opened = || {
            let c = rusqlite::Connection::open(path)?;
            // A checkpoint reads the WAL and writes pages: no cache to keep.
            c.pragma_update(None, "cache_size", -128)?;
            Ok(c)
        };
        let done = match conn.take().map_or_else(opened, Ok) {
            Ok(c) => {
                let done = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                conn = Some(c);
                done
            }
            Err(err) => Err(err),
        };
        match done {
            Ok(()) => failures = 0,
            Err(err) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(300) {
                    tracing::warn!(error = %err, failures, file = %path.display(), thread = name, "could not checkpoint");
                }
            }
        }
    }
}
