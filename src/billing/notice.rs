//! Notices to the product beside seat messages (CONTRACT 7.1): a hold started,
//! a hold approved, enforcement started. Written in the transaction that
//! caused them, numbered in the same `sequence` as the plan's seat messages,
//! never merged with them. Pure: stored and rendered without a database.
use crate::domain::{Actor, HoldKind, Micros};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const HOLD_STARTED: &str = "plan.hold.started";
pub const HOLD_APPROVED: &str = "plan.hold.approved";
pub const ENFORCEMENT_STARTED: &str = "plan.enforcement.started";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A guard stopped the plan's events; `emails` is `would_release` or
    /// `would_grant` by `kind`.
    HoldStarted {
        kind: HoldKind,
        through: String,
        held_events: u64,
        emails: Vec<String>,
    },
    HoldApproved {
        through: String,
        by: Actor,
    },
    EnforcementStarted {
        paid_seats: u64,
        free_seats: u64,
    },
}

/// What the outbox stores of a notice (`outbound_messages.notice`).
#[derive(Debug, Serialize, Deserialize)]
struct StoredNotice {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    through: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    held_events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    would_release: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    would_grant: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    paid_seats: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    free_seats: Option<u64>,
}

impl Notice {
    /// The message's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Notice::HoldStarted { .. } => HOLD_STARTED,
            Notice::HoldApproved { .. } => HOLD_APPROVED,
            Notice::EnforcementStarted { .. } => ENFORCEMENT_STARTED,
        }
    }

    /// The notice's own fields of `data`, as stored (JSON text).
    pub fn stored(&self) -> String {
        let empty = StoredNotice {
            kind: None,
            through: None,
            held_events: None,
            would_release: None,
            would_grant: None,
            by: None,
            paid_seats: None,
            free_seats: None,
        };
        let stored = match self {
            Notice::HoldStarted { kind, through, held_events, emails } => StoredNotice {
                kind: Some(kind.as_str().to_owned()),
                through: Some(through.clone()),
                held_events: Some(*held_events),
                would_release: (*kind == HoldKind::Release).then(|| emails.clone()),
                would_grant: (*kind == HoldKind::Grant).then(|| emails.clone()),
                ..empty
            },
            Notice::HoldApproved { through, by } => {
                StoredNotice { through: Some(through.clone()), by: Some(by.as_str().to_owned()), ..empty }
            }
            Notice::EnforcementStarted { paid_seats, free_seats } => {
                StoredNotice { paid_seats: Some(*paid_seats), free_seats: Some(*free_seats), ..empty }
            }
        };
        serde_json::to_string(&stored).expect("a notice serialises")
    }
}

/// The plan's fields every notice carries.
pub struct Header<'a> {
    pub plan_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub sequence: i64,
}

/// The exact bytes sent and signed: `{"type", "timestamp", "data"}` with the
/// plan's fields and the notice's own.
pub fn body(type_name: &str, stored: &str, header: &Header<'_>, created_at: Micros) -> Vec<u8> {
    let mut data = Map::new();
    data.insert("plan_id".into(), header.plan_id.into());
    data.insert("organization_id".into(), header.organization_id.map_or(Value::Null, Value::from));
    data.insert("external_id".into(), header.external_id.map_or(Value::Null, Value::from));
    data.insert("sequence".into(), header.sequence.into());
    if let Ok(Value::Object(own)) = serde_json::from_str::<Value>(stored) {
        data.extend(own);
    }
    let mut envelope = Map::new();
    envelope.insert("type".into(), type_name.into());
    envelope.insert("timestamp".into(), created_at.to_rfc3339().into());
    envelope.insert("data".into(), Value::Object(data));
    serde_json::to_vec(&Value::Object(envelope)).expect("a notice serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(notice: &Notice) -> Value {
        let header = Header { plan_id: "plan_1", organization_id: Some("org_1"), external_id: None, sequence: 4 };
        serde_json::from_slice(&body(notice.type_name(), &notice.stored(), &header, Micros(0))).unwrap()
    }

    #[test]
    fn a_release_hold_names_the_seats_it_would_release_and_nothing_else() {
        let notice = Notice::HoldStarted {
            kind: HoldKind::Release,
            through: "event_9".into(),
            held_events: 3,
            emails: vec!["a@x.io".into()],
        };
        let value = rendered(&notice);
        assert_eq!(value["type"], "plan.hold.started");
        assert_eq!(value["data"]["plan_id"], "plan_1");
        assert_eq!(value["data"]["sequence"], 4);
        assert_eq!(value["data"]["kind"], "release");
        assert_eq!(value["data"]["through"], "event_9");
        assert_eq!(value["data"]["held_events"], 3);
        assert_eq!(value["data"]["would_release"], serde_json::json!(["a@x.io"]));
        assert!(value["data"].get("would_grant").is_none());
    }

    #[test]
    fn an_approval_says_who_and_enforcement_says_the_counts() {
        let approved = rendered(&Notice::HoldApproved { through: "event_9".into(), by: Actor::Portal });
        assert_eq!(approved["type"], "plan.hold.approved");
        assert_eq!(approved["data"]["by"], "portal");
        let started = rendered(&Notice::EnforcementStarted { paid_seats: 12, free_seats: 3 });
        assert_eq!(started["type"], "plan.enforcement.started");
        assert_eq!(
            (started["data"]["paid_seats"].clone(), started["data"]["free_seats"].clone()),
            (12.into(), 3.into())
        );
    }
}
