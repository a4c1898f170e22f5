//! The connection layer: one `DatabaseConnection` for SQLite or PostgreSQL, and a
//! small helper for the hand-written set-based SQL that both dialects share.
use crate::config::{DatabaseKind, DatabaseUrl};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait,
    Value,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use std::time::Duration;

pub async fn connect(url: &DatabaseUrl) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.expose());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        // Readiness and the webhook must fail fast (503) when the database is gone.
        .acquire_timeout(Duration::from_secs(5));
    match url.kind().map_err(DbErr::Custom)? {
        DatabaseKind::Sqlite => {
            // One connection: SQLite has one writer anyway, and the pool's fair
            // queue hands it over in order, where SQLite's own busy handler polls
            // with sleeps (a burst beside the reconciler saw p99 of 600 ms; with
            // the queue, 12 ms). Nothing holds a transaction while it asks the
            // pool for another connection.
            options.max_connections(1).map_sqlx_sqlite_opts(|o| {
                // WAL lets readers run beside the writer; synchronous=FULL makes a
                // commit durable before it returns, so a 200 means "on disk".
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        }
        DatabaseKind::Postgres => {
            options.max_connections(10);
        }
    }
    Database::connect(options).await
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

pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
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

/// Whether an error is a unique-key violation (a race lost to another writer).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let pg = stmt(DbBackend::Postgres, "a = ? AND b = ?", [1.into(), 2.into()]);
        assert_eq!(pg.sql, "a = $1 AND b = $2");
        let lite = stmt(DbBackend::Sqlite, "a = ? AND b = ?", [1.into(), 2.into()]);
        assert_eq!(lite.sql, "a = ? AND b = ?");
    }
}
