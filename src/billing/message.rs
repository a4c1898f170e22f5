//! What an outbound message says (CONTRACT 7.1): a plan's seat changes of one
//! transaction and its absolute counts after them. Pure: built, merged and
//! rendered without a database or HTTP.
use crate::{
    domain::Micros,
    store::{
        audit::AuditEntry,
        outbound::{Message, Snapshot},
    },
};

/// Pending messages of one plan folded into the newest: its changes start
/// where the oldest's did (their changes, in order, then its own); its counts
/// and sequence, which are absolute and so say everything the older ones did.
pub fn folded(oldest: &Snapshot, newest: &Snapshot) -> Snapshot {
    Snapshot { audit_after: oldest.audit_after.min(newest.audit_after), ..newest.clone() }
}
use serde::{Deserialize, Serialize};

/// A seat message's type (notices are `billing::notice`'s).
pub use crate::store::outbound::SEATS_KIND as SEATS_UPDATED;

/// The body's `data`: what the outbox stores and a receiver reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatsUpdated {
    pub plan_id: String,
    pub organization_id: Option<String>,
    pub mode: String,
    pub paid_seats: u64,
    pub free_seats: u64,
    /// Counts the plan's messages to this target from 1 with no gap: a
    /// receiver drops an older one, and a gap is a message not had yet.
    pub sequence: i64,
    pub changes: Vec<SeatChange>,
    /// The product's own id for the plan's customer, when it set one.
    pub external_id: Option<String>,
}

/// One audit row, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatChange {
    pub email: String,
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
    pub audit_seq: i64,
}

impl SeatsUpdated {
    /// A stored message and its changes (the audit rows its range names).
    pub fn of(message: &Message, changes: &[AuditEntry]) -> Self {
        let s = &message.snapshot;
        SeatsUpdated {
            plan_id: message.plan_id.to_string(),
            organization_id: s.organization_id.clone(),
            external_id: s.external_id.clone(),
            mode: s.mode.clone(),
            paid_seats: u64::try_from(s.paid_seats).unwrap_or(0),
            free_seats: u64::try_from(s.free_seats).unwrap_or(0),
            sequence: message.sequence.unwrap_or_default(),
            changes: changes
                .iter()
                .map(|a| SeatChange {
                    email: a.email.clone(),
                    from: a.from.map(|t| t.as_str().to_owned()),
                    to: a.to.as_str().to_owned(),
                    reason: a.reason.as_str().to_owned(),
                    audit_seq: a.seq,
                })
                .collect(),
        }
    }

    /// The exact bytes sent and signed.
    pub fn body(&self, created_at: Micros) -> Vec<u8> {
        #[derive(Serialize)]
        struct SignedBody<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            timestamp: String,
            data: &'a SeatsUpdated,
        }
        serde_json::to_vec(&SignedBody { kind: SEATS_UPDATED, timestamp: created_at.to_rfc3339(), data: self })
            .expect("a message serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(sequence: i64, paid: u64, emails: &[&str]) -> SeatsUpdated {
        SeatsUpdated {
            plan_id: "plan_1".into(),
            organization_id: Some("org_1".into()),
            external_id: Some("cus_1".into()),
            mode: "enforced".into(),
            paid_seats: paid,
            free_seats: 1,
            sequence,
            changes: emails
                .iter()
                .enumerate()
                .map(|(i, e)| SeatChange {
                    email: (*e).into(),
                    from: None,
                    to: "paid".into(),
                    reason: "directory_user_active".into(),
                    audit_seq: sequence * 10 + i as i64,
                })
                .collect(),
        }
    }

    fn snapshot(paid: i64, after: i64, through: i64) -> Snapshot {
        Snapshot {
            organization_id: Some("org_1".into()),
            external_id: None,
            mode: "enforced".into(),
            paid_seats: paid,
            free_seats: 0,
            audit_after: after,
            audit_through: through,
        }
    }

    #[test]
    fn folding_keeps_every_change_and_the_newest_counts() {
        let merged = folded(&snapshot(11, 100, 140), &snapshot(13, 170, 200));
        assert_eq!(merged, snapshot(13, 100, 200));
    }

    #[test]
    fn the_body_is_the_contracts_envelope() {
        let body = message(1, 11, &["a@x.io"]).body(Micros(1_700_000_000_000_000));
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["type"], "plan.seats.updated");
        assert_eq!(value["timestamp"], Micros(1_700_000_000_000_000).to_rfc3339());
        assert_eq!(value["data"]["sequence"], 1);
        assert_eq!(value["data"]["paid_seats"], 11);
        assert_eq!(value["data"]["changes"][0]["from"], serde_json::Value::Null);
        assert_eq!(value["data"]["changes"][0]["audit_seq"], 10);
        assert_eq!(value["data"]["external_id"], "cus_1");
    }
}
