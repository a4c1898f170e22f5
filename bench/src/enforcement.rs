//! `seatsync-bench enforcement`: the switch to enforcement on a large plan.
use crate::scratch::database_or_temp;
use anyhow::Context;
use sea_orm::TransactionTrait;
use seatsync::{
    db,
    db::DatabaseUrl,
    domain::{
        DirectoryId, DirectoryUserId, Email, EventId, Micros, OrganizationId, PlanId, Seat, Source, Tier, UserState,
    },
    seats::enforcement,
    store::{
        directory::{self, StoredUser},
        members::{self, Member},
        plans::{self, Plan},
    },
};
use std::time::Instant;

/// Enforcement on a plan of `members` manual paid members with `directory`
/// active directory users: the time of the one transaction that switches it.
pub async fn enforcement(members: u64, directory: u64, database_url: Option<String>) -> anyhow::Result<()> {
    let (url, _temp) = database_or_temp(database_url)?;
    let conn = db::connect(&DatabaseUrl::parse(&url).map_err(anyhow::Error::msg)?).await?;
    db::migrate(&conn).await?;
    let org = OrganizationId::parse(&format!("org_bench_{}", ulid::Ulid::new()))?;
    let plan = Plan::new(PlanId::generate(), "bench".into(), Some(org.clone()), 10);
    plans::insert(&conn, &plan).await?;
    let fill = Instant::now();
    let txn = conn.begin().await?;
    let seated: Vec<Member> = (0..members)
        .map(|i| Member {
            email: format!("member{i}@example.com"),
            seat: Seat { tier: Tier::Paid, source: Source::Manual },
            directory_user_id: None,
            updated_at: Micros(0),
        })
        .collect();
    members::put_many(&txn, &seated.iter().map(|m| (&plan.id, m)).collect::<Vec<_>>()).await?;
    let directory_id = DirectoryId::parse("directory_bench")?;
    let users = (0..directory)
        .map(|i| {
            Ok(StoredUser {
                id: DirectoryUserId::parse(&format!("directory_user_{org}_{i}"))?,
                directory: directory_id.clone(),
                organization: org.clone(),
                email: Email::parse(&format!("member{i}@example.com"))?,
                state: UserState::Active,
                updated_at: Micros(0),
                deleted: false,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    directory::upsert_users(&txn, &users.iter().collect::<Vec<_>>(), Micros::now()).await?;
    txn.commit().await?;
    let filled = fill.elapsed();

    let started = Instant::now();
    let change = seatsync::seats::unit::PlanChange::begin(&conn, &plan.id).await?.context("plan vanished")?;
    let now = Micros::now();
    enforcement::start(change.txn(), change.plan(), Some(&EventId::parse("event_bench")?), now).await?;
    change.commit(now).await?;
    let took = started.elapsed();
    let counts = plans::counts(&conn, &plans::find(&conn, &plan.id).await?.context("plan vanished")?).await?;
    println!(
        "enforcement: {} members, {} active directory users on {}: filled in {:.2}s; switch took {:.3}s; now {} paid, {} free",
        members,
        directory,
        url.split(':').next().unwrap_or("?"),
        filled.as_secs_f64(),
        took.as_secs_f64(),
        counts.paid_seats,
        counts.free_seats
    );
    Ok(())
}
