//! Property: the seats after any set of deliveries (shuffled, duplicated, late)
//! equal the seats after delivering the newest state of each user once.
//!
//! Who pays is compared exactly, and so are tiers and sources of everyone the model
//! seats; a member only the shuffled run has (someone seen active, then not, on the
//! way) must be free. Thresholds are drawn so both runs agree on whether the plan
//! ends enforced: a transient count over the threshold that the final states do
//! not have would start enforcement in any real system too.
use crate::helpers::{Store, TestDatabase};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::DatabaseConnection;
use seatsync::{
    domain::EventId,
    inbox::{NewEvent, writer::store_batch},
    metrics::Metrics,
    operator::{self, NewPlan},
    reconcile,
};
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
struct Step {
    kind: &'static str,
    state: &'static str,
    alt_email: bool,
}

#[derive(Debug, Clone)]
struct Case {
    histories: Vec<Vec<Step>>,
    /// Manual seats before SCIM: (user index, paid?) and an outsider who is paid.
    manual: Vec<(usize, bool)>,
    threshold: u32,
    /// A permutation key per delivery, and which deliveries are sent twice.
    order: Vec<u32>,
    duplicates: Vec<bool>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![Just("created"), Just("updated"), Just("updated"), Just("deleted")],
        prop_oneof![Just("active"), Just("active"), Just("inactive"), Just("suspended")],
        prop::bool::weighted(0.2),
    )
        .prop_map(|(kind, state, alt_email)| Step { kind, state, alt_email })
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=7)
        .prop_flat_map(|users| {
            (
                prop::collection::vec(prop::collection::vec(step(), 1..=4), users),
                prop::collection::vec((0..users, any::<bool>()), 0..=3),
                prop_oneof![Just(1000u32), 0u32..users as u32],
                prop::collection::vec(any::<u32>(), 32),
                prop::collection::vec(prop::bool::weighted(0.3), 32),
            )
        })
        .prop_map(|(histories, manual, threshold, order, duplicates)| Case {
            histories,
            manual,
            threshold,
            order,
            duplicates,
        })
}

fn email(user: usize, alt: bool) -> String {
    if alt { format!("user{user}.alt@example.com") } else { format!("user{user}@example.com") }
}

struct Delivery {
    id: String,
    body: Vec<u8>,
}

/// Every event of every history; `newest` keeps only each user's last.
fn deliveries(case: &Case, org: &str, newest: bool) -> Vec<Delivery> {
    let mut out = Vec::new();
    for (user, history) in case.histories.iter().enumerate() {
        let skip = if newest { history.len() - 1 } else { 0 };
        for (n, step) in history.iter().enumerate().skip(skip) {
            let id = format!("event_{org}_{user}_{n}");
            let body = json!({
                "id": id,
                "event": format!("dsync.user.{}", step.kind),
                "data": {
                    "id": format!("directory_user_{org}_{user}"),
                    "directory_id": format!("directory_{org}"),
                    "organization_id": org,
                    "email": email(user, step.alt_email),
                    "state": step.state,
                    "updated_at": format!("2026-01-01T00:00:{:02}.000Z", n * 10),
                },
            });
            out.push(Delivery { id, body: body.to_string().into_bytes() });
        }
    }
    out
}

fn final_active(case: &Case) -> u32 {
    case.histories.iter().filter(|h| h.last().is_some_and(|s| s.kind != "deleted" && s.state == "active")).count()
        as u32
}

type Seats = BTreeMap<String, (String, String)>;

async fn run(
    db: &DatabaseConnection,
    case: &Case,
    org: &str,
    deliveries: Vec<Delivery>,
    shuffle: bool,
) -> (Seats, String) {
    let plan = operator::create(
        db,
        NewPlan {
            name: org.to_owned(),
            organization_id: Some(org.to_owned()),
            test_mode_max_users: Some(case.threshold.into()),
            external_id: None,
        },
        10,
    )
    .await
    .unwrap();
    // Users may flap many times here; the release guard is tested on its own.
    let no_guard = operator::PlanChanges { release_limit: Some(Some(0)), ..Default::default() };
    operator::update(db, &plan.id, no_guard).await.unwrap();
    for (user, paid) in &case.manual {
        operator::set_tier(
            db,
            &plan.id,
            &email(*user, false),
            if *paid { "paid" } else { "free" },
            seatsync::domain::Actor::Operator,
        )
        .await
        .unwrap();
    }
    operator::set_tier(db, &plan.id, "outsider@example.com", "paid", seatsync::domain::Actor::Operator).await.unwrap();

    let mut sends: Vec<(u32, &Delivery)> = Vec::new();
    for (i, d) in deliveries.iter().enumerate() {
        let key = if shuffle { case.order[i % case.order.len()].wrapping_add(i as u32) } else { i as u32 };
        sends.push((key, d));
        if shuffle && case.duplicates[i % case.duplicates.len()] {
            sends.push((key.rotate_left(7), d));
        }
    }
    sends.sort_by_key(|(key, _)| *key);
    let metrics = Metrics::default();
    // Interleave storing and applying, as live traffic does.
    for chunk in sends.chunks(3) {
        let events: Vec<NewEvent> = chunk
            .iter()
            .map(|(_, d)| NewEvent {
                event_id: EventId::parse(&d.id).unwrap(),
                event_type: serde_json::from_slice::<serde_json::Value>(&d.body).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                body: d.body.clone(),
                status: seatsync::domain::EventStatus::Pending,
                order_key: Some(format!("org:{org}")),
                traceparent: None,
            })
            .collect();
        store_batch(db, &events.iter().collect::<Vec<_>>()).await.unwrap();
        reconcile::drain(db, &metrics).await.unwrap();
    }
    let seats = operator::members(
        db,
        &plan.id,
        &seatsync::operator::MembersQuery { limit: Some("1000".into()), ..Default::default() },
    )
    .await
    .unwrap()
    .data
    .into_iter()
    .map(|m| (m.email, (m.tier, m.source)))
    .collect();
    (seats, operator::show(db, &plan.id).await.unwrap().mode)
}

fn compare(actual: &Seats, model: &Seats) -> Result<(), String> {
    for (email, seat) in model {
        match actual.get(email) {
            Some(found) if found == seat => {}
            other => return Err(format!("{email}: model {seat:?}, delivered {other:?}")),
        }
    }
    for (email, (tier, _)) in actual {
        if !model.contains_key(email) && tier != "free" {
            return Err(format!("{email} is {tier} only in the shuffled run"));
        }
    }
    Ok(())
}

fn property(store: Store, cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(TestDatabase::create(store));
    let db = rt.block_on(crate::helpers::migrated(&database));
    let counter = std::sync::atomic::AtomicU32::new(0);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&case(), |case| {
            if case.threshold < 1000 && final_active(&case) <= case.threshold {
                return Err(TestCaseError::reject("final count does not decide the mode"));
            }
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (shuffled_org, model_org) = (format!("org_s{n}"), format!("org_m{n}"));
            let (actual, actual_mode) =
                rt.block_on(run(&db, &case, &shuffled_org, deliveries(&case, &shuffled_org, false), true));
            let (model, model_mode) =
                rt.block_on(run(&db, &case, &model_org, deliveries(&case, &model_org, true), false));
            prop_assert_eq!(&actual_mode, &model_mode, "mode; seats {:?} vs {:?}", actual, model);
            compare(&actual, &model).map_err(TestCaseError::fail)?;
            Ok(())
        })
        .unwrap();
}

fn shuffled_and_duplicated_deliveries_give_the_in_order_seats(store: Store) {
    property(store, 48);
}

crate::both_stores_blocking!(shuffled_and_duplicated_deliveries_give_the_in_order_seats);
