//! Operator use cases on plans, shared by the admin API and `seatsync plans`.
pub mod billing_targets;
pub mod outbound;
pub mod portal;
pub mod scim;
pub mod views;

use crate::{
    billing::{notice::Notice, outbox},
    domain::{Actor, Email, Micros, OrganizationId, PlanId, Source, Tier},
    inbox::queue,
    metrics::Metrics,
    reconcile::worker::{self, BatchLimits},
    seats::{enforcement, hold_preview, manual, unit::PlanChange},
    store::{audit, members, plans},
};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
pub use views::{AuditPage, HistoryPoint, HistoryView, HoldView, MemberPage, MemberView, PlanView, PreviewView};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("organization {0} already has a plan")]
    PlanExists(String),
    #[error(
        "the directory decides this seat: active directory users are paid, and while the plan is enforced only they are"
    )]
    SeatManagedByDirectory,
    #[error("{0}")]
    BadRequest(String),
    #[error("nothing is held for this plan")]
    NoHold,
    #[error("no billing target is configured (BILLING_WEBHOOK_URL, STRIPE_API_KEY)")]
    BillingNotConfigured,
    #[error("this message was delivered; send the plan's current seats with billing/resend")]
    AlreadyDelivered,
    #[error("database error")]
    Database(#[from] DbErr),
}

#[derive(Debug, Clone, Default)]
pub struct NewPlan {
    pub name: String,
    /// None: the organization comes later, from "Configure SCIM".
    pub organization_id: Option<String>,
    pub test_mode_max_users: Option<i64>,
    /// The product's own id for the customer (unique when set).
    pub external_id: Option<String>,
}

pub async fn create(db: &DatabaseConnection, new: NewPlan, default_max: u32) -> Result<PlanView, PlanError> {
    let name = valid_name(&new.name)?;
    let org = new.organization_id.as_deref().map(valid_organization).transpose()?;
    let external_id = new.external_id.as_deref().map(valid_external_id).transpose()?;
    let max = match new.test_mode_max_users {
        None => default_max,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n <= i32::MAX as u32)
            .ok_or_else(|| PlanError::BadRequest("test_mode_max_users must be a whole number, at least 0".into()))?,
    };
    // One transaction from the first read: on SQLite every use of the pool
    // waits for its one connection behind the reconciler's batch, and a
    // creation that asked twice waited twice (110 to 190 ms a plan in the
    // initial-sync bench, where 50 customers create plans as users arrive).
    let txn = db.begin().await?;
    crate::db::write_first(&txn).await?;
    if let Some(org) = &org
        && plans::find_by_org(&txn, org).await?.is_some()
    {
        return Err(PlanError::PlanExists(org.to_string()));
    }
    if let Some(external_id) = &external_id
        && plans::find_by_external_id(&txn, external_id).await?.is_some()
    {
        return Err(PlanError::PlanExists(format!("external id {external_id}")));
    }
    let plan = plans::Plan {
        external_id: external_id.clone(),
        ..plans::Plan::new(PlanId::generate(), name, org.clone(), max)
    };
    match plans::insert(&txn, &plan).await {
        Ok(()) => {}
        // Two creations raced: a unique key (organization, external id) decided.
        Err(err) if crate::db::is_unique_violation(&err) => {
            let which = org.map(|o| o.to_string()).or(external_id.map(|e| format!("external id {e}")));
            return Err(PlanError::PlanExists(which.unwrap_or_default()));
        }
        Err(err) => return Err(err.into()),
    }
    // Events that waited for this plan are next in their organization's order,
    // from the moment it exists.
    if let Some(org) = &org {
        queue::unpark_organization(&txn, org).await?;
    }
    txn.commit().await?;
    Ok(PlanView::new(&plan, plans::Counts::default()))
}

pub fn parse_plan_id(raw: &str) -> Result<PlanId, PlanError> {
    PlanId::parse(raw).map_err(|_| PlanError::NotFound("plan"))
}

pub(crate) async fn existing(db: &DatabaseConnection, id: &str) -> Result<plans::Plan, PlanError> {
    plans::find(db, &parse_plan_id(id)?).await?.ok_or(PlanError::NotFound("plan"))
}

pub async fn show(db: &DatabaseConnection, id: &str) -> Result<PlanView, PlanError> {
    let plan = existing(db, id).await?;
    let counts = plans::counts(db, &plan).await?;
    let follows_item = plan.stripe_subscription_item.is_some();
    Ok(PlanView {
        hold: hold_view(db, &plan).await?,
        billing: outbound::billing_view(db, &plan.id, counts.paid_seats, follows_item).await?,
        ..PlanView::new(&plan, counts)
    })
}

/// The hold, if the plan has one: its held events, the last of them
/// (`through`) and the paid members approving through it would move to free
/// (`seats::hold_preview`).
async fn hold_view(db: &DatabaseConnection, plan: &plans::Plan) -> Result<Option<HoldView>, PlanError> {
    let Some(since) = plan.hold_since else { return Ok(None) };
    let preview = hold_preview::preview(db, plan).await?;
    Ok(Some(HoldView {
        kind: plan.hold_kind.unwrap_or(crate::domain::HoldKind::Release).as_str().to_owned(),
        since: since.to_rfc3339(),
        held_events: preview.held_events,
        through: preview.through,
        would_release: preview.would_release,
        would_grant: preview.would_grant,
    }))
}

/// How long an approval applies the approved events itself before it answers
/// with the plan as it stands (the reconciler applies the rest).
const APPLY_APPROVED_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// `POST /admin/plans/{id}/hold/approve {"through"}`: exactly the held events
/// stored up to and including `through` are applied, in order and without
/// limit, and the guard counts from zero after them; later held events are
/// judged again by the guard (they may apply, or hold again). Answers with the
/// plan after the approved events are applied (`limits` and `metrics`: the
/// reconciler's, which applies them).
pub async fn approve_hold(
    db: &DatabaseConnection,
    id: &str,
    through: Option<&str>,
    by: Actor,
    limits: BatchLimits,
    metrics: &Metrics,
) -> Result<PlanView, PlanError> {
    let found = existing(db, id).await?;
    let through = through.map(str::trim).filter(|t| !t.is_empty()).ok_or_else(|| {
        PlanError::BadRequest(
            "through is required: the id of the last held event the plan showed (hold.through); \
             exactly the held events up to it are approved"
                .into(),
        )
    })?;
    // Only a plan with an organization ever receives events, so only it can hold.
    let Some(org) = found.organization_id.clone() else { return Err(PlanError::NoHold) };
    let change = PlanChange::begin(db, &found.id).await?.ok_or(PlanError::NotFound("plan"))?;
    let (txn, plan) = (change.txn(), change.plan().clone());
    if plan.hold_since.is_none() {
        return Err(PlanError::NoHold);
    }
    let Some(through_seq) = queue::held_seq(txn, &org, through).await? else {
        return Err(PlanError::BadRequest(format!(
            "through must be a held event of this plan; {through:?} is not (read the plan again: hold.through)"
        )));
    };
    let released = queue::release_held_through(txn, &org, through_seq).await?;
    plans::approve_hold(txn, &plan.id).await?;
    let notice = Notice::HoldApproved { through: through.to_owned(), by };
    let now = Micros::now();
    outbox::notify(txn, &plan.id, &notice, now).await?;
    change.commit(now).await?;
    tracing::warn!(
        plan_id = %plan.id,
        through,
        by = by.as_str(),
        approved_events = released.approved,
        judged_again = released.rejudged,
        "release guard: hold approved"
    );
    let applied = worker::apply_approved(db, metrics, limits, &org, through_seq, APPLY_APPROVED_WITHIN).await;
    if !applied {
        tracing::warn!(plan_id = %plan.id, "approved events not all applied yet; the reconciler goes on with them");
    }
    show(db, id).await
}

/// `PATCH /admin/plans/{id}`: `None` leaves a field as it is; `release_limit`
/// `Some(None)` goes back to the default.
#[derive(Debug, Default, Clone)]
pub struct PlanChanges {
    pub name: Option<String>,
    /// `Some(None)` removes it.
    pub external_id: Option<Option<String>>,
    pub test_mode_max_users: Option<i64>,
    pub release_limit: Option<Option<i64>>,
    /// `Some(None)` turns the grant guard off.
    pub grant_limit: Option<Option<i64>>,
    /// `Some(None)` stops following a Stripe item.
    pub stripe_subscription_item: Option<Option<String>>,
}

pub async fn update(db: &DatabaseConnection, id: &str, changes: PlanChanges) -> Result<PlanView, PlanError> {
    let plan_id = parse_plan_id(id)?;
    let name = changes.name.as_deref().map(valid_name).transpose()?;
    let max = changes.test_mode_max_users.map(valid_threshold).transpose()?;
    let external_id = match changes.external_id {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(valid_external_id(&raw)?)),
    };
    let stripe_item = match changes.stripe_subscription_item {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) if crate::billing::stripe::valid_item(raw.trim()) => Some(Some(raw.trim().to_owned())),
        Some(Some(_)) => {
            return Err(PlanError::BadRequest(
                "stripe_subscription_item must be null or si_ followed by letters and digits".into(),
            ));
        }
    };
    let release_limit = match changes.release_limit {
        None => None,
        Some(None) => Some(None),
        Some(Some(n)) => Some(Some(u32::try_from(n).ok().filter(|n| *n <= i32::MAX as u32).ok_or_else(|| {
            PlanError::BadRequest("release_limit must be null or a whole number, at least 0".into())
        })?)),
    };
    let grant_limit =
        match changes.grant_limit {
            None => None,
            Some(None) => Some(None),
            Some(Some(n)) => Some(Some(u32::try_from(n).ok().filter(|n| *n <= i32::MAX as u32).ok_or_else(|| {
                PlanError::BadRequest("grant_limit must be null or a whole number, at least 0".into())
            })?)),
        };
    // The unique keys, checked first for a precise answer.
    let sets_external_id = matches!(external_id, Some(Some(_)));
    if let Some(Some(external_id)) = &external_id
        && plans::find_by_external_id(db, external_id).await?.is_some_and(|other| other.id != plan_id)
    {
        return Err(PlanError::PlanExists(format!("external id {external_id}")));
    }
    if let Some(Some(item)) = &stripe_item
        && plans::find_by_stripe_item(db, item).await?.is_some_and(|other| other.id != plan_id)
    {
        return Err(PlanError::BadRequest("this Stripe subscription item is already another plan's".into()));
    }
    let mut change = PlanChange::begin(db, &plan_id).await?.ok_or(PlanError::NotFound("plan"))?;
    let plan = change.plan_mut();
    if let Some(name) = name {
        plan.name = name;
    }
    if let Some(max) = max {
        plan.test_mode_max_users = max;
    }
    if let Some(external_id) = external_id {
        plan.external_id = external_id;
    }
    if let Some(limit) = release_limit {
        plan.release_limit = limit;
    }
    if let Some(limit) = grant_limit {
        plan.grant_limit = limit;
    }
    let (item_set, item_unset) = match stripe_item {
        Some(item) => {
            let changed = plan.stripe_subscription_item != item;
            plan.stripe_subscription_item = item;
            (changed && plan.stripe_subscription_item.is_some(), changed && plan.stripe_subscription_item.is_none())
        }
        None => (false, false),
    };
    let plan = plan.clone();
    let txn = change.txn();
    match plans::update_settings(txn, &plan).await {
        Ok(()) => {}
        // Taken meanwhile (both were checked first): which key, as checked.
        Err(err) if crate::db::is_unique_violation(&err) => {
            return Err(match plan.external_id {
                Some(external_id) if sets_external_id => PlanError::PlanExists(format!("external id {external_id}")),
                _ => PlanError::BadRequest("this Stripe subscription item is already another plan's".into()),
            });
        }
        Err(err) => return Err(err.into()),
    }
    // A lower threshold may be passed already: enforcement starts now, audited.
    let now = Micros::now();
    enforcement::start_if_due(txn, &plan, None, now).await?;
    // Its seat message before the new item's current count.
    change.announce(now).await?;
    if item_set {
        // A new item gets the current count at once (CONTRACT 7.2); what was
        // still to send to the old one is not sent to the new one.
        crate::store::outbound::supersede_all(txn, &plan.id, crate::domain::Target::Stripe).await?;
        outbox::resend(txn, &plan.id, Some(crate::domain::Target::Stripe), now).await?;
    }
    if item_unset {
        // Nothing to keep equal any more: what was still to send is not sent.
        crate::store::outbound::supersede_all(txn, &plan.id, crate::domain::Target::Stripe).await?;
    }
    change.commit(now).await?;
    show(db, id).await
}

/// The product's own id for a customer: 1 to 200 printable characters, kept
/// exactly as given (CONTRACT 3.3).
fn valid_external_id(raw: &str) -> Result<String, PlanError> {
    let ok = !raw.is_empty()
        && raw.chars().count() <= 200
        && raw.chars().all(|c| !c.is_control())
        && raw.trim() == raw
        && crate::domain::text::is_plain(raw);
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(PlanError::BadRequest(
            "external_id must be 1 to 200 printable characters, without leading or trailing spaces".into(),
        ))
    }
}

fn valid_name(raw: &str) -> Result<String, PlanError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || !crate::domain::text::is_plain(name) {
        return Err(PlanError::BadRequest("name must be 1 to 200 characters, without control characters".into()));
    }
    Ok(name.to_owned())
}

/// A WorkOS organization id: `org_` and letters and digits (CONTRACT 3.3).
pub(crate) fn valid_organization(raw: &str) -> Result<OrganizationId, PlanError> {
    let rest = raw.strip_prefix("org_").unwrap_or("");
    if rest.is_empty() || rest.len() > 250 || !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PlanError::BadRequest("organization_id must be org_ followed by letters and digits".into()));
    }
    OrganizationId::parse(raw).map_err(|e| PlanError::BadRequest(format!("organization_id: {e}")))
}

fn valid_threshold(n: i64) -> Result<u32, PlanError> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= i32::MAX as u32)
        .ok_or_else(|| PlanError::BadRequest("test_mode_max_users must be a whole number, at least 0".into()))
}

/// Every plan (`seatsync plans list`): the admin list's pages, one after
/// another.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<PlanView>, PlanError> {
    let mut out = Vec::new();
    let mut query = PlansQuery { limit: Some(PLANS_MAX_LIMIT.to_string()), ..Default::default() };
    loop {
        let page = list_page(db, &query).await?;
        out.extend(page.data);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(out),
        }
    }
}

/// `GET /admin/plans` as it arrives: every field raw text.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlansQuery {
    /// The `next` of the previous page (a plan id).
    pub after: Option<String>,
    /// Plans per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Text the name or the organization id contains (case-insensitive).
    pub q: Option<String>,
    /// `test` or `enforced`.
    pub mode: Option<String>,
    /// `true`: only plans on hold (`false`: only plans not on hold).
    pub hold: Option<String>,
    /// `in_sync`, `pending` or `failing`: plans whose billing is in that
    /// state for some configured target (`failing` first, then `pending`).
    pub billing: Option<String>,
    /// The product's own id: finds the one plan that carries it.
    pub external_id: Option<String>,
}

/// One page of plans, sorted by name then id.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PlanPage {
    pub data: Vec<PlanView>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next: Option<String>,
}

pub const PLANS_DEFAULT_LIMIT: u64 = 100;
pub const PLANS_MAX_LIMIT: u64 = 1000;

/// The state a plan's billing is filtered by: the worst of its targets'.
fn billing_state(view: &PlanView) -> Option<&str> {
    let states: Vec<&str> =
        [&view.billing.webhook, &view.billing.stripe].into_iter().flatten().map(|t| t.state.as_str()).collect();
    ["failing", "pending", "in_sync"].into_iter().find(|s| states.contains(s))
}

/// `GET /admin/plans` (CONTRACT 3.3): a page after the cursor, filtered.
pub async fn list_page(db: &DatabaseConnection, query: &PlansQuery) -> Result<PlanPage, PlanError> {
    let present = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let bad = |m: &str| PlanError::BadRequest(m.to_owned());
    let limit = match present(&query.limit) {
        None => PLANS_DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=PLANS_MAX_LIMIT).contains(n))
            .ok_or_else(|| bad(&format!("limit must be between 1 and {PLANS_MAX_LIMIT}")))?,
    };
    let contains = match present(&query.q) {
        Some(q) if q.chars().count() > 200 || !crate::domain::text::is_plain(&q) => {
            return Err(bad("q must be at most 200 printable characters"));
        }
        q => q.map(|q| q.to_lowercase()),
    };
    let mode = present(&query.mode)
        .map(|m| crate::domain::PlanMode::parse(&m).ok_or_else(|| bad("mode must be test or enforced")))
        .transpose()?;
    let hold = match present(&query.hold).as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(bad("hold must be true or false")),
    };
    let billing = match present(&query.billing).as_deref() {
        None => None,
        Some(state @ ("in_sync" | "pending" | "failing")) => Some(state.to_owned()),
        Some(_) => return Err(bad("billing must be in_sync, pending or failing")),
    };
    let after = match present(&query.after) {
        None => None,
        Some(raw) => {
            let id = PlanId::parse(&raw).map_err(|_| bad("after must be the next of a previous page"))?;
            if plans::find(db, &id).await?.is_none() {
                return Err(bad("after must be the next of a previous page"));
            }
            Some(id)
        }
    };
    let mut filter = plans::PlanFilter { contains, mode, hold, external_id: present(&query.external_id), after };
    // Without a billing filter one read of limit + 1 plans; with one, the
    // plans are read in pages until enough match (billing state is derived).
    let chunk = if billing.is_some() { limit.max(200) } else { limit + 1 };
    let mut data: Vec<PlanView> = Vec::new();
    let mut more = false;
    loop {
        let found = plans::page(db, &filter, chunk).await?;
        let exhausted = (found.len() as u64) < chunk;
        let counts = plans::counts_for(db, &found).await?;
        let paid = |plan: &plans::Plan| counts.get(&plan.id).copied().unwrap_or_default();
        let wanted: Vec<(PlanId, u64, bool)> =
            found.iter().map(|p| (p.id.clone(), paid(p).paid_seats, p.stripe_subscription_item.is_some())).collect();
        let mut billing_of = outbound::billing_views(db, &wanted).await?;
        for plan in &found {
            let counts = paid(plan);
            let view = PlanView {
                hold: hold_view(db, plan).await?,
                billing: billing_of.remove(&plan.id).unwrap_or_default(),
                ..PlanView::new(plan, counts)
            };
            if billing.as_deref().is_some_and(|wanted| billing_state(&view) != Some(wanted)) {
                continue;
            }
            if data.len() as u64 == limit {
                more = true;
                break;
            }
            data.push(view);
        }
        if more || exhausted {
            break;
        }
        filter.after = found.last().map(|p| p.id.clone());
    }
    let next = if more { data.last().map(|p| p.id.clone()) } else { None };
    Ok(PlanPage { data, next })
}

pub const HISTORY_DEFAULT_POINTS: u64 = 200;
pub const HISTORY_MAX_POINTS: u64 = 1000;

/// The plan's paid seats over its whole audit at up to `points` evenly spaced
/// moments, the last one now: one index lookup a point, so its cost grows
/// with `points`, never with the audit's length.
pub async fn history(db: &DatabaseConnection, id: &str, points: Option<&str>) -> Result<HistoryView, PlanError> {
    let plan = existing(db, id).await?;
    let points = match points.map(str::trim).filter(|p| !p.is_empty()) {
        None => HISTORY_DEFAULT_POINTS,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=HISTORY_MAX_POINTS).contains(n))
            .ok_or_else(|| PlanError::BadRequest(format!("points must be between 1 and {HISTORY_MAX_POINTS}")))?,
    };
    let now = Micros::now();
    let Some(first) = audit::first_at(db, &plan.id).await? else {
        return Ok(HistoryView { points: vec![HistoryPoint { at: now.to_rfc3339(), paid_seats: 0 }] });
    };
    let span = (now.0 - first.0).max(0);
    // The first point is the audit's beginning, the last now; a plan whose
    // whole audit is one moment has one point.
    let n = if span == 0 { 1 } else { points as i64 };
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at =
            if n == 1 { now } else { Micros(first.0 + (i128::from(span) * i128::from(i) / i128::from(n - 1)) as i64) };
        out.push(HistoryPoint { at: at.to_rfc3339(), paid_seats: audit::paid_at(db, &plan.id, at).await? });
    }
    Ok(HistoryView { points: out })
}

pub const MEMBERS_DEFAULT_LIMIT: u64 = 100;
pub const MEMBERS_MAX_LIMIT: u64 = 1000;

/// `GET /admin/plans/{id}/members` as it arrives: every field raw text.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// The `next` of the previous page (an email).
    pub after: Option<String>,
    /// Members per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// `paid` or `free`.
    pub tier: Option<String>,
    /// `manual` or `directory`.
    pub source: Option<String>,
    /// Text the email contains.
    pub q: Option<String>,
}

/// One page of members, sorted by email, with the cursor of the next.
pub async fn members(db: &DatabaseConnection, id: &str, query: &MembersQuery) -> Result<MemberPage, PlanError> {
    let plan = existing(db, id).await?;
    let bad = |m: &str| PlanError::BadRequest(m.to_owned());
    let present = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
    let limit = match present(&query.limit) {
        None => MEMBERS_DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MEMBERS_MAX_LIMIT).contains(n))
            .ok_or_else(|| PlanError::BadRequest(format!("limit must be between 1 and {MEMBERS_MAX_LIMIT}")))?,
    };
    let text = |name: &str, v: Option<String>| match v {
        Some(v) if v.chars().count() > 320 || !crate::domain::text::is_plain(&v) => {
            Err(bad(&format!("{name} must be at most 320 printable characters")))
        }
        other => Ok(other),
    };
    let filter = members::MemberFilter {
        after: text("after", present(&query.after))?,
        tier: present(&query.tier)
            .map(|t| Tier::parse(&t).ok_or_else(|| bad("tier must be paid or free")))
            .transpose()?,
        source: present(&query.source)
            .map(|s| Source::parse(&s).ok_or_else(|| bad("source must be manual or directory")))
            .transpose()?,
        contains: text("q", present(&query.q))?.map(|q| q.to_lowercase()),
    };
    let (found, more) = members::page(db, &plan.id, &filter, limit).await?;
    Ok(MemberPage::new(&found, more))
}

/// Adds or changes a member by hand, under the rule's constraints.
pub async fn set_tier(
    db: &DatabaseConnection,
    id: &str,
    email: &str,
    tier: &str,
    by: Actor,
) -> Result<MemberView, PlanError> {
    let plan_id = parse_plan_id(id)?;
    let email = Email::parse(email).map_err(|e| PlanError::BadRequest(e.to_string()))?;
    let tier = Tier::parse(tier).ok_or_else(|| PlanError::BadRequest("tier must be \"paid\" or \"free\"".into()))?;
    let change = PlanChange::begin(db, &plan_id).await?.ok_or(PlanError::NotFound("plan"))?;
    let (txn, plan) = (change.txn(), change.plan());
    let now = Micros::now();
    manual::set_tier(txn, plan, &email, tier, by, now).await?.map_err(|_| PlanError::SeatManagedByDirectory)?;
    let member = members::get(txn, &plan.id, &email).await?.ok_or(PlanError::NotFound("member"))?;
    change.commit(now).await?;
    Ok(MemberView::from(&member))
}

pub async fn preview(db: &DatabaseConnection, id: &str) -> Result<PreviewView, PlanError> {
    let plan = existing(db, id).await?;
    Ok(enforcement::preview(db, &plan).await?.into())
}

pub const AUDIT_DEFAULT_LIMIT: u64 = 100;
pub const AUDIT_MAX_LIMIT: u64 = 1000;

pub async fn audit(
    db: &DatabaseConnection,
    id: &str,
    after: Option<&str>,
    limit: Option<&str>,
) -> Result<AuditPage, PlanError> {
    let plan = existing(db, id).await?;
    let after = match after {
        None | Some("") => 0,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| PlanError::BadRequest("after must be a cursor from a previous page".into()))?,
    };
    let limit = match limit {
        None | Some("") => AUDIT_DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=AUDIT_MAX_LIMIT).contains(n))
            .ok_or_else(|| PlanError::BadRequest(format!("limit must be between 1 and {AUDIT_MAX_LIMIT}")))?,
    };
    let (entries, more) = audit::page(db, &plan.id, after, limit).await?;
    Ok(AuditPage::new(&entries, more))
}
