//! What an outbound message says (CONTRACT 7.1): a plan's seat changes of one
//! transaction and its absolute counts after them. Pure: built, merged and
//! rendered without a database or HTTP.
use crate::domain::Micros;
use serde::{Deserialize, Serialize};

/// The only message type so far.
pub const SEATS_UPDATED: &str = "plan.seats.updated";

/// The body's `data`: what the outbox stores and a receiver reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatsUpdated {
    pub plan_id: String,
    pub organization_id: Option<String>,
    pub mode: String,
    pub paid_seats: u64,
    pub free_seats: u64,
    /// Grows by one with each message of the plan: a receiver drops an older one.
    pub sequence: i64,
    pub changes: Vec<SeatChange>,
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
    /// Pending messages of one plan folded into the newest (`self`): their
    /// changes in order, then its own; its counts and sequence, which are
    /// absolute and so say everything the older ones did.
    pub fn merged_after(self, older: impl IntoIterator<Item = SeatsUpdated>) -> SeatsUpdated {
        let mut changes: Vec<SeatChange> = older.into_iter().flat_map(|m| m.changes).collect();
        changes.extend(self.changes);
        SeatsUpdated { changes, ..self }
    }

    /// The exact bytes sent and signed.
    pub fn body(&self, created_at: Micros) -> Vec<u8> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            timestamp: String,
            data: &'a SeatsUpdated,
        }
        serde_json::to_vec(&Envelope { kind: SEATS_UPDATED, timestamp: created_at.to_rfc3339(), data: self })
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

    #[test]
    fn merging_keeps_every_change_in_order_and_the_newest_counts() {
        let merged =
            message(7, 13, &["c@x.io"]).merged_after([message(5, 11, &["a@x.io"]), message(6, 12, &["b@x.io"])]);
        assert_eq!(merged.sequence, 7);
        assert_eq!(merged.paid_seats, 13);
        let emails: Vec<&str> = merged.changes.iter().map(|c| c.email.as_str()).collect();
        assert_eq!(emails, ["a@x.io", "b@x.io", "c@x.io"]);
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
    }
}
