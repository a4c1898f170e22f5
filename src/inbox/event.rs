//! The inbox's event types: an event as it is stored (`NewEvent`), and what
//! storing it came to (`Stored`).
use crate::domain::{EventId, EventStatus};
use std::collections::HashSet;

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: EventId,
    pub event_type: String,
    pub body: Vec<u8>,
    /// `pending` for types the reconciler acts on, `ignored` for the rest.
    pub status: EventStatus,
    /// See `Envelope::order_key`.
    pub order_key: Option<String>,
    /// The span that received it (W3C), when traces are exported.
    pub traceparent: Option<String>,
}

impl NewEvent {
    /// A delivered or pulled event as it is stored: `pending` when the
    /// reconciler acts on its type, else `ignored`; ordered by its payload.
    pub fn from_envelope(event_id: EventId, envelope: crate::events::Envelope, body: Vec<u8>) -> Self {
        let status =
            if crate::events::is_actionable(&envelope.event) { EventStatus::Pending } else { EventStatus::Ignored };
        let order_key = envelope.order_key();
        let traceparent = crate::telemetry::trace_context::current();
        Self { event_id, event_type: envelope.event, body, status, order_key, traceparent }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Accepted,
    Duplicate,
}

/// Each event's outcome, given which ids this transaction inserted: the first
/// copy of an id in the batch is accepted; any other copy is a duplicate.
pub(crate) fn outcomes_of<E: std::borrow::Borrow<NewEvent>>(
    events: &[E],
    inserted: impl Fn(&str) -> bool,
) -> Vec<Stored> {
    let mut claimed: HashSet<&str> = HashSet::new();
    events
        .iter()
        .map(|e| {
            let id = e.borrow().event_id.as_str();
            if inserted(id) && claimed.insert(id) { Stored::Accepted } else { Stored::Duplicate }
        })
        .collect()
}
