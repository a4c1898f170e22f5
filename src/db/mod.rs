//! The connection layer: one `DatabaseConnection` for SQLite or PostgreSQL, and a
//! small helper for the hand-written set-based SQL that both dialects share.
pub mod checkpointer;
mod hosts;
mod primary;
pub mod spool_file;
mod url;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait,
    Value,
    sqlx::{
        Connection,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    },
};
use std::{str::FromStr, time::Duration};
pub use url::{DatabaseKind, DatabaseUrl};

/// Creates a new SQLite database file readable by its owner only (0600): it
/// holds whole WorkOS payloads, names and emails. SQLite gives the `-wal` and
/// `-shm` files it creates later the database file's permissions. An existing
/// file is left as it is.
fn create_private(url: &str) -> std::io::Result<()> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // No such directory: SQLite says so in its own words.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// A database made before files were created 0600 (or copied in with a loose
/// mode) may be readable by group or others: names and emails. Its file and
/// its `-wal`/`-shm` are made 0600, said in one log line.
fn tighten_existing(url: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Some(path) = sqlite_file(url) else { return };
        let mut tightened = Vec::new();
        for file in [path.to_owned(), format!("{path}-wal"), format!("{path}-shm")] {
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                    Ok(()) => tightened.push(file),
                    Err(err) => {
                        tracing::warn!(file, error = %err, "the SQLite database is readable by others and could not be made 0600")
                    }
                }
            }
        }
        if !tightened.is_empty() {
            tracing::warn!(files = %tightened.join(", "), "the SQLite database was readable by group or others; made 0600");
        }
    }
    #[cfg(not(unix))]
    let _ = url;
}

/// Rows sqlx's SQLite worker may hand over before it waits for the reader:
/// as many as a batch claims (`BatchLimits`: 1,024 events).
const SQLITE_ROW_BUFFER: usize = 1024;

pub async fn connect(url: &DatabaseUrl) -> Result<DatabaseConnection, DbErr> {
    // PostgreSQL: the first writable host of the URL's list (CONTRACT 2).
    let primary = match url.kind().map_err(DbErr::Custom)? {
        DatabaseKind::Postgres => Some(primary::Primary::new(url.postgres_hosts())?),
        DatabaseKind::Sqlite => None,
    };
    let mut options = match &primary {
        Some(primary) => ConnectOptions::new(url.postgres_hosts()[primary.choose().await].clone()),
        None => ConnectOptions::new(url.expose()),
    };
    options.sqlx_logging(false).connect_timeout(Duration::from_secs(5)).acquire_timeout(Duration::from_secs(5));
    match url.kind().map_err(DbErr::Custom)? {
        DatabaseKind::Sqlite => {
            create_private(url.expose())
                .map_err(|e| DbErr::Custom(format!("could not create the SQLite file: {e}")))?;
            tighten_existing(url.expose());
            // The intake spool beside the file (`inbox::spool`), attached to
            // every pooled connection so the mover and the event lookups read it.
            let spool = spool_for(url.expose())?;
            // The file's checkpoints run on a thread of their own, not inside
            // a commit of the pool's one connection (`checkpointer`). The
            // pool's hook holds it: it stops when the pool is gone. The file
            // is the one sqlx opens (it decodes `%xx` in the URL's path).
            let checkpointer = match sqlite_file(url.expose()) {
                Some(_) => {
                    let opened = SqliteConnectOptions::from_str(url.expose())
                        .map_err(|e| DbErr::Custom(format!("not a SQLite URL: {e}")))?;
                    Some(std::sync::Arc::new(
                        checkpointer::Checkpointer::start(opened.get_filename().to_path_buf(), "sqlite-ckpt")
                            .map_err(|e| DbErr::Custom(format!("could not start the checkpointer: {e}")))?,
                    ))
                }
                None => None,
            };
            // One connection: SQLite has one writer anyway, and the pool's fair
            // queue hands it over in order, where SQLite's own busy handler polls
            // with sleeps (a burst beside the reconciler saw p99 of 600 ms; with
            // the queue, 12 ms). Nothing holds a transaction while it asks the
            // pool for another connection.
            // A connection handed back still inside a transaction is closed,
            // not reused. SQLite may roll a failed transaction back by itself
            // (a full disk, an I/O error) while the driver still counts it
            // open; reused, its later "commits" only release a savepoint inside
            // a transaction that never ends. A test filled a disk and got 200s
            // for events never stored. Closing rolls back whatever is open and
            // the pool opens a fresh connection.
            options.map_sqlx_sqlite_pool_opts(move |pool| {
                let (spool, checkpointer) = (spool.clone(), checkpointer.clone());
                let pool = pool.after_connect(move |conn, _| {
                    let (spool, checkpointing) = (spool.clone(), checkpointer.is_some());
                    Box::pin(async move {
                        if checkpointing {
                            // Only a backstop: a PASSIVE checkpoint beside a
                            // writer that never pauses may never catch up, and
                            // the WAL restarts only once one has. Past this
                            // size the writer checkpoints itself, and the WAL
                            // file is cut back to it when it restarts.
                            // Numbers only, from constants.
                            let backstop = format!(
                                "PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {}",
                                checkpointer::BACKSTOP_PAGES,
                                checkpointer::BACKSTOP_PAGES * 4096
                            );
                            sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(backstop)).execute(&mut *conn).await?;
                        }
                        if let Some(spool) = spool {
                            sea_orm::sqlx::query("ATTACH DATABASE ? AS spool").bind(spool).execute(&mut *conn).await?;
                            // Read in order by the move, a little at a time.
                            sea_orm::sqlx::query("PRAGMA spool.cache_size = -512").execute(conn).await?;
                        }
                        Ok(())
                    })
                });
                pool.after_release(|conn, _| {
                    Box::pin(async move {
                        if !conn.is_in_transaction() {
                            return Ok(true);
                        }
                        // A dropped transaction's rollback is queued: run it first.
                        conn.ping().await?;
                        Ok(!conn.is_in_transaction())
                    })
                })
            });
            // A local file's connection does not go stale: no ping (a hand-off
            // to sqlx's worker thread) before every use.
            options.test_before_acquire(false);
            options.max_connections(1).map_sqlx_sqlite_opts(|o| {
                // WAL lets readers run beside the writer; synchronous=FULL makes a
                // commit durable before it returns, so a 200 means "on disk".
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // sqlx's worker thread hands rows over a bounded channel
                    // (50 by default): a batch's claim of 1,024 rows stopped
                    // it twenty times, each a round trip between threads.
                    .row_buffer_size(SQLITE_ROW_BUFFER)
            });
        }
        DatabaseKind::Postgres => {
            // The pool keeps retrying to connect until the acquire time-out: a
            // server that went away must cost a delivery at most a second
            // before its 503 (WorkOS asks for fast answers), and /readyz says
            // so as fast. Ten connections busy for a whole second is an
            // overload that a 503 answers well too.
            options.max_connections(10).acquire_timeout(Duration::from_secs(1));
            options.map_sqlx_postgres_pool_opts(|pool| pool.after_connect(|conn, _| primary::refuse_read_only(conn)));
            if let Some(primary) = primary.clone().filter(|p| p.several()) {
                // A connection opened before the pool changed node is closed
                // without a word to it: the old node may be gone without
                // closing its sockets, and the pool's own ping (which runs
                // before this check) would wait on it. Others are pinged here,
                // briefly.
                options.test_before_acquire(false);
                options.map_sqlx_postgres_before_acquire(move |conn, meta| {
                    let stale = primary.is_stale(meta.age);
                    Box::pin(async move {
                        if stale {
                            return Ok(false);
                        }
                        let ping = tokio::time::timeout(Duration::from_millis(500), conn.ping());
                        Ok(matches!(ping.await, Ok(Ok(()))))
                    })
                });
            }
        }
    }
    // Two processes opening a fresh SQLite file at once race to switch it to
    // WAL, and SQLite answers the loser "database is locked" at once instead of
    // waiting (no busy handler for that step): try again for a few seconds.
    let mut attempt = 0;
    loop {
        match Database::connect(options.clone()).await {
            Err(err) if attempt < 40 && is_database_locked(&err) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(25 * attempt.min(8))).await;
            }
            Ok(conn) => {
                if let Some(primary) = primary.filter(|p| p.several()) {
                    primary.follow(conn.get_postgres_connection_pool().clone());
                }
                return Ok(conn);
            }
            result => return result,
        }
    }
}

/// The intake spool of a SQLite URL's file, made ready (0600, like the file):
/// its path, or `None` in memory or read-only.
fn spool_for(url: &str) -> Result<Option<String>, DbErr> {
    let Some(file) = sqlite_file(url) else { return Ok(None) };
    let spool = spool_file::path_for(std::path::Path::new(file));
    let spool = spool.to_str().ok_or_else(|| DbErr::Custom("the SQLite path must be UTF-8".into()))?.to_owned();
    create_private(&spool).map_err(|e| DbErr::Custom(format!("could not create the inbox spool {spool}: {e}")))?;
    tighten_existing(&spool);
    spool_file::prepare(std::path::Path::new(&spool))
        .map_err(|e| DbErr::Custom(format!("could not prepare the inbox spool {spool}: {e}")))?;
    Ok(Some(spool))
}

/// The file a SQLite URL names, when it is one this process may write (not
/// in memory, not read-only).
pub fn sqlite_file(url: &str) -> Option<&str> {
    let read_only = url.split_once('?').is_some_and(|(_, query)| query.split('&').any(|p| p == "mode=ro"));
    sqlite_path(url).filter(|_| !read_only)
}

/// The file a SQLite URL names, writable or not (none in memory).
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = query.split('&').any(|p| p == "mode=memory");
    (!path.is_empty() && path != ":memory:" && !in_memory).then_some(path)
}

/// An error chain as a person reads it: the database's own words once,
/// without sea-orm's "Custom Error:"/"Connection Error:" prefixes or sqlx's
/// repeated source ("… at line 948: …").
pub fn plain_error(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<DbErr>() {
            Some(db) => plain_db_error(db),
            None => cause.to_string(),
        };
        // A cause is often printed again inside its parent's text.
        if let Some(last) = parts.last_mut()
            && last.ends_with(&text)
        {
            continue;
        }
        let stop = cause.downcast_ref::<DbErr>().is_some();
        parts.push(text);
        if stop {
            break;
        }
    }
    parts.join(": ")
}

/// A database error's own message.
pub fn plain_db_error(err: &DbErr) -> String {
    use sea_orm::{RuntimeErr, sqlx};
    match err {
        DbErr::Custom(text) => text.clone(),
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

/// SQLite's SQLITE_BUSY ("database is locked").
fn is_database_locked(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 5),
            _ => false,
        },
        _ => false,
    }
}

/// Applies pending migrations in one transaction that first takes a lock, so
/// several processes starting at once migrate one after the other (the later ones
/// find nothing to do): an advisory lock on PostgreSQL, the write lock on SQLite.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite {
        db.execute_unprepared("CREATE TABLE IF NOT EXISTS seatsync_migration_lock (id INTEGER)").await?;
    }
    let txn = db.begin().await?;
    match backend {
        DbBackend::Postgres => txn.execute_unprepared("SELECT pg_advisory_xact_lock(7412803455)").await?,
        // A write as the first statement: SQLite's write lock, waited for with the busy timeout.
        _ => txn.execute_unprepared("DELETE FROM seatsync_migration_lock").await?,
    };
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// The migrations this binary knows that the database has not applied, by
/// name, read without writing anything (sea-orm's own status check creates
/// its table first); an error when the database was never set up.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT version FROM seaql_migrations"))
        .await
        .map_err(|_| {
            DbErr::Custom("the database has no seatsync tables: run `seatsync migrate` or `serve` first".into())
        })?;
    let applied: std::collections::HashSet<String> =
        rows.iter().filter_map(|r| r.try_get::<String>("", "version").ok()).collect();
    Ok(Migrator::migrations().iter().map(|m| m.name().to_owned()).filter(|name| !applied.contains(name)).collect())
}

/// Writes a consistent copy of a SQLite database to `to` (which must not
/// exist) with `VACUUM INTO`: one read transaction, so `serve` keeps writing
/// meanwhile, and every commit before it began is in the copy. The caller
/// moves the intake spool in first (`inbox::spool::move_all`). The file is
/// created 0600 first: it holds the same names and emails.
pub async fn backup_sqlite(db: &DatabaseConnection, to: &std::path::Path) -> Result<u64, DbErr> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Err(DbErr::Custom("backup copies SQLite databases; for PostgreSQL use pg_dump --format=custom".into()));
    }
    // Absolute, so SQLite never reads it as a URI (`file:NAME` would be one)
    // and the copy lands exactly at the path given, in the file made here.
    let to = &std::path::absolute(to).map_err(|e| DbErr::Custom(format!("cannot use {}: {e}", to.display())))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(to).map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", to.display())))?;
    let path = to.to_str().ok_or_else(|| DbErr::Custom("the backup path must be UTF-8".into()))?;
    let done = db.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, "VACUUM INTO ?", [path.into()])).await;
    if let Err(err) = done {
        let _ = std::fs::remove_file(to);
        return Err(err);
    }
    std::fs::metadata(to).map(|m| m.len()).map_err(|e| DbErr::Custom(e.to_string()))
}

/// Inside a transaction that applies events (PostgreSQL only): every
/// statement is planned for its own values until it ends. The batched reads
/// (`email IN (…500…)`) otherwise got generic plans after five runs, which on
/// a table never analyzed use the organization's index alone and filter the
/// 500 emails over every row of it: each batch of an initial sync read the
/// whole directory (146 ms at 30,000 users; the apply rate fell to 839
/// events/s, and grew worse with the directory). A custom plan puts the
/// emails in the index condition. Only here: the webhook's inserts keep their
/// cached plans.
pub async fn plan_each_statement(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan").await?;
    }
    Ok(())
}

pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// SQLite: takes the database's write lock now, with a write that changes
/// nothing, so the transaction holds it to its end. A deferred transaction that
/// reads first cannot take it later if another process wrote meanwhile (it gets
/// SQLITE_BUSY at once instead of waiting). Nothing to do on PostgreSQL.
pub async fn write_first(c: &impl ConnectionTrait) -> Result<(), DbErr> {
    if c.get_database_backend() == DbBackend::Sqlite {
        c.execute_unprepared("UPDATE inbox_events SET attempts = attempts WHERE seq = -1").await?;
    }
    Ok(())
}

/// The database's clock as an SQL expression (microseconds since the epoch),
/// for times two hosts compare: a resync on one host and a webhook applied by
/// a replica on another (CONTRACT 5). None on SQLite: every process using the
/// file runs on its host, so the host's clock is the database's.
pub fn clock_sql(backend: DbBackend) -> Option<&'static str> {
    match backend {
        DbBackend::Postgres => Some("(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint"),
        _ => None,
    }
}

/// The database's clock now (see `clock_sql`).
pub async fn clock(c: &impl ConnectionTrait) -> Result<crate::domain::Micros, DbErr> {
    let backend = c.get_database_backend();
    let Some(expression) = clock_sql(backend) else { return Ok(crate::domain::Micros::now()) };
    let row = c.query_one_raw(Statement::from_string(backend, format!("SELECT {expression} AS t"))).await?;
    let row = row.ok_or_else(|| DbErr::Custom("the database did not tell its time".into()))?;
    Ok(crate::domain::Micros(row.try_get::<i64>("", "t")?))
}

/// A statement written with `?` placeholders, renumbered to `$n` for PostgreSQL.
/// The SQL in this crate never contains a literal `?`.
pub fn stmt(backend: DbBackend, sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(ch);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Splits `items` into runs for multi-row statements. On PostgreSQL a run's
/// parameters stay under 8 KiB: sqlx 0.9 leaves Nagle's algorithm on, so a
/// message larger than the socket's first send buffer leaves in two writes and
/// the second waits ~40 ms for a delayed ACK (measured: 128-row upserts took
/// 50 ms instead of 4). SQLite has no socket: only `max_rows` bounds its runs.
pub fn chunks<T>(backend: DbBackend, items: &[T], max_rows: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    const PG_MESSAGE_BUDGET: usize = 8 * 1024;
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, item) in items.iter().enumerate() {
        let item_bytes = size(item) + 16;
        let full = i - start >= max_rows || (backend == DbBackend::Postgres && bytes + item_bytes > PG_MESSAGE_BUDGET);
        if i > start && full {
            out.push(&items[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += item_bytes;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// `column` compared byte by byte, as Rust compares strings: PostgreSQL would
/// otherwise follow the database's collation (`en_US` sorts `_` apart), and the
/// reconciler's in-memory choices must match its SQL ones exactly.
pub fn bytewise(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("{column} COLLATE \"C\""),
        _ => column.to_owned(),
    }
}

/// Whether an error is a unique-key violation (a race lost to another writer).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// Whether a database error will pass by itself (retry the same work later) or
/// comes from the data being written or read (retrying gives the same answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The database unreachable, a pool or lock time-out, a deadlock, a missing
    /// table during maintenance: the work is retried as it is.
    Passing,
    /// A value the database refuses (a constraint, a data exception, a trigger's
    /// veto) or a row that does not decode.
    OwnData,
}

pub fn classify(err: &DbErr) -> ErrorClass {
    use sea_orm::{RuntimeErr, sqlx};
    match err {
        DbErr::Type(_) | DbErr::Json(_) | DbErr::Custom(_) | DbErr::ConvertFromU64(_) | DbErr::TryIntoErr { .. } => {
            ErrorClass::OwnData
        }
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::Encode(_) => ErrorClass::OwnData,
            sqlx::Error::Database(db) => match db.code() {
                Some(code) if refused_value(&code) => ErrorClass::OwnData,
                _ => ErrorClass::Passing,
            },
            _ => ErrorClass::Passing,
        },
        _ => ErrorClass::Passing,
    }
}

/// Runs database work on PostgreSQL for at most `limit`; past it the work is
/// dropped (its connection with it) and `None` is returned. A node that
/// vanished without closing its sockets (a hung or partitioned machine)
/// would otherwise hold the work, and the connection, until the operating
/// system gives up on TCP, about a quarter of an hour; meanwhile the cluster
/// has failed over and the pool has moved on. On SQLite the work runs
/// unbounded: the file is local, and its busy time-out bounds a wait.
pub async fn bounded<T>(backend: DbBackend, limit: Duration, work: impl std::future::Future<Output = T>) -> Option<T> {
    match backend {
        DbBackend::Postgres => tokio::time::timeout(limit, work).await.ok(),
        _ => Some(work.await),
    }
}

/// `bounded` for work that answers a `DbErr`: past the limit, a passing
/// fault (`timed_out`), as a pool time-out is.
pub async fn within<T>(
    backend: DbBackend,
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    bounded(backend, limit, work).await.unwrap_or(Err(timed_out()))
}

/// The error of work `bounded` dropped: classified as passing.
pub fn timed_out() -> DbErr {
    DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout)
}

/// PostgreSQL's `lock_not_available` (a `lock_timeout` ran out).
pub fn is_lock_timeout(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03"))
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATE classes 22 (data exception), 23 (integrity constraint)
/// and P0 (raised by a function or trigger); SQLite's primary codes CONSTRAINT,
/// TOOBIG, MISMATCH and RANGE (its codes are numbers, extended ones included).
fn refused_value(code: &str) -> bool {
    // A SQLSTATE is always five characters; SQLite's codes stay below 10000.
    if code.len() == 5 {
        return code.starts_with("22") || code.starts_with("23") || code.starts_with("P0");
    }
    code.parse::<i32>().is_ok_and(is_refused_sqlite_code)
}

/// SQLite's primary codes for a value it refuses: TOOBIG, CONSTRAINT, MISMATCH,
/// RANGE (`code` may be an extended one).
pub fn is_refused_sqlite_code(code: i32) -> bool {
    matches!(code & 0xff, 18 | 19 | 20 | 25)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_writable_sqlite_file_is_named() {
        assert_eq!(sqlite_file("sqlite://seatsync.db?mode=rwc"), Some("seatsync.db"));
        assert_eq!(sqlite_file("sqlite:///var/lib/seatsync/seatsync.db"), Some("/var/lib/seatsync/seatsync.db"));
        assert_eq!(sqlite_file("sqlite:x.db"), Some("x.db"));
        for elsewhere in ["sqlite::memory:", "sqlite://:memory:", "sqlite://s?mode=memory", "sqlite://s.db?mode=ro"] {
            assert_eq!(sqlite_file(elsewhere), None, "{elsewhere}");
        }
    }

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let pg = stmt(DbBackend::Postgres, "a = ? AND b = ?", [1.into(), 2.into()]);
        assert_eq!(pg.sql, "a = $1 AND b = $2");
        let lite = stmt(DbBackend::Sqlite, "a = ? AND b = ?", [1.into(), 2.into()]);
        assert_eq!(lite.sql, "a = ? AND b = ?");
    }

    #[test]
    fn chunks_bound_rows_everywhere_and_bytes_on_postgres() {
        let items = vec![1000usize; 20];
        let sizes = |chunks: Vec<&[usize]>| chunks.iter().map(|c| c.len()).collect::<Vec<_>>();
        assert_eq!(sizes(chunks(DbBackend::Sqlite, &items, 8, |n| *n)), vec![8, 8, 4]);
        assert_eq!(sizes(chunks(DbBackend::Postgres, &items, 100, |n| *n)), vec![8, 8, 4]);
        // One item over the budget still goes, alone.
        assert_eq!(sizes(chunks(DbBackend::Postgres, &[20_000usize, 1, 1], 100, |n| *n)), vec![1, 2]);
        assert!(chunks(DbBackend::Postgres, &[] as &[usize], 10, |n| *n).is_empty());
    }

    #[test]
    fn refused_values_are_told_from_passing_faults_by_their_codes() {
        assert!(refused_value("22021")); // PostgreSQL: invalid byte sequence (a NUL in text)
        assert!(refused_value("23505")); // PostgreSQL: unique violation
        assert!(refused_value("P0001")); // PostgreSQL: raised by a trigger
        assert!(refused_value("1811")); // SQLite: CONSTRAINT_TRIGGER
        assert!(refused_value("19")); // SQLite: CONSTRAINT
        assert!(!refused_value("40P01")); // PostgreSQL: deadlock
        assert!(!refused_value("57P01")); // PostgreSQL: admin shutdown
        assert!(!refused_value("42P01")); // PostgreSQL: undefined table
        assert!(!refused_value("5")); // SQLite: BUSY
        assert!(!refused_value("1")); // SQLite: generic error (no such table)
        assert_eq!(classify(&DbErr::Custom("bad row".into())), ErrorClass::OwnData);
        assert_eq!(classify(&DbErr::Conn(sea_orm::RuntimeErr::Internal("gone".into()))), ErrorClass::Passing);
    }
}
