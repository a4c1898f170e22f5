//! What approving a hold would do, found by doing it: the held events are
//! applied in order, without limit, exactly as the reconciler will apply them
//! after an approval, inside a transaction (or savepoint) that is then rolled
//! back. So the emails shown (CONTRACT 3.3 `would_release`, `would_grant`) are
//! exactly those approving through `through` (the last event held at this
//! moment) moves from paid to free or from free to paid, whatever the events
//! are (renames, manual seats the rule keeps, a user deactivated and
//! reactivated among them). An approval names that event, so events held after
//! the admin read the preview are not approved with it.
use super::{apply::apply_command, scope::Scope, unit::PlanChange};
use crate::{
    billing::{notice::Notice, outbox},
    domain::{EventId, HoldKind, Micros, Tier},
    events::{Envelope, translate},
    inbox::queue,
    store::{
        audit,
        plans::{self, Plan},
    },
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::collections::BTreeMap;

/// What approving a hold through its last held event would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldPreview {
    /// How many events are held.
    pub held_events: u64,
    /// The last held event, in stored order: what an approval names to apply
    /// exactly these. None when nothing is held.
    pub through: Option<String>,
    /// The emails approving through `through` would move from paid to free, sorted.
    pub would_release: Vec<String>,
    /// The emails approving through `through` would move to paid, sorted.
    pub would_grant: Vec<String>,
}

/// The plan's held events (how many, and the last of them), and the emails
/// approving through that last one would move, read in a transaction of its own.
pub async fn preview(db: &DatabaseConnection, plan: &Plan) -> Result<HeldPreview, DbErr> {
    if plan.organization_id.is_none() {
        return Ok(HeldPreview::default());
    }
    // The group's lock, then the plan's (`seats::unit`), before the audit's
    // last row is read: no other change of the plan's seats can land among
    // the rows this replay writes.
    let Some(change) = PlanChange::begin(db, &plan.id).await? else { return Ok(HeldPreview::default()) };
    let preview = replay(change.txn(), plan).await;
    change.rollback().await?;
    preview
}

/// `preview` inside a transaction that already holds the group's and the
/// plan's locks (a batch that just locked the plan): replayed in a savepoint,
/// rolled back.
pub async fn preview_within(c: &DatabaseTransaction, plan: &Plan) -> Result<HeldPreview, DbErr> {
    if plan.organization_id.is_none() {
        return Ok(HeldPreview::default());
    }
    let savepoint = c.begin().await?;
    let preview = replay(&savepoint, plan).await;
    savepoint.rollback().await?;
    preview
}

/// Applies the held events without limit and reads what moved; the caller
/// rolls back.
async fn replay(c: &impl ConnectionTrait, plan: &Plan) -> Result<HeldPreview, DbErr> {
    let Some(org) = &plan.organization_id else { return Ok(HeldPreview::default()) };
    let held = queue::held_events(c, org).await?;
    let first_new = audit::last_seq(c, &plan.id).await?;
    let now = Micros::now();
    let mut scope = Scope::default();
    for (event_id, body) in &held {
        // An event that cannot be read fails when applied: it moves nothing.
        let (Ok(envelope), Ok(id)) = (Envelope::parse(body), EventId::parse(event_id)) else { continue };
        let Ok(command) = translate(&envelope) else { continue };
        apply_command(c, &mut scope, &command, Some(&id), now).await?;
    }
    let (changes, _) = audit::page(c, &plan.id, first_new, u32::MAX as u64).await?;
    // Per email, the tier before the first change and after the last.
    let mut moved: BTreeMap<String, (Option<Tier>, Tier)> = BTreeMap::new();
    for change in changes {
        moved.entry(change.email).and_modify(|(_, to)| *to = change.to).or_insert((change.from, change.to));
    }
    let mut preview = HeldPreview {
        held_events: held.len() as u64,
        through: held.last().map(|(event_id, _)| event_id.clone()),
        ..HeldPreview::default()
    };
    for (email, (from, to)) in moved {
        match (from, to) {
            (Some(Tier::Paid), Tier::Free) => preview.would_release.push(email),
            (None | Some(Tier::Free), Tier::Paid) => preview.would_grant.push(email),
            _ => {}
        }
    }
    Ok(preview)
}

/// A hold that started in this transaction, told to billing with what
/// approving it would do (CONTRACT 7.1 `plan.hold.started`), after the plan's
/// seat message for the changes before it. The caller holds the locks.
pub async fn announce_hold(c: &DatabaseTransaction, plan: &Plan, now: Micros) -> Result<(), DbErr> {
    // The kind as stored: the first guard that stopped an event in this hold.
    let Some(stored) = plans::find(c, &plan.id).await? else { return Ok(()) };
    let kind = stored.hold_kind.unwrap_or(HoldKind::Release);
    let preview = preview_within(c, &stored).await?;
    let notice = Notice::HoldStarted {
        kind,
        through: preview.through.unwrap_or_default(),
        held_events: preview.held_events,
        emails: match kind {
            HoldKind::Release => preview.would_release,
            HoldKind::Grant => preview.would_grant,
        },
    };
    outbox::notify(c, &plan.id, &notice, now).await.map(|_| ())
}
