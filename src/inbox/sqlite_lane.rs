//! SQLite's lane for the inbox writer: one thread owns a connection to the
//! intake spool (`spool.rs`) and stores a whole batch per message, with one
//! prepared statement in one transaction. Through sqlx every statement, and
//! every row it returns, is a hand-off to its worker thread and back; a profile
//! of intake put half the server's samples there (issue 28).
//!
//! The spool is a file of its own, so the lane waits for nobody in this
//! process: not the reconciler, not the admin API (issue 40). The seats' file
//! is attached as `queue`, read only, to answer a retry of an event already
//! moved out of the spool as a duplicate.
//!
//! Durability is the same as the pool's: WAL, `synchronous=FULL`, one commit per
//! batch before any delivery is answered.
use crate::{
    db::checkpointer::Checkpointer,
    domain::Micros,
    faults::Faults,
    inbox::{
        event::{NewEvent, Stored, outcomes_of},
        spool,
    },
};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use sea_orm::{DbErr, RuntimeErr};
use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::mpsc,
    time::Duration,
};
use tokio::sync::oneshot;

/// What the lane answers: the events back (the caller may store them again one
/// by one) and their outcomes, or why nothing was stored.
pub type LaneReply = (Vec<NewEvent>, Result<Vec<Stored>, DbErr>);

struct LaneJob {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<LaneReply>,
}

pub struct SqliteLane {
    jobs: mpsc::Sender<LaneJob>,
}

impl SqliteLane {
    /// Starts the lane's thread for the database file at `path`. The file and
    /// its spool exist and are migrated (start-up does both before the writer
    /// starts).
    pub fn start(path: PathBuf, faults: Faults) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<LaneJob>();
        // The spool's commits are a WAL append and one fsync, never a
        // checkpoint's writes. Its checkpointer ends when the lane does.
        let checkpointer = Checkpointer::start(crate::db::spool_file::path_for(&path), "sqlite-spool-ckpt")?;
        std::thread::Builder::new().name("sqlite-inbox".into()).spawn(move || {
            serve_lane(&path, rx, faults);
            drop(checkpointer);
        })?;
        Ok(Self { jobs })
    }

    /// Stores `events` in one transaction. `None` when the lane's thread is gone.
    pub async fn store(&self, events: Vec<NewEvent>) -> Option<LaneReply> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(LaneJob { events, reply }).ok()?;
        answer.await.ok()
    }
}

/// The file the lane may open: the one the pool opened, when the URL names a
/// file this process writes. In memory (a private database per connection) or
/// read-only, there is no lane; nor if the URL and the pool disagree.
pub fn file_of(db: &sea_orm::DatabaseConnection, url: &crate::db::DatabaseUrl) -> Option<PathBuf> {
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return None;
    }
    let named = crate::db::sqlite_file(url.expose())?;
    let options = db.get_sqlite_connection_pool().connect_options();
    let opened = options.get_filename();
    (opened == Path::new(named)).then(|| opened.to_path_buf())
}

fn serve_lane(path: &Path, rx: mpsc::Receiver<LaneJob>, faults: Faults) {
    let mut connection: Option<Connection> = None;
    for job in rx {
        let result = match connection.take().map_or_else(|| open(path), Ok) {
            Ok(mut conn) => {
                let started = std::time::Instant::now();
                let result = store(&mut conn, &job.events, &faults);
                let took_us = started.elapsed().as_micros() as u64;
                tracing::debug!(events = job.events.len(), took_us, "spool commit");
                // After any failure (a full disk, an I/O error) the next batch
                // opens a fresh connection, as the pool recycles one.
                if result.is_ok() && conn.is_autocommit() {
                    connection = Some(conn);
                }
                result
            }
            Err(err) => Err(err),
        };
        let _ = job.reply.send((job.events, result.map_err(to_db_err)));
    }
}

/// The spool, with the database file at `path` attached as `queue`.
fn open(path: &Path) -> Result<Connection, rusqlite::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(crate::db::spool_file::path_for(path), flags)?;
    // Per connection, as the pool's: a commit is on disk before it returns.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // The checkpointer's thread copies the WAL into the file instead.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let queue = path.to_str().ok_or_else(|| rusqlite::Error::InvalidPath(path.to_path_buf()))?;
    conn.execute("ATTACH DATABASE ?1 AS queue", [queue])?;
    // The lane only looks ids up in the queue's file: a small page cache.
    conn.pragma_update(Some(rusqlite::DatabaseName::Attached("queue")), "cache_size", -256)?;
    Ok(conn)
}

/// The writer's `insert_events` for SQLite, into the spool: ids in order,
/// duplicates (in the spool, or already moved to the queue) answered as such.
fn store(conn: &mut Connection, events: &[NewEvent], faults: &Faults) -> Result<Vec<Stored>, rusqlite::Error> {
    let now = Micros::now();
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|a, b| events[*a].event_id.cmp(&events[*b].event_id));
    order.dedup_by(|a, b| events[*a].event_id == events[*b].event_id);
    // Deferred, and the first statement writes the spool: an IMMEDIATE
    // transaction would take the write lock of every attached file, the
    // seats' included, which is the very wait the spool exists to avoid.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let mut inserted: HashSet<&str> = HashSet::with_capacity(events.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO main.inbox_spool (event_id, event_type, body, received_at, status, order_key, \
             traceparent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_id) DO NOTHING",
        )?;
        // Read after the spool's write lock is taken: a row the mover took out
        // of the spool before that is in the queue's file by then.
        let mut moved = tx.prepare_cached("SELECT 1 FROM queue.inbox_events WHERE event_id = ?1")?;
        let mut forget = tx.prepare_cached("DELETE FROM main.inbox_spool WHERE event_id = ?1")?;
        for index in order {
            let event = &events[index];
            let id = event.event_id.as_str();
            let changed = insert.execute(params![
                id,
                event.event_type,
                event.body,
                now.0,
                event.status.as_str(),
                event.order_key,
                event.traceparent
            ])?;
            if changed == 1 {
                if moved.exists([id])? {
                    forget.execute([id])?;
                } else {
                    inserted.insert(id);
                }
            }
        }
    }
    // Rows already moved leave the spool a few at a time, in the same commit:
    // at most twice what came in, so the spool stays small without a large
    // delete that would hold the next deliveries (a delete of 50,000 moved
    // rows every ten seconds put the intake's p99 at 330 ms).
    let forget = spool::forget_moved_sql("main", "queue", 2 * events.len() + 16);
    tx.prepare_cached(&forget)?.execute([])?;
    faults.before_commit_blocking(events.iter().map(|e| e.body.as_slice()));
    tx.commit()?;
    Ok(outcomes_of(events, |id| inserted.contains(id)))
}

/// As the pool's errors are classified (`db::classify`): a value SQLite refuses
/// is the data's; anything else passes.
fn to_db_err(err: rusqlite::Error) -> DbErr {
    let refused = matches!(
        &err,
        rusqlite::Error::SqliteFailure(e, _) if crate::db::is_refused_sqlite_code(e.extended_code)
    );
    if refused { DbErr::Custom(err.to_string()) } else { DbErr::Conn(RuntimeErr::Internal(err.to_string())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{ErrorClass, classify};

    #[test]
    fn sqlite_errors_are_classed_as_the_pools_are() {
        let failure = |code: i32| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("from the database".into()))
        };
        assert_eq!(classify(&to_db_err(failure(2067))), ErrorClass::OwnData, "SQLITE_CONSTRAINT_UNIQUE");
        assert_eq!(classify(&to_db_err(failure(1811))), ErrorClass::OwnData, "SQLITE_CONSTRAINT_TRIGGER");
        assert_eq!(classify(&to_db_err(failure(18))), ErrorClass::OwnData, "SQLITE_TOOBIG");
        assert_eq!(classify(&to_db_err(failure(13))), ErrorClass::Passing, "SQLITE_FULL");
        assert_eq!(classify(&to_db_err(failure(5))), ErrorClass::Passing, "SQLITE_BUSY");
        assert_eq!(classify(&to_db_err(failure(10))), ErrorClass::Passing, "SQLITE_IOERR");
    }
}
