//! What approving a hold would do, found by doing it: the held events are
//! applied in order, without limit, exactly as the reconciler will apply them
//! after an approval, inside a transaction that is then rolled back. So the
//! emails shown (CONTRACT 3.3 `would_release`) are exactly those approving
//! through `through` (the last event held at this moment) moves from paid to
//! free, whatever the events are (renames, manual seats the rule keeps, a user
//! deactivated and reactivated among them). An approval names that event, so
//! events held after the operator read the preview are not approved with it.
use super::apply::{Scope, apply_command};
use crate::{
    domain::{EventId, Micros, Tier, order_key},
    events::{Envelope, translate},
    inbox::queue,
    store::{
        audit,
        plans::{self, Plan},
    },
};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
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
}

/// The plan's held events (how many, and the last of them), and the emails
/// approving through that last one would move from paid to free.
pub async fn would_release(db: &DatabaseConnection, plan: &Plan) -> Result<HeldPreview, DbErr> {
    let Some(org) = &plan.organization_id else { return Ok(HeldPreview::default()) };
    let txn = db.begin().await?;
    crate::db::plan_each_statement(&txn).await?;
    // The group's lock, then the plan's, in the order a batch takes them.
    queue::lock_group(&txn, &order_key::of_organization(org)).await?;
    // And the plan's, before the audit's last row is read: no other change of
    // the plan's seats can land among the rows this replay writes.
    plans::lock_by_id(&txn, &plan.id).await?;
    let held = queue::held_events(&txn, org).await?;
    let first_new = audit::last_seq(&txn, &plan.id).await?;
    let now = Micros::now();
    let mut scope = Scope::default();
    for (event_id, body) in &held {
        // An event that cannot be read fails when applied: it moves nothing.
        let (Ok(envelope), Ok(id)) = (Envelope::parse(body), EventId::parse(event_id)) else { continue };
        let Ok(command) = translate(&envelope) else { continue };
        apply_command(&txn, &mut scope, &command, Some(&id), now).await?;
    }
    let (changes, _) = audit::page(&txn, &plan.id, first_new, u32::MAX as u64).await?;
    txn.rollback().await?;
    // Per email, the tier before the first change and after the last.
    let mut moved: BTreeMap<String, (Option<Tier>, Tier)> = BTreeMap::new();
    for change in changes {
        moved.entry(change.email).and_modify(|(_, to)| *to = change.to).or_insert((change.from, change.to));
    }
    let emails = moved.into_iter().filter(|(_, (from, to))| *from == Some(Tier::Paid) && *to == Tier::Free);
    Ok(HeldPreview {
        held_events: held.len() as u64,
        through: held.last().map(|(event_id, _)| event_id.clone()),
        would_release: emails.map(|(email, _)| email).collect(),
    })
}
