//! The JSON shapes of CONTRACT 3.3, shared by the admin API and the CLI.
use crate::{
    seats::enforcement::Preview,
    store::{
        audit::AuditEntry,
        members::Member,
        outbound::Message,
        plans::{Counts, Plan},
    },
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PlanView {
    pub id: String,
    pub name: String,
    pub organization_id: Option<String>,
    pub mode: String,
    pub test_mode_max_users: u32,
    pub enforced_at: Option<String>,
    pub active_directory_users: u64,
    pub paid_seats: u64,
    pub free_seats: u64,
    pub release_limit: Option<u32>,
    /// The grant guard's limit (CONTRACT 4.1): `null` is off.
    pub grant_limit: Option<u32>,
    pub hold: Option<HoldView>,
    pub stripe_subscription_item: Option<String>,
    /// The product's own id for the customer (CONTRACT 3.3).
    pub external_id: Option<String>,
    /// Where billing stands, per target (CONTRACT 3.3, 7).
    pub billing: BillingView,
}

/// A plan's billing state per target; `null` for a target that is not
/// configured (Stripe: or the plan follows no subscription item).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BillingView {
    pub webhook: Option<TargetBilling>,
    pub stripe: Option<TargetBilling>,
}

/// What one target was last told, and whether it is behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TargetBilling {
    /// Paid seats in the newest delivered message (`null`: none delivered yet).
    pub paid_seats_sent: Option<u64>,
    /// That message's `sequence`.
    pub sequence_sent: Option<i64>,
    /// `in_sync` (the last delivered message carried the current paid
    /// seats), `pending` or `failing`.
    pub state: String,
    pub last_error: Option<String>,
}

/// One outbound message (CONTRACT 3.3, `GET /admin/outbound`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub plan_id: String,
    pub target: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<String>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// Given when the message is first attempted (CONTRACT 7.1); `null` before.
    pub sequence: Option<i64>,
}

impl From<&Message> for DeliveryView {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.clone(),
            plan_id: m.plan_id.to_string(),
            target: m.target.as_str().to_owned(),
            kind: m.kind.clone(),
            state: m.state.as_str().to_owned(),
            attempts: m.attempts,
            next_attempt_at: m.state.is_unsent().then(|| m.next_attempt_at.to_rfc3339()),
            last_status: m.last_status,
            last_error: m.last_error.clone(),
            created_at: m.created_at.to_rfc3339(),
            delivered_at: m.delivered_at.map(|t| t.to_rfc3339()),
            sequence: m.sequence,
        }
    }
}

/// `GET /admin/outbound`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<DeliveryView>,
    pub next: Option<String>,
}

/// The release guard's hold on a plan (CONTRACT 4.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct HoldView {
    /// Which guard stopped an event: `release` (the release limit) or `grant`
    /// (the plan's grant limit).
    #[schema(example = "release")]
    pub kind: String,
    pub since: String,
    pub held_events: u64,
    /// The last held event, in stored order, when the plan was read: approve
    /// with `{"through": this}` to apply exactly the events this preview shows.
    /// `null` only when nothing is held any more.
    #[schema(example = "event_01HXYZ")]
    pub through: Option<String>,
    /// Emails approving through `through` would move to free (paid members now).
    pub would_release: Vec<String>,
    /// Emails approving through `through` would move to paid (free or new now).
    pub would_grant: Vec<String>,
}

impl PlanView {
    pub fn new(plan: &Plan, counts: Counts) -> Self {
        Self {
            id: plan.id.to_string(),
            name: plan.name.clone(),
            organization_id: plan.organization_id.as_ref().map(|org| org.to_string()),
            mode: plan.mode.as_str().to_owned(),
            test_mode_max_users: plan.test_mode_max_users,
            enforced_at: plan.enforced_at.map(|t| t.to_rfc3339()),
            active_directory_users: counts.active_directory_users,
            paid_seats: counts.paid_seats,
            free_seats: counts.free_seats,
            release_limit: plan.release_limit,
            grant_limit: plan.grant_limit,
            hold: None,
            stripe_subscription_item: plan.stripe_subscription_item.clone(),
            external_id: plan.external_id.clone(),
            billing: BillingView::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MemberView {
    pub email: String,
    pub tier: String,
    pub source: String,
    pub directory_user_id: Option<String>,
    pub updated_at: String,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        Self {
            email: m.email.clone(),
            tier: m.seat.tier.as_str().to_owned(),
            source: m.seat.source.as_str().to_owned(),
            directory_user_id: m.directory_user_id.clone(),
            updated_at: m.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PreviewView {
    pub to_paid: Vec<String>,
    pub to_free: Vec<String>,
    pub unchanged_paid: u64,
    pub unchanged_free: u64,
}

impl From<Preview> for PreviewView {
    fn from(p: Preview) -> Self {
        Self {
            to_paid: p.to_paid,
            to_free: p.to_free,
            unchanged_paid: p.unchanged_paid,
            unchanged_free: p.unchanged_free,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditView {
    pub seq: i64,
    pub email: String,
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
    pub event_id: Option<String>,
    pub at: String,
    /// Who made a hand change: `operator` or `portal` (`null`: the directory
    /// or the rule).
    pub by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MemberPage {
    pub data: Vec<MemberView>,
    /// The last email of this page when more follow: pass it as `after`.
    pub next: Option<String>,
}

impl MemberPage {
    pub fn new(members: &[crate::store::members::Member], more: bool) -> Self {
        let data: Vec<MemberView> = members.iter().map(MemberView::from).collect();
        let next = if more { data.last().map(|m| m.email.clone()) } else { None };
        Self { data, next }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditView>,
    pub next: Option<String>,
}

impl AuditPage {
    pub fn new(entries: &[AuditEntry], more: bool) -> Self {
        let data: Vec<AuditView> = entries
            .iter()
            .map(|e| AuditView {
                seq: e.seq,
                email: e.email.clone(),
                from: e.from.map(|t| t.as_str().to_owned()),
                to: e.to.as_str().to_owned(),
                reason: e.reason.as_str().to_owned(),
                event_id: e.event_id.clone(),
                at: e.at.to_rfc3339(),
                by: e.actor.map(|a| a.as_str().to_owned()),
            })
            .collect();
        let next = if more { data.last().map(|e| e.seq.to_string()) } else { None };
        Self { data, next }
    }
}

/// `GET /admin/plans/{id}/history` (CONTRACT 3.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct HistoryView {
    pub points: Vec<HistoryPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct HistoryPoint {
    pub at: String,
    pub paid_seats: u64,
}
