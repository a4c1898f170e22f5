//! A seat set by hand (an operator, the admin API, the customer's plan
//! portal), under the rule's constraints (`rule::manual_seat`), inside the
//! caller's seat change (`unit::PlanChange`).
use super::rule::{self, SeatManagedByDirectory};
use crate::{
    domain::{Actor, Email, Micros, Reason, Source, Tier},
    store::{audit, members, plans::Plan},
};
use sea_orm::{ConnectionTrait, DbErr};

/// Gives `email` the `tier` asked for on `plan`, audited with `by`; `Err` when
/// the directory decides this seat and nothing was written.
pub async fn set_tier(
    c: &impl ConnectionTrait,
    plan: &Plan,
    email: &Email,
    tier: Tier,
    by: Actor,
    now: Micros,
) -> Result<Result<(), SeatManagedByDirectory>, DbErr> {
    let members::SeatInputs { active, link, member: current } =
        members::seat_inputs(c, &plan.id, plan.organization_id.as_ref(), email).await?;
    let seat = match rule::manual_seat(plan.mode, tier, active) {
        Ok(seat) => seat,
        Err(refused) => return Ok(Err(refused)),
    };
    members::put(c, &plan.id, email, seat, link.as_deref(), now).await?;
    let from = current.as_ref().map(|m| m.seat.tier);
    // A tier change is audited; so is a directory-granted paid seat made the
    // member's own (`from` = `to`), since it changes what a later deactivation does.
    let taken_over = current.as_ref().is_some_and(|m| m.seat.source != seat.source && m.seat.tier == seat.tier)
        && seat.source == Source::Manual;
    if from != Some(tier) || taken_over {
        audit::record(
            c,
            &audit::Change {
                plan: &plan.id,
                email,
                from,
                to: tier,
                reason: Reason::Manual,
                event_id: None,
                at: now,
                actor: Some(by),
            },
        )
        .await?;
    }
    Ok(Ok(()))
}
