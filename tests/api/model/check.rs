//! A reference that cannot share the bug (issue 35, item 10): random event
//! sequences and operator actions go through the service (stored with
//! `store_batch`, drained with random batch shapes, so enforced plans' runs of
//! consecutive user changes take the bulk path) and through `rule_model`, an
//! in-memory model written from the contract's words alone. Members, audit
//! rows, event statuses, modes, holds and the answers to hand changes and
//! approvals must be exactly the model's.
//!
//! A developer's `cargo test` runs 250 cases on SQLite and 100 on PostgreSQL
//! (about 25 s each); `MODEL_CASES` runs more (or fewer) on both: CI runs 500.
use super::rule_model::{self as model, Event, Guard, Tier};
use crate::helpers::{Store, TestDatabase};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use seatsync::{
    domain::{EventId, EventStatus},
    inbox::{NewEvent, queue::ClaimLimits, writer::store_batch},
    metrics::Metrics,
    operator::{self, NewPlan},
    reconcile::{self, worker::BatchLimits},
    seats::guard::GuardSettings,
};
use serde_json::json;
use std::{collections::HashMap, time::Duration};

const ORGS: usize = 2;
const USERS: usize = 10;

#[derive(Debug, Clone)]
enum Action {
    /// A user's new state at second `time` (not always increasing: late
    /// retries are stale).
    User { org: usize, user: usize, kind: &'static str, active: bool, alt_email: bool, time: u32 },
    /// Consecutive changes of users `first..first + count` (an initial sync, a
    /// group unassigned): the bulk path's runs. `inactive`: a bit per user.
    Burst { org: usize, first: usize, count: usize, inactive: u16, alt: u16, deleted: bool, time: u32 },
    /// An earlier delivery again (same event id).
    Again(usize),
    /// `dsync.activated` or `dsync.deleted`.
    Directory { org: usize, dir: usize, deleted: bool },
    /// The operator approves through the `through` the plan shows (`pick`
    /// `None`), or through an earlier held event.
    Approve { org: usize, pick: Option<usize> },
    /// A seat set by hand: a user's usual address or an outsider.
    Hand { org: usize, user: Option<usize>, paid: bool },
    /// A user event without an email: `failed`.
    Unusable { org: usize },
}

#[derive(Debug, Clone)]
struct PlanSetup {
    threshold: u32,
    release_limit: Option<u32>,
    /// CONTRACT 4.1's grant guard: None is off.
    grant_limit: Option<u32>,
}

#[derive(Debug, Clone)]
struct Case {
    guard: (u32, u32),
    plans: Vec<PlanSetup>,
    actions: Vec<Action>,
    /// Deliveries stored (and drained) together: a cut after delivery `i`.
    cuts: Vec<bool>,
    /// Events claimed per reconciler batch.
    claim: usize,
}

/// A user's `updated_at` in seconds: a third of them early, where equal times
/// (which apply, unless after a deletion) are common.
fn time() -> impl Strategy<Value = u32> {
    prop_oneof![2 => 0u32..300, 1 => 0u32..6]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        10 => (
            0..ORGS,
            0..USERS,
            prop_oneof![Just("created"), Just("updated"), Just("updated"), Just("deleted")],
            prop::bool::weighted(0.7),
            prop::bool::weighted(0.15),
            time(),
        )
            .prop_map(|(org, user, kind, active, alt_email, time)| Action::User { org, user, kind, active, alt_email, time }),
        8 => (0..ORGS, 0..USERS, 2usize..8, any::<u16>(), any::<u16>(), prop::bool::weighted(0.1), time())
            .prop_map(|(org, first, count, inactive, alt, deleted, time)| {
                // Mostly all active or all inactive, sometimes mixed; few address changes.
                let inactive = match inactive % 3 {
                    0 => 0,
                    1 => u16::MAX,
                    _ => inactive,
                };
                let alt = if alt % 4 == 0 { alt >> 2 } else { 0 };
                Action::Burst { org, first, count, inactive, alt, deleted, time }
            }),
        2 => (0usize..1000).prop_map(Action::Again),
        1 => (0..ORGS, 0usize..2, prop::bool::weighted(0.3))
            .prop_map(|(org, dir, deleted)| Action::Directory { org, dir, deleted }),
        4 => (0..ORGS, prop::option::weighted(0.3, 0usize..8)).prop_map(|(org, pick)| Action::Approve { org, pick }),
        2 => (0..ORGS, prop::option::weighted(0.8, 0..USERS), any::<bool>())
            .prop_map(|(org, user, paid)| Action::Hand { org, user, paid }),
        1 => (0..ORGS).prop_map(|org| Action::Unusable { org }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just((2u32, 50u32)), Just((1, 34)), Just((3, 20)), Just((1, 60))],
        prop::collection::vec(
            (
                prop_oneof![Just(1000u32), Just(2), Just(3), Just(5)],
                prop_oneof![Just(None), Just(None), Just(None), Just(Some(0u32)), Just(Some(1)), Just(Some(3))],
                prop_oneof![Just(None), Just(None), Just(Some(1u32)), Just(Some(3))],
            )
                .prop_map(|(threshold, release_limit, grant_limit)| PlanSetup {
                    threshold,
                    release_limit,
                    grant_limit,
                }),
            ORGS,
        ),
        prop::collection::vec(action(), 5..40),
        prop::collection::vec(prop::bool::weighted(0.15), 64),
        prop_oneof![Just(1usize), Just(3), Just(512)],
    )
        .prop_map(|(guard, plans, actions, cuts, claim)| Case { guard, plans, actions, cuts, claim })
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

/// One step of a run, for the service and for the model.
enum Step {
    Deliver { org: usize, event: Box<NewEvent>, model: Event },
    Approve { org: usize, pick: Option<usize> },
    Hand { org: usize, email: String, paid: bool },
}

#[allow(clippy::too_many_arguments)]
fn user_event(
    run: &str,
    event_id: String,
    org: usize,
    user: usize,
    kind: &str,
    active: bool,
    address: Option<String>,
    time: u32,
) -> (NewEvent, Event) {
    let (user_id, directory) = if address.is_some() {
        (format!("directory_user_{run}{org}_{user}"), format!("directory_{run}{org}_{}", user % 2))
    } else {
        (format!("directory_user_{run}{org}_x"), format!("directory_{run}{org}_0"))
    };
    let mut data = json!({
        "id": user_id,
        "directory_id": directory,
        "organization_id": org_id(run, org),
        "state": if active { "active" } else { "inactive" },
        "updated_at": stamp(time),
    });
    if let Some(address) = &address {
        data["email"] = json!(address);
    }
    let body = json!({"id": event_id, "event": format!("dsync.user.{kind}"), "data": data}).to_string().into_bytes();
    let envelope = seatsync::events::Envelope::parse(&body).unwrap();
    let stored = NewEvent::from_envelope(EventId::parse(&event_id).unwrap(), envelope, body);
    let strip = |s: &str| s.replace(run, "");
    let modelled = Event::User {
        id: strip(&event_id),
        user: strip(&user_id),
        directory: strip(&directory),
        email: address,
        deleted: kind == "deleted",
        active,
        updated_at: time,
    };
    (stored, modelled)
}

fn steps(case: &Case, run: &str) -> Vec<Step> {
    let mut delivered: Vec<(usize, NewEvent, Event)> = Vec::new();
    let mut out = Vec::new();
    let deliver = |delivered: &mut Vec<(usize, NewEvent, Event)>,
                   out: &mut Vec<Step>,
                   org: usize,
                   (event, model): (NewEvent, Event)| {
        delivered.push((org, event.clone(), model.clone()));
        out.push(Step::Deliver { org, event: Box::new(event), model });
    };
    for (i, action) in case.actions.iter().enumerate() {
        let event_id = format!("event_{run}_{i:03}");
        match action {
            Action::User { org, user, kind, active, alt_email, time } => {
                let event =
                    user_event(run, event_id, *org, *user, kind, *active, Some(email(*user, *alt_email)), *time);
                deliver(&mut delivered, &mut out, *org, event);
            }
            Action::Burst { org, first, count, inactive, alt, deleted, time } => {
                for k in 0..*count {
                    let user = (first + k) % USERS;
                    let active = inactive & (1 << k) == 0;
                    let kind = if *deleted && !active { "deleted" } else { "updated" };
                    let address = Some(email(user, alt & (1 << k) != 0));
                    let id = format!("event_{run}_{i:03}_{k}");
                    deliver(
                        &mut delivered,
                        &mut out,
                        *org,
                        user_event(run, id, *org, user, kind, active, address, time + k as u32),
                    );
                }
            }
            Action::Again(n) => {
                if let Some(len) = std::num::NonZeroUsize::new(delivered.len()) {
                    let (org, event, model) = delivered[n % len.get()].clone();
                    out.push(Step::Deliver { org, event: Box::new(event), model });
                }
            }
            Action::Directory { org, dir, deleted } => {
                let directory = format!("directory_{run}{org}_{dir}");
                let kind = if *deleted { "dsync.deleted" } else { "dsync.activated" };
                let body = json!({"id": event_id, "event": kind, "data": {
                    "object": "directory",
                    "id": directory,
                    "organization_id": org_id(run, *org),
                    "state": if *deleted { "deleting" } else { "active" },
                }})
                .to_string()
                .into_bytes();
                let envelope = seatsync::events::Envelope::parse(&body).unwrap();
                let event = NewEvent::from_envelope(EventId::parse(&event_id).unwrap(), envelope, body);
                let (id, directory) = (event_id.replace(run, ""), directory.replace(run, ""));
                let model = if *deleted {
                    Event::DirectoryDeleted { id, directory }
                } else {
                    Event::DirectoryActivated { id, directory }
                };
                deliver(&mut delivered, &mut out, *org, (event, model));
            }
            Action::Approve { org, pick } => out.push(Step::Approve { org: *org, pick: *pick }),
            Action::Hand { org, user, paid } => out.push(Step::Hand {
                org: *org,
                email: user.map_or_else(|| "outsider@example.com".to_owned(), |u| email(u, false)),
                paid: *paid,
            }),
            Action::Unusable { org } => {
                deliver(&mut delivered, &mut out, *org, user_event(run, event_id, *org, 0, "updated", false, None, 0));
            }
        }
    }
    out
}

/// Everything compared, with the run's prefix taken out.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Answers to operator actions, in order.
    answers: Vec<String>,
    plans: Vec<PlanEnd>,
    /// `(event id, status)` by arrival.
    events: Vec<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
struct PlanEnd {
    mode: String,
    /// `held_events through would_release…`.
    hold: Option<String>,
    members: Vec<(String, String, String)>,
    audit: Vec<String>,
}

fn hold_text(
    kind: &str,
    held: u64,
    through: &str,
    mut would_release: Vec<String>,
    mut would_grant: Vec<String>,
) -> String {
    would_release.sort();
    would_grant.sort();
    format!("{kind}: {held} through {through} releasing {would_release:?} granting {would_grant:?}")
}

fn audit_text(email: &str, from: Option<&str>, to: &str, reason: &str, event: Option<&str>) -> String {
    format!("{email} {}->{to} {reason} {}", from.unwrap_or(""), event.unwrap_or("-"))
}

fn plans(setups: &[PlanSetup], guard: Guard) -> Vec<model::Plan> {
    setups.iter().map(|s| model::Plan::new(s.threshold, s.release_limit, s.grant_limit, guard)).collect()
}

fn modelled(case: &Case) -> Outcome {
    let guard = Guard { min: case.guard.0, percent: case.guard.1 };
    let mut plans = plans(&case.plans, guard);
    let mut answers = Vec::new();
    let mut arrival: Vec<(String, usize)> = Vec::new();
    for step in steps(case, "") {
        match step {
            Step::Deliver { org, model, .. } => {
                if !arrival.iter().any(|(id, _)| id == model.id()) {
                    arrival.push((model.id().to_owned(), org));
                }
                plans[org].deliver(model);
            }
            Step::Approve { org, pick } => {
                let plan = &mut plans[org];
                if let Some(hold) = plan.hold() {
                    let held = plan.held_ids();
                    let through = pick.map_or(hold.through.clone(), |p| held[p % held.len()].clone());
                    answers.push(format!(
                        "shown {}; approve {through}",
                        hold_text(hold.kind, hold.held_events, &hold.through, hold.would_release, hold.would_grant)
                    ));
                    plan.approve(&through).unwrap();
                } else {
                    answers.push("no hold".to_owned());
                }
            }
            Step::Hand { org, email, paid } => {
                let tier = if paid { Tier::Paid } else { Tier::Free };
                let answer = match plans[org].set_tier(&email, tier) {
                    Ok(()) => "ok".to_owned(),
                    Err(_) => "409 seat_managed_by_directory".to_owned(),
                };
                answers.push(format!("{email} {}: {answer}", tier.name()));
            }
        }
    }
    let events = arrival.iter().map(|(id, org)| (id.clone(), plans[*org].statuses[id].name().to_owned())).collect();
    let plans = plans
        .iter()
        .map(|p| PlanEnd {
            mode: p.mode().to_owned(),
            hold: p.hold().map(|h| hold_text(h.kind, h.held_events, &h.through, h.would_release, h.would_grant)),
            members: p
                .members
                .iter()
                .map(|(email, m)| (email.clone(), m.tier.name().to_owned(), m.source.name().to_owned()))
                .collect(),
            audit: p
                .audit
                .iter()
                .map(|a| audit_text(&a.email, a.from.map(Tier::name), a.to.name(), a.reason, a.event.as_deref()))
                .collect(),
        })
        .collect();
    Outcome { answers, plans, events }
}

async fn served(db: &DatabaseConnection, case: &Case, run: &str) -> Outcome {
    let guard =
        GuardSettings { min: case.guard.0.into(), percent: case.guard.1.into(), window: Duration::from_secs(3600) };
    let limits = BatchLimits {
        guard,
        claim: ClaimLimits { groups: 64, events: case.claim },
        time_budget: Duration::from_secs(30),
        ..BatchLimits::for_backend(db.get_database_backend())
    };
    let metrics = Metrics::default();
    let strip = |s: &str| s.replace(run, "");
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
        plan_ids.push(plan.id);
    }
    let mut answers = Vec::new();
    let mut batch: Vec<NewEvent> = Vec::new();
    let mut cut = 0usize;
    let mut org_of = HashMap::new();
    for step in steps(case, run) {
        match step {
            Step::Deliver { org, event, .. } => {
                org_of.insert(event.event_id.to_string(), org);
                batch.push(*event);
                cut += 1;
                if case.cuts[cut % case.cuts.len()] {
                    flush(db, &mut batch, &metrics, limits).await;
                }
            }
            Step::Approve { org, pick } => {
                flush(db, &mut batch, &metrics, limits).await;
                let shown = operator::show(db, &plan_ids[org]).await.unwrap();
                let Some(hold) = shown.hold else {
                    answers.push("no hold".to_owned());
                    continue;
                };
                let shown_through = hold.through.clone().unwrap_or_default();
                let through = match pick {
                    None => shown_through.clone(),
                    Some(p) => {
                        let held = held_ids(db, run, &org_of, org).await;
                        held[p % held.len()].clone()
                    }
                };
                answers.push(format!(
                    "shown {}; approve {}",
                    hold_text(
                        &hold.kind,
                        hold.held_events,
                        &strip(&shown_through),
                        hold.would_release,
                        hold.would_grant
                    ),
                    strip(&through)
                ));
                operator::approve_hold(
                    db,
                    &plan_ids[org],
                    Some(&through),
                    seatsync::domain::Actor::Operator,
                    limits,
                    &metrics,
                )
                .await
                .unwrap();
                reconcile::worker::drain_with(db, &metrics, limits).await.unwrap();
            }
            Step::Hand { org, email, paid } => {
                flush(db, &mut batch, &metrics, limits).await;
                let tier = if paid { "paid" } else { "free" };
                let answer =
                    match operator::set_tier(db, &plan_ids[org], &email, tier, seatsync::domain::Actor::Operator).await
                    {
                        Ok(_) => "ok".to_owned(),
                        Err(operator::PlanError::SeatManagedByDirectory) => "409 seat_managed_by_directory".to_owned(),
                        Err(err) => format!("error {err}"),
                    };
                answers.push(format!("{email} {tier}: {answer}"));
            }
        }
    }
    flush(db, &mut batch, &metrics, limits).await;

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
        let audit = operator::audit(db, id, None, Some("1000"))
            .await
            .unwrap()
            .data
            .iter()
            .map(|a| {
                let event = a.event_id.as_deref().map(strip);
                audit_text(&a.email, a.from.as_deref(), &a.to, &a.reason, event.as_deref())
            })
            .collect();
        let hold = shown.hold.map(|h| {
            hold_text(&h.kind, h.held_events, &strip(&h.through.unwrap_or_default()), h.would_release, h.would_grant)
        });
        plans.push(PlanEnd { mode: shown.mode, hold, members, audit });
    }
    let events = statuses(db, run).await;
    for (id, status) in &events {
        let status = EventStatus::parse(status).unwrap_or_else(|| panic!("{id}: unknown status {status}"));
        assert!(status != EventStatus::Pending, "{id} still pending");
    }
    Outcome { answers, plans, events }
}

/// Stores the deliveries not stored yet, and applies what can be.
async fn flush(db: &DatabaseConnection, batch: &mut Vec<NewEvent>, metrics: &Metrics, limits: BatchLimits) {
    store_batch(db, &batch.iter().collect::<Vec<_>>()).await.unwrap();
    batch.clear();
    reconcile::worker::drain_with(db, metrics, limits).await.unwrap();
}

async fn rows(db: &DatabaseConnection, sql: String) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.unwrap()
}

async fn statuses(db: &DatabaseConnection, run: &str) -> Vec<(String, String)> {
    rows(db, format!("SELECT event_id, status FROM inbox_events WHERE event_id LIKE 'event_{run}_%' ORDER BY seq"))
        .await
        .iter()
        .map(|r| (r.try_get::<String>("", "event_id").unwrap().replace(run, ""), r.try_get("", "status").unwrap()))
        .collect()
}

/// The organization's held events, in stored order (their ids as stored).
async fn held_ids(db: &DatabaseConnection, run: &str, org_of: &HashMap<String, usize>, org: usize) -> Vec<String> {
    rows(db, format!("SELECT event_id, status FROM inbox_events WHERE event_id LIKE 'event_{run}_%' ORDER BY seq"))
        .await
        .iter()
        .map(|r| (r.try_get::<String>("", "event_id").unwrap(), r.try_get::<String>("", "status").unwrap()))
        .filter(|(id, status)| status == "held" && org_of.get(id) == Some(&org))
        .map(|(id, _)| id)
        .collect()
}

/// Where the service and the model part, line by line.
fn difference(model: &Outcome, service: &Outcome) -> String {
    fn lines<T: std::fmt::Debug + PartialEq>(what: &str, model: &[T], service: &[T], out: &mut String) {
        if model == service {
            return;
        }
        out.push_str(&format!("{what}:\n"));
        for i in 0..model.len().max(service.len()) {
            let (m, s) = (model.get(i), service.get(i));
            let mark = if m == s { " " } else { "*" };
            out.push_str(&format!("  {mark} model {m:?}\n  {mark} servce {s:?}\n"));
        }
    }
    let mut out = String::new();
    lines("answers", &model.answers, &service.answers, &mut out);
    for (n, (m, s)) in model.plans.iter().zip(&service.plans).enumerate() {
        lines(
            &format!("plan {n} mode, hold"),
            &[&m.mode, &format!("{:?}", m.hold)],
            &[&s.mode, &format!("{:?}", s.hold)],
            &mut out,
        );
        lines(&format!("plan {n} members"), &m.members, &s.members, &mut out);
        lines(&format!("plan {n} audit"), &m.audit, &s.audit, &mut out);
    }
    lines("events", &model.events, &service.events, &mut out);
    out
}

/// `MODEL_CASES` runs more (or fewer) cases than the suite's default.
fn cases(default: u32) -> u32 {
    std::env::var("MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn property(store: Store, cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(TestDatabase::create(store));
    let db = rt.block_on(crate::helpers::migrated(&database));
    let counter = std::sync::atomic::AtomicU32::new(0);
    let seen = std::sync::Mutex::new(Seen::default());
    let started = std::time::Instant::now();
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, max_shrink_iters: 512, ..Config::default() });
    let result = runner.run(&case(), |case| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let expected = modelled(&case);
        seen.lock().unwrap().add(&expected);
        let actual = rt.block_on(served(&db, &case, &format!("m{n}x")));
        if expected != actual {
            let difference = difference(&expected, &actual);
            eprintln!("case {n} differs after {:.1} s:\n{difference}", started.elapsed().as_secs_f64());
            return Err(TestCaseError::fail(difference));
        }
        Ok(())
    });
    eprintln!(
        "{} cases run on {store:?} in {:.1} s",
        counter.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    eprintln!("{:?}", seen.lock().unwrap());
    result.unwrap();
}

/// What the cases exercised, in how many of them (printed with `--nocapture`).
#[derive(Debug, Default)]
struct Seen {
    enforced: u32,
    enforcement_started: u32,
    held: u32,
    approved: u32,
    refused_409: u32,
    email_changed: u32,
    released: u32,
    directory_deleted: u32,
    stale: u32,
    failed: u32,
}

impl Seen {
    fn add(&mut self, o: &Outcome) {
        let audit = |reason: &str| o.plans.iter().any(|p| p.audit.iter().any(|a| a.contains(reason)));
        self.enforced += u32::from(o.plans.iter().any(|p| p.mode == "enforced"));
        self.enforcement_started += u32::from(audit("enforcement_started"));
        self.held +=
            u32::from(o.events.iter().any(|(_, s)| s == "held") || o.answers.iter().any(|a| a.starts_with("shown")));
        self.approved += u32::from(o.answers.iter().any(|a| a.starts_with("shown")));
        self.refused_409 += u32::from(o.answers.iter().any(|a| a.contains("409")));
        self.email_changed += u32::from(audit("email_changed"));
        self.released += u32::from(audit("paid->free directory_user_"));
        self.directory_deleted += u32::from(audit("directory_deleted"));
        self.stale += u32::from(o.events.iter().any(|(_, s)| s == "stale"));
        self.failed += u32::from(o.events.iter().any(|(_, s)| s == "failed"));
    }
}

fn the_service_gives_the_contract_models_seats_audit_statuses_and_holds(store: Store) {
    property(
        store,
        cases(match store {
            Store::Sqlite => 250,
            Store::Postgres => 100,
        }),
    );
}

crate::both_stores_blocking!(the_service_gives_the_contract_models_seats_audit_statuses_and_holds);
