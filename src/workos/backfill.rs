//! Pulling `dsync.*` events from the WorkOS Events API into the same inbox as
//! webhooks (same ids, so an event that came both ways is applied once). Each
//! page's events and the cursor after them are committed together: a crash
//! resumes from the last page stored, with nothing skipped or doubled.
use super::client::{ApiError, ListPage, WorkosClient};
use crate::{
    domain::EventId,
    events::{Envelope, InvalidEvent, actionable},
    inbox::{NewEvent, Stored, dead_letter, writer::insert_events},
    store::cursors,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use serde_json::value::RawValue;

const CURSOR: &str = "workos_events";

/// An entry's `id`, read loosely: an entry that is not a valid event may still
/// say where it stands in the list.
fn entry_id(raw: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(raw).ok()?;
    value.get("id")?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}
const PAGE: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database error while storing events")]
    Database(#[from] DbErr),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackfillSummary {
    pub pages: u64,
    pub fetched: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub invalid: u64,
    pub cursor: Option<String>,
}

/// Where the pull got to (the Events API's `after`), if it ever ran.
pub async fn saved_cursor(c: &impl ConnectionTrait) -> Result<Option<String>, DbErr> {
    cursors::get(c, CURSOR).await
}

/// Pulls every page after `since` (or the saved cursor). `progress` is called
/// after each stored page.
pub async fn backfill(
    db: &DatabaseConnection,
    client: &WorkosClient,
    since: Option<String>,
    faults: crate::faults::Faults,
    mut progress: impl FnMut(&BackfillSummary),
) -> Result<BackfillSummary, BackfillError> {
    let mut summary = BackfillSummary {
        cursor: match since {
            Some(since) => Some(since),
            None => saved_cursor(db).await?,
        },
        ..Default::default()
    };
    loop {
        let mut query = vec![("events", actionable().collect::<Vec<_>>().join(",")), ("limit", PAGE.to_string())];
        if let Some(after) = &summary.cursor {
            query.push(("after", after.clone()));
        }
        let page: ListPage<Box<RawValue>> = client.get("/events", &query).await?;
        if page.data.is_empty() {
            return Ok(summary);
        }
        let mut events = Vec::with_capacity(page.data.len());
        let mut invalid = Vec::new();
        for raw in &page.data {
            // Kept as the exact bytes WorkOS sent, like a webhook body.
            let body = raw.get().as_bytes().to_vec();
            let parsed = Envelope::parse(&body).and_then(|e| {
                let id = EventId::parse(&e.id).map_err(|err| InvalidEvent(err.to_string()))?;
                Ok((id, e))
            });
            match parsed {
                Ok((event_id, envelope)) => events.push(NewEvent::from_envelope(event_id, envelope, body)),
                Err(why) => invalid.push((body, why.0)),
            }
        }
        // The cursor moves past everything read, valid or not: WorkOS's own
        // cursor for the next page, else the last entry's id.
        let last = page
            .after()
            .map(str::to_owned)
            .or_else(|| page.data.last().and_then(|raw| entry_id(raw.get())))
            .or_else(|| events.last().map(|e| e.event_id.as_str().to_owned()));
        let txn = db.begin().await?;
        let outcomes = insert_events(&txn, &events.iter().collect::<Vec<_>>()).await?;
        for (body, why) in &invalid {
            // As the webhook does: nothing WorkOS sent is lost.
            dead_letter::keep(&txn, body, 0, &format!("from the Events API: {why}")).await?;
        }
        if let Some(last) = &last {
            cursors::put(&txn, CURSOR, last).await?;
        }
        faults.before_commit(events.iter().map(|e| e.body.as_slice())).await;
        txn.commit().await?;
        summary.invalid += invalid.len() as u64;

        summary.pages += 1;
        summary.fetched += page.data.len() as u64;
        summary.stored += outcomes.iter().filter(|o| **o == Stored::Accepted).count() as u64;
        summary.duplicates += outcomes.iter().filter(|o| **o == Stored::Duplicate).count() as u64;
        if last.is_some() {
            summary.cursor = last;
        }
        progress(&summary);
        if page.after().is_none() {
            return Ok(summary);
        }
    }
}
