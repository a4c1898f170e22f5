//! One path, one answer (CONTRACT 4): random event sequences for two
//! organizations, applied one at a time and through the batched path with
//! random batch boundaries, end in the same members, audit rows, event
//! statuses, holds and modes.
//!
//! The release guard runs with a small minimum and a high share (2 seats, 50%),
//! so its limit is decided by the paid seats at each event, and holds happen
//! often: a batch that took its limit from the seats before its own grants (the
//! bug of issue 22, item 3) differs here within a few cases.
use crate::helpers::{Store, TestDatabase};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use seatsync::{
    domain::{EventId, EventStatus},
    inbox::{NewEvent, writer::store_batch},
    metrics::Metrics,
    operator::{self, NewPlan},
    reconcile::{self, worker::BatchLimits},
    seats::guard::GuardSettings,
};
use serde_json::json;
use std::time::Duration;

const ORGS: usize = 2;
const USERS: usize = 12;

#[derive(Debug, Clone)]
enum Action {
    /// A user's new state: `kind` created/updated/deleted, `time` its
    /// `updated_at` in seconds (not always increasing: late retries are stale).
    /// `shared`: the user's id is not the organization's own, so it can move
    /// between organizations (set by the fixed cases below, not generated).
    User {
        org: usize,
        user: usize,
        kind: &'static str,
        state: &'static str,
        alt_email: bool,
        time: u32,
        legacy: bool,
        shared: bool,
    },
    /// Several users of one organization changed at once (an initial sync, a
    /// group unassigned): users `first..first + count`, each active or not.
    Burst { org: usize, first: usize, count: usize, active: bool, time: u32 },
    /// An earlier action delivered again (same event id).
    Again(usize),
    /// `dsync.activated` or `dsync.deleted` for one of the organization's two directories.
    Directory { org: usize, dir: usize, deleted: bool },
    /// An operator approves the organization's hold, if it has one.
    Approve { org: usize },
    /// A user event that cannot be applied (no email): `failed`, or held
    /// behind a hold like any other.
    Unusable { org: usize },
}

#[derive(Debug, Clone)]
struct PlanSetup {
    threshold: u32,
    release_limit: Option<u32>,
    /// The grant guard (CONTRACT 4.1): None is off.
    grant_limit: Option<u32>,
    /// Users (by index) set by hand before any event, paid or free.
    manual: Vec<(usize, bool)>,
}

#[derive(Debug, Clone)]
struct Case {
    plans: Vec<PlanSetup>,
    actions: Vec<Action>,
    /// Where the batched run cuts (a delivery index starts a new batch when set).
    cuts: Vec<bool>,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        12 => (
            0..ORGS,
            0..USERS,
            prop_oneof![Just("created"), Just("updated"), Just("updated"), Just("deleted")],
            prop_oneof![Just("active"), Just("active"), Just("active"), Just("inactive"), Just("suspended")],
            prop::bool::weighted(0.15),
            0u32..400,
            prop::bool::weighted(0.1),
        )
            .prop_map(|(org, user, kind, state, alt_email, time, legacy)| Action::User {
                org,
                user,
                kind,
                state,
                alt_email,
                time,
                legacy,
                shared: false,
            }),
        8 => (0..ORGS, 0..USERS, 3usize..10, prop::bool::weighted(0.6), 0u32..400)
            .prop_map(|(org, first, count, active, time)| Action::Burst { org, first, count, active, time }),
        2 => (0usize..1000).prop_map(Action::Again),
        1 => (0..ORGS, 0usize..2, prop::bool::weighted(0.3))
            .prop_map(|(org, dir, deleted)| Action::Directory { org, dir, deleted }),
        1 => (0..ORGS).prop_map(|org| Action::Approve { org }),
        1 => (0..ORGS).prop_map(|org| Action::Unusable { org }),
    ]
}

fn plan_setup() -> impl Strategy<Value = PlanSetup> {
    (
        prop_oneof![Just(1000u32), Just(2u32), Just(4u32), Just(6u32)],
        prop_oneof![Just(None), Just(None), Just(Some(0u32)), Just(Some(1u32)), Just(Some(3u32))],
        prop::collection::vec((0..USERS, any::<bool>()), 0..=3),
        prop_oneof![Just(None), Just(None), Just(Some(1u32)), Just(Some(4u32))],
    )
        .prop_map(|(threshold, release_limit, manual, grant_limit)| PlanSetup {
            threshold,
            release_limit,
            grant_limit,
            manual,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(plan_setup(), ORGS),
        prop::collection::vec(action(), 10..60),
        prop::collection::vec(prop::bool::weighted(0.1), 60),
    )
        .prop_map(|(plans, actions, cuts)| Case { plans, actions, cuts })
}

fn org_id(run: &str, org: usize) -> String {
    format!("org_{run}{org}")
}

fn email(user: usize, alt: bool) -> String {
    if alt { format!("user{user}.alt@example.com") } else { format!("user{user}@example.com") }
}

fn stamp(seconds: u32) -> String {
    format!("2026-01-01T{:02}:{:02}:{:02}.000Z", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// What the run does at one step: deliver (store) an event, or approve a hold.
enum Step {
    Deliver(NewEvent),
    Approve(usize),
}

fn steps(case: &Case, run: &str) -> Vec<Step> {
    let mut delivered: Vec<NewEvent> = Vec::new();
    let mut out = Vec::new();
    for (i, action) in case.actions.iter().enumerate() {
        let event_id = format!("event_{run}_{i:03}");
        let (event_type, data) = match action {
            Action::User { org, user, kind, state, alt_email, time, legacy, shared } => {
                let id = if *shared {
                    format!("directory_user_{run}shared_{user}")
                } else {
                    format!("directory_user_{run}{org}_{user}")
                };
                let mut data = json!({
                    "id": id,
                    "directory_id": format!("directory_{run}{org}_{}", user % 2),
                    "email": email(*user, *alt_email),
                    "state": state,
                    "updated_at": stamp(*time),
                });
                if !legacy {
                    data["organization_id"] = json!(org_id(run, *org));
                }
                (format!("dsync.user.{kind}"), data)
            }
            Action::Directory { org, dir, deleted } => (
                if *deleted { "dsync.deleted" } else { "dsync.activated" }.to_owned(),
                json!({
                    "object": "directory",
                    "id": format!("directory_{run}{org}_{dir}"),
                    "organization_id": org_id(run, *org),
                    "state": if *deleted { "deleting" } else { "active" },
                }),
            ),
            Action::Burst { org, first, count, active, time } => {
                for k in 0..*count {
                    let user = (first + k) % USERS;
                    let event_id = format!("event_{run}_{i:03}_{k}");
                    let data = json!({
                        "id": format!("directory_user_{run}{org}_{user}"),
                        "directory_id": format!("directory_{run}{org}_{}", user % 2),
                        "organization_id": org_id(run, *org),
                        "email": email(user, false),
                        "state": if *active { "active" } else { "inactive" },
                        "updated_at": stamp(time + k as u32),
                    });
                    let kind = if *active { "dsync.user.created" } else { "dsync.user.updated" };
                    let body = json!({"id": event_id, "event": kind, "data": data}).to_string().into_bytes();
                    let envelope = seatsync::events::Envelope::parse(&body).unwrap();
                    let event = NewEvent::from_envelope(EventId::parse(&event_id).unwrap(), envelope, body);
                    delivered.push(event.clone());
                    out.push(Step::Deliver(event));
                }
                continue;
            }
            Action::Again(n) => {
                if delivered.is_empty() {
                    continue;
                }
                let again = delivered[n % delivered.len()].clone();
                out.push(Step::Deliver(again));
                continue;
            }
            Action::Approve { org } => {
                out.push(Step::Approve(*org));
                continue;
            }
            Action::Unusable { org } => (
                "dsync.user.updated".to_owned(),
                json!({
                    "id": format!("directory_user_{run}{org}_x"),
                    "directory_id": format!("directory_{run}{org}_0"),
                    "organization_id": org_id(run, *org),
                    "state": "inactive",
                    "updated_at": stamp(0),
                }),
            ),
        };
        let body = json!({"id": event_id, "event": event_type, "data": data}).to_string().into_bytes();
        let envelope = seatsync::events::Envelope::parse(&body).unwrap();
        let event = NewEvent::from_envelope(EventId::parse(&event_id).unwrap(), envelope, body);
        delivered.push(event.clone());
        out.push(Step::Deliver(event));
    }
    out
}

/// One plan at the end: mode, hold (kind, held events), members `(email,
/// tier, source)`, audit rows `email from->to reason event`.
type PlanEnd = (String, Option<(String, u64)>, Vec<(String, String, String)>, Vec<String>);

/// Everything the two runs must agree on, with the run's prefix taken out.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    plans: Vec<PlanEnd>,
    /// `(event id, status)` by arrival.
    events: Vec<(String, String)>,
}

async fn rows(db: &DatabaseConnection, sql: String) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap()
}

async fn run(db: &DatabaseConnection, case: &Case, run: &str, one_at_a_time: bool) -> Outcome {
    let guard = GuardSettings { min: 2, percent: 50, window: Duration::from_secs(3600) };
    // A batch is what the run's cuts make it, not what a time budget leaves.
    let limits = BatchLimits {
        guard,
        time_budget: Duration::from_secs(30),
        ..BatchLimits::for_backend(db.get_database_backend())
    };
    let metrics = Metrics::default();
    let mut plan_ids = Vec::new();
    for (org, setup) in case.plans.iter().enumerate() {
        let plan = operator::create(
            db,
            NewPlan {
                name: org_id(run, org),
                organization_id: Some(org_id(run, org)),
                test_mode_max_users: Some(setup.threshold.into()),
                external_id: None,
            },
            10,
        )
        .await
        .unwrap();
        let limit = operator::PlanChanges {
            release_limit: Some(setup.release_limit.map(i64::from)),
            grant_limit: Some(setup.grant_limit.map(i64::from)),
            ..Default::default()
        };
        operator::update(db, &plan.id, limit).await.unwrap();
        for (user, paid) in &setup.manual {
            let tier = if *paid { "paid" } else { "free" };
            operator::set_tier(db, &plan.id, &email(*user, false), tier, seatsync::domain::Actor::Operator)
                .await
                .unwrap();
        }
        operator::set_tier(db, &plan.id, "outsider@example.com", "paid", seatsync::domain::Actor::Operator)
            .await
            .unwrap();
        plan_ids.push(plan.id);
    }
    let mut batch: Vec<NewEvent> = Vec::new();
    let mut cut = 0usize;
    for step in steps(case, run) {
        match step {
            Step::Deliver(event) => {
                batch.push(event);
                cut += 1;
                if one_at_a_time || case.cuts[cut % case.cuts.len()] {
                    store_batch(db, &batch.iter().collect::<Vec<_>>()).await.unwrap();
                    batch.clear();
                    reconcile::worker::drain_with(db, &metrics, limits).await.unwrap();
                }
            }
            Step::Approve(org) => {
                store_batch(db, &batch.iter().collect::<Vec<_>>()).await.unwrap();
                batch.clear();
                reconcile::worker::drain_with(db, &metrics, limits).await.unwrap();
                // Through the last held event, as the plan shows it now.
                let shown = operator::show(db, &plan_ids[org]).await.unwrap();
                if let Some(through) = shown.hold.and_then(|h| h.through) {
                    match operator::approve_hold(
                        db,
                        &plan_ids[org],
                        Some(&through),
                        seatsync::domain::Actor::Operator,
                        limits,
                        &metrics,
                    )
                    .await
                    {
                        Ok(_) | Err(operator::PlanError::NoHold) => {}
                        Err(err) => panic!("approve: {err}"),
                    }
                }
                reconcile::worker::drain_with(db, &metrics, limits).await.unwrap();
            }
        }
    }
    store_batch(db, &batch.iter().collect::<Vec<_>>()).await.unwrap();
    reconcile::worker::drain_with(db, &metrics, limits).await.unwrap();

    let strip = |s: String| s.replace(run, "");
    let mut plans = Vec::new();
    for id in &plan_ids {
        let shown = operator::show(db, id).await.unwrap();
        let members =
            operator::members(db, id, &operator::MembersQuery { limit: Some("1000".into()), ..Default::default() })
                .await
                .unwrap()
                .data
                .into_iter()
                .map(|m| (m.email, m.tier, m.source))
                .collect();
        let audit = rows(
            db,
            format!(
                "SELECT email, from_tier, to_tier, reason, event_id FROM seat_audit WHERE plan_id = '{id}' ORDER BY seq"
            ),
        )
        .await
        .iter()
        .map(|r| {
            let text = |c: &str| r.try_get::<Option<String>>("", c).unwrap().unwrap_or_default();
            strip(format!(
                "{} {}->{} {} {}",
                text("email"),
                text("from_tier"),
                text("to_tier"),
                text("reason"),
                text("event_id")
            ))
        })
        .collect();
        plans.push((shown.mode, shown.hold.map(|h| (h.kind, h.held_events)), members, audit));
    }
    let events =
        rows(db, format!("SELECT event_id, status FROM inbox_events WHERE event_id LIKE 'event_{run}_%' ORDER BY seq"))
            .await
            .iter()
            .map(|r| (strip(r.try_get("", "event_id").unwrap()), r.try_get::<String>("", "status").unwrap()))
            .collect::<Vec<_>>();
    // Every event settled or waiting for a reason the contract names.
    for (id, status) in &events {
        let status = EventStatus::parse(status).unwrap_or_else(|| panic!("{id}: unknown status {status}"));
        assert!(status != EventStatus::Pending, "{id} still pending");
    }
    Outcome { plans, events }
}

fn property(store: Store, cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(TestDatabase::create(store));
    let db = rt.block_on(crate::helpers::migrated(&database));
    let counter = std::sync::atomic::AtomicU32::new(0);
    let started = std::time::Instant::now();
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, max_shrink_iters: 256, ..Config::default() });
    runner
        .run(&case(), |case| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (single, batched) = (format!("s{n}x"), format!("b{n}x"));
            let one = rt.block_on(run(&db, &case, &single, true));
            let many = rt.block_on(run(&db, &case, &batched, false));
            if one != many {
                eprintln!("case {n} differs");
            }
            prop_assert_eq!(one, many);
            Ok(())
        })
        .unwrap();
    eprintln!("{cases} cases on {store:?} in {:.1} s", started.elapsed().as_secs_f64());
}

/// A user who moves between organizations, with an earlier organization's
/// run and a later one's event for that user in one batch: the batch applies
/// them in arrival order, as one at a time does. `enforced_b`: the second
/// organization's plan is enforced (its event goes through a run of its own)
/// and already holds the user; else it is in test mode (its event is applied
/// on its own, after the first organization's run).
fn moving_user_case(enforced_b: bool) -> Case {
    let plan = |threshold| PlanSetup { threshold, release_limit: None, grant_limit: None, manual: Vec::new() };
    let user = |org, kind, state, time| Action::User {
        org,
        user: 7,
        kind,
        state,
        alt_email: false,
        time,
        legacy: false,
        shared: true,
    };
    let mut actions = vec![
        Action::Burst { org: 0, first: 0, count: 3, active: true, time: 0 },
        Action::Burst { org: 1, first: 0, count: 3, active: true, time: 0 },
    ];
    if enforced_b {
        actions.push(user(1, "created", "active", 10));
    }
    actions.push(user(0, "updated", "active", 20));
    actions.push(user(1, "updated", if enforced_b { "inactive" } else { "active" }, 30));
    // Drained after every delivery but the first of the last two, so those
    // two share one batch.
    let deliveries = 6 + usize::from(enforced_b) + 2;
    let cuts = (0..64).map(|k| k != deliveries - 1).collect();
    Case { plans: vec![plan(2), plan(if enforced_b { 2 } else { 1000 })], actions, cuts }
}

fn moving_user(store: Store) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(TestDatabase::create(store));
    let db = rt.block_on(crate::helpers::migrated(&database));
    for (n, enforced_b) in [false, true].into_iter().enumerate() {
        let case = moving_user_case(enforced_b);
        let one = rt.block_on(run(&db, &case, &format!("ms{n}x"), true));
        let many = rt.block_on(run(&db, &case, &format!("mb{n}x"), false));
        assert_eq!(one, many, "enforced_b = {enforced_b}");
        // The first organization's plan got the user's seat before the move.
        let audit = &one.plans[0].3;
        assert!(
            audit
                .iter()
                .any(|row| row.starts_with("user7@example.com free->paid")
                    || row.starts_with("user7@example.com ->paid")),
            "{audit:?}"
        );
    }
}

fn a_user_moving_between_organizations_in_one_batch_is_applied_in_arrival_order(store: Store) {
    moving_user(store);
}

/// `DIFFERENTIAL_CASES` runs more (or fewer) cases than the suite's default.
fn cases(default: u32) -> u32 {
    std::env::var("DIFFERENTIAL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn one_at_a_time_and_batched_give_the_same_seats_audit_statuses_and_holds(store: Store) {
    property(
        store,
        cases(match store {
            Store::Sqlite => 128,
            Store::Postgres => 64,
        }),
    );
}

crate::both_stores_blocking!(
    a_user_moving_between_organizations_in_one_batch_is_applied_in_arrival_order,
    one_at_a_time_and_batched_give_the_same_seats_audit_statuses_and_holds
);
