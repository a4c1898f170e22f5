//! Operator use cases on billing deliveries (CONTRACT 3.3, 7), shared by the
//! admin API and `seatsync outbound|billing`.
use super::{
    PlanError, parse_plan_id,
    views::{BillingView, DeliveryPage, DeliveryView, TargetBilling},
};
use crate::{
    billing::{delivery::Deliverer, outbox},
    domain::{DeliveryState, Micros, PlanId, Target},
    seats::unit::PlanChange,
    store::{outbound, plans},
};
use sea_orm::DatabaseConnection;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;

/// `GET /admin/outbound` as it arrives: every field raw text.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct DeliveriesQuery {
    pub plan: Option<String>,
    /// `pending`, `delivered`, `failing`, `dead` or `superseded`.
    pub state: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    pub limit: Option<String>,
}

pub async fn list(db: &DatabaseConnection, query: &DeliveriesQuery) -> Result<DeliveryPage, PlanError> {
    let plan = match query.plan.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(raw) => Some(PlanId::parse(raw).map_err(|_| PlanError::BadRequest("plan must be a plan id".into()))?),
    };
    let state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(DeliveryState::parse(raw).ok_or_else(|| {
            PlanError::BadRequest("state must be pending, delivered, failing, dead or superseded".into())
        })?),
    };
    let after = match query.after.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(raw)
            if raw.starts_with("msg_")
                && raw.len() <= 64
                && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Some(raw.to_owned())
        }
        Some(_) => return Err(PlanError::BadRequest("after must be a delivery id (the previous page's next)".into())),
    };
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| PlanError::BadRequest(format!("limit must be a whole number from 1 to {MAX_LIMIT}")))?,
    };
    let filter = outbound::Filter { plan, state, after };
    let (messages, more) = outbound::page(db, &filter, limit).await?;
    let next = if more { messages.last().map(|m| m.id.clone()) } else { None };
    Ok(DeliveryPage { data: messages.iter().map(DeliveryView::from).collect(), next })
}

fn valid_id(raw: &str) -> Result<&str, PlanError> {
    let ok = raw.starts_with("msg_") && raw.len() <= 64 && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(raw) } else { Err(PlanError::NotFound("delivery")) }
}

pub async fn show(db: &DatabaseConnection, id: &str) -> Result<DeliveryView, PlanError> {
    let message = outbound::get(db, valid_id(id)?).await?.ok_or(PlanError::NotFound("delivery"))?;
    Ok(DeliveryView::from(&message))
}

/// `POST /admin/outbound/{id}/retry` (CONTRACT 3.3): a `dead` or `failing`
/// message is due now with its own id and body, and sent at once when this
/// process sends to its target (else `serve` sends it in its turn); a Stripe
/// message older than a count the item already received is superseded. A
/// delivered one: 409 `already_delivered`. 409 `billing_not_configured` when
/// no target was ever configured.
pub async fn retry(
    deliverer: Option<&Deliverer>,
    db: &DatabaseConnection,
    id: &str,
) -> Result<DeliveryView, PlanError> {
    let id = valid_id(id)?;
    outbound::get(db, id).await?.ok_or(PlanError::NotFound("delivery"))?;
    if !outbox::registered(db).await?.any() {
        return Err(PlanError::BillingNotConfigured);
    }
    match Deliverer::retry(db, deliverer, id).await? {
        outbound::Retried::Due(message) | outbound::Retried::Superseded(message) => Ok(DeliveryView::from(&message)),
        outbound::Retried::AlreadyDelivered => Err(PlanError::AlreadyDelivered),
        outbound::Retried::NotFound => Err(PlanError::NotFound("delivery")),
    }
}

/// `POST /admin/plans/{id}/billing/resend`: the plan's current seats, sent
/// again to every configured target (a new message, in the plan's order).
pub async fn resend(db: &DatabaseConnection, id: &str) -> Result<usize, PlanError> {
    let plan_id = parse_plan_id(id)?;
    plans::find(db, &plan_id).await?.ok_or(PlanError::NotFound("plan"))?;
    if !outbox::registered(db).await?.any() {
        return Err(PlanError::BillingNotConfigured);
    }
    let change = PlanChange::begin(db, &plan_id).await?.ok_or(PlanError::NotFound("plan"))?;
    let now = Micros::now();
    let written = outbox::resend(change.txn(), &plan_id, None, now).await?;
    change.commit(now).await?;
    Ok(written)
}

/// Where a plan's billing stands, per target (CONTRACT 3.3): `None` for a
/// target that is not configured (Stripe: or the plan follows no item).
/// `in_sync` means the last delivered message carried the plan's current
/// paid seats, with nothing left to send; a plan billing never heard of is
/// in sync only while it has no paid seat.
pub async fn billing_view(
    db: &DatabaseConnection,
    plan: &PlanId,
    paid_now: u64,
    follows_item: bool,
) -> Result<BillingView, PlanError> {
    let mut views = billing_views(db, &[(plan.clone(), paid_now, follows_item)]).await?;
    Ok(views.remove(plan).unwrap_or_default())
}

/// `billing_view` for many plans (`plan`, paid seats now, follows a Stripe
/// item): the registered targets read once, each target's deliveries in one
/// statement for them all.
pub async fn billing_views(
    db: &DatabaseConnection,
    plans: &[(PlanId, u64, bool)],
) -> Result<std::collections::HashMap<PlanId, BillingView>, PlanError> {
    let registered = outbox::registered(db).await?;
    let mut views: std::collections::HashMap<PlanId, BillingView> =
        plans.iter().map(|(plan, _, _)| (plan.clone(), BillingView::default())).collect();
    for target in Target::ALL {
        let wanted: Vec<PlanId> = plans
            .iter()
            .filter(|(_, _, follows_item)| match target {
                Target::Webhook => registered.webhook,
                Target::Stripe => registered.stripe && *follows_item,
            })
            .map(|(plan, _, _)| plan.clone())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let mut found = outbound::plan_deliveries_many(db, &wanted, *target).await?;
        for (plan, paid_now, _) in plans.iter().filter(|(plan, _, _)| wanted.contains(plan)) {
            let d = found.remove(plan).unwrap_or_default();
            let this = target_billing(&d, *paid_now);
            let view = views.entry(plan.clone()).or_default();
            match target {
                Target::Webhook => view.webhook = Some(this),
                Target::Stripe => view.stripe = Some(this),
            }
        }
    }
    Ok(views)
}

/// What one target was last told, from its deliveries (pure).
fn target_billing(d: &outbound::PlanDeliveries, paid_now: u64) -> TargetBilling {
    let sent = d.last_delivered.as_ref().map(|m| u64::try_from(m.snapshot.paid_seats).unwrap_or(0));
    let (state, last_error) = match (&d.first_unsent, &d.newest) {
        (Some(unsent), _) if unsent.state == DeliveryState::Failing => ("failing", unsent.last_error.clone()),
        (Some(_), _) => ("pending", None),
        (None, _) if sent.unwrap_or(0) == paid_now && (sent.is_some() || paid_now == 0) => ("in_sync", None),
        // Nothing left to send, and billing holds another count: the
        // newest message died (or was never written).
        (None, newest) => ("failing", newest.as_ref().and_then(|m| m.last_error.clone())),
    };
    TargetBilling {
        paid_seats_sent: sent,
        sequence_sent: d.last_delivered.as_ref().and_then(|m| m.sequence),
        state: state.to_owned(),
        last_error,
    }
}

/// A plan whose Stripe quantity is not its paid seats (`billing check`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub plan_id: String,
    pub stripe_subscription_item: String,
    pub paid_seats: u64,
    /// `None`: the item could not be read (`error` says why).
    pub stripe_quantity: Option<u64>,
    pub error: Option<String>,
}

/// Reads every plan's Stripe item and returns those that differ from the
/// plan's paid seats (someone changed the quantity in Stripe's dashboard),
/// and how many were checked.
pub async fn check(
    db: &DatabaseConnection,
    stripe: &crate::billing::stripe::StripeClient,
) -> Result<(Vec<Drift>, usize), PlanError> {
    let mut drifts = Vec::new();
    let mut checked = 0;
    for plan in plans::list(db).await? {
        let Some(item) = plan.stripe_subscription_item.clone() else { continue };
        checked += 1;
        let paid_seats = plans::counts(db, &plan).await?.paid_seats;
        let drift = |stripe_quantity, error| Drift {
            plan_id: plan.id.to_string(),
            stripe_subscription_item: item.clone(),
            paid_seats,
            stripe_quantity,
            error,
        };
        match stripe.quantity(&item).await {
            Ok(quantity) if quantity == paid_seats => {}
            Ok(quantity) => drifts.push(drift(Some(quantity), None)),
            Err(err) => drifts.push(drift(None, Some(err.to_string()))),
        }
    }
    Ok((drifts, checked))
}
