//! The intake spool's file (`inbox::spool` says why there is one): where it
//! sits and how it is made. Here because `connect` makes it with the database.
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

const SCHEMA: &str = "\
    CREATE TABLE IF NOT EXISTS inbox_spool (\
      seq INTEGER PRIMARY KEY AUTOINCREMENT, \
      event_id TEXT NOT NULL UNIQUE, \
      event_type TEXT NOT NULL, \
      body BLOB NOT NULL, \
      received_at INTEGER NOT NULL, \
      status TEXT NOT NULL CHECK (status IN ('pending', 'ignored')), \
      order_key TEXT, \
      traceparent TEXT); \
    CREATE TABLE IF NOT EXISTS spool_identity (id TEXT NOT NULL);";

/// The spool file beside a SQLite database file.
pub fn path_for(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-inbox");
    PathBuf::from(name)
}

/// Creates the spool (WAL, its tables and its id) if it is not there; the
/// caller made the file 0600.
pub fn prepare(spool: &Path) -> Result<(), rusqlite::Error> {
    // Two processes making a new spool at once race to switch it to WAL, and
    // SQLite answers the loser "database is locked" at once (no busy handler
    // for that step), as `connect` finds for the database itself.
    let mut attempt = 0u64;
    loop {
        match prepare_once(spool) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && attempt < 40 =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(25 * attempt.min(8)));
            }
            done => return done,
        }
    }
}

fn prepare_once(spool: &Path) -> Result<(), rusqlite::Error> {
    let conn = rusqlite::Connection::open(spool)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!("the inbox spool is in {mode} mode, not WAL")));
    }
    conn.execute_batch(SCHEMA)?;
    // One id for the file's life: another process may be preparing it too,
    // so the insert is conditional and in a write transaction.
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; INSERT INTO spool_identity (id) SELECT '{}' WHERE NOT EXISTS (SELECT 1 FROM spool_identity); \
         COMMIT;",
        ulid::Ulid::new()
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_sits_beside_the_database_under_its_name() {
        assert_eq!(
            path_for(Path::new("/var/lib/seatsync/seatsync.db")),
            Path::new("/var/lib/seatsync/seatsync.db-inbox")
        );
        assert_eq!(path_for(Path::new("seatsync.db")), Path::new("seatsync.db-inbox"));
    }
}
