//! The one INSERT into `inbox_events`, shared by every storer (the writer's
//! batches, the Events API's backfill) and SQLite's spool move.
use crate::{
    db::{chunks, stmt},
    domain::{EventStatus, Micros},
    store::col,
};
use sea_orm::{ConnectionTrait, DbErr, Value};
use std::collections::HashSet;

/// Rows per INSERT statement (7 values each; far below both databases' limits).
const INSERT_CHUNK: usize = 128;

/// One row for `inbox_events`, as a storer or SQLite's spool move writes it.
pub(crate) struct QueueRow {
    pub event_id: String,
    pub event_type: String,
    pub body: Vec<u8>,
    pub received_at: Micros,
    pub status: EventStatus,
    pub order_key: Option<String>,
    pub traceparent: Option<String>,
}

/// Inserts `rows` in their order (multi-row statements cut by `db::chunks`);
/// an id already there is left as it is. Returns the ids inserted.
pub(crate) async fn insert_rows(c: &impl ConnectionTrait, rows: &[QueueRow]) -> Result<HashSet<String>, DbErr> {
    let mut inserted: HashSet<String> = HashSet::new();
    let backend = c.get_database_backend();
    let size = |row: &QueueRow| row.body.len() + row.event_id.len() + 64;
    for chunk in chunks(backend, rows, INSERT_CHUNK, size) {
        let mut sql = String::from(
            "INSERT INTO inbox_events (event_id, event_type, body, received_at, status, attempts, order_key, \
             traceparent) VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 7);
        for (i, row) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, 0, ?, ?)" } else { ", (?, ?, ?, ?, ?, 0, ?, ?)" });
            values.extend([
                row.event_id.as_str().into(),
                row.event_type.as_str().into(),
                row.body.clone().into(),
                row.received_at.0.into(),
                row.status.as_str().into(),
                row.order_key.clone().into(),
                row.traceparent.clone().into(),
            ]);
        }
        sql.push_str(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
        for row in c.query_all_raw(stmt(backend, &sql, values)).await? {
            inserted.insert(col::<String>(&row, "event_id")?);
        }
    }
    Ok(inserted)
}
