//! The seat rule in one place: the set-based SQL that switches a plan to
//! enforcement (`seats::enforcement::start`) gives every member exactly the
//! seat `rule::target_seat` gives them, and the preview just before it names
//! exactly who moves; the SQL of `dsync.deleted` (`enforcement::release_directory`)
//! gives exactly `rule::seat_after_directory_release`; on random plans, on both
//! stores.
use crate::helpers::{Store, TestDatabase};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use seatsync::{
    db,
    domain::{DirectoryId, Micros, OrganizationId, PlanId, PlanMode, Seat, Source, Tier},
    seats::{enforcement, rule},
    store::plans::{self, Plan},
};
use std::collections::BTreeMap;

/// A directory user's (active, deleted) flags.
type DirectoryUser = (bool, bool);

#[derive(Debug, Clone)]
struct Case {
    /// Per person: the seat held before (None: not a member) and their
    /// directory users, possibly none or two.
    people: Vec<(Option<Seat>, Vec<DirectoryUser>)>,
}

fn seat() -> impl Strategy<Value = Option<Seat>> {
    prop_oneof![
        Just(None),
        Just(Some(Seat::PAID_MANUAL)),
        Just(Some(Seat::PAID_DIRECTORY)),
        Just(Some(Seat::FREE_MANUAL)),
        Just(Some(Seat { tier: Tier::Free, source: Source::Directory })),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec((seat(), prop::collection::vec((any::<bool>(), prop::bool::weighted(0.2)), 0..=2)), 1..=12)
        .prop_map(|people| Case { people })
}

fn email(n: usize) -> String {
    format!("person{n:02}@example.com")
}

/// Seats after the switch: email → (tier, source), and what the preview said
/// just before it.
async fn switched(
    db: &DatabaseConnection,
    case: &Case,
    n: u32,
) -> (BTreeMap<String, (Tier, Source)>, enforcement::Preview) {
    let org = OrganizationId::parse(&format!("org_rule{n}")).unwrap();
    let plan = Plan::new(PlanId::generate(), "rule".into(), Some(org.clone()), 0);
    plans::insert(db, &plan).await.unwrap();
    let backend = db.get_database_backend();
    for (i, (held, users)) in case.people.iter().enumerate() {
        if let Some(seat) = held {
            db.execute_raw(db::stmt(
                backend,
                "INSERT INTO members (plan_id, email, tier, source, directory_user_id, updated_at) VALUES (?, ?, ?, ?, NULL, 0)",
                [plan.id.as_str().into(), email(i).into(), seat.tier.as_str().into(), seat.source.as_str().into()],
            ))
            .await
            .unwrap();
        }
        for (u, (active, deleted)) in users.iter().enumerate() {
            db.execute_raw(db::stmt(
                backend,
                "INSERT INTO directory_users (id, directory_id, organization_id, email, state, updated_at, deleted, active) \
                 VALUES (?, 'directory_rule', ?, ?, ?, 0, ?, ?)",
                [
                    format!("directory_user_{n}_{i}_{u}").into(),
                    org.as_str().into(),
                    email(i).into(),
                    (if *active { "active" } else { "inactive" }).into(),
                    (*deleted).into(),
                    (*active && !*deleted).into(),
                ],
            ))
            .await
            .unwrap();
        }
    }
    let preview = enforcement::preview(db, &plan).await.unwrap();
    let txn = db.begin().await.unwrap();
    let locked = plans::lock_by_id(&txn, &plan.id).await.unwrap().unwrap();
    enforcement::start(&txn, &locked, None, Micros::now()).await.unwrap();
    txn.commit().await.unwrap();
    (seats_of(db, &plan.id).await, preview)
}

/// Every member of the plan: email → (tier, source).
async fn seats_of(db: &DatabaseConnection, plan: &PlanId) -> BTreeMap<String, (Tier, Source)> {
    db.query_all_raw(db::stmt(
        db.get_database_backend(),
        "SELECT email, tier, source FROM members WHERE plan_id = ?",
        [plan.as_str().into()],
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let text = |c: &str| r.try_get::<String>("", c).unwrap();
        (text("email"), (Tier::parse(&text("tier")).unwrap(), Source::parse(&text("source")).unwrap()))
    })
    .collect()
}

/// What the preview must have said, from the seats before and after.
fn expected_preview(case: &Case, after: &BTreeMap<String, (Tier, Source)>) -> (Vec<String>, Vec<String>, u64, u64) {
    let before: BTreeMap<String, Tier> =
        case.people.iter().enumerate().filter_map(|(i, (held, _))| held.map(|s| (email(i), s.tier))).collect();
    let (mut to_paid, mut to_free, mut unchanged_paid, mut unchanged_free) = (Vec::new(), Vec::new(), 0, 0);
    for (email, (tier, _)) in after {
        match (before.get(email), tier) {
            (Some(Tier::Paid), Tier::Paid) => unchanged_paid += 1,
            (Some(Tier::Free), Tier::Free) => unchanged_free += 1,
            (Some(Tier::Paid), Tier::Free) => to_free.push(email.clone()),
            (_, Tier::Paid) => to_paid.push(email.clone()),
            (None, Tier::Free) => {}
        }
    }
    (to_paid, to_free, unchanged_paid, unchanged_free)
}

/// What the pure rule says for each person once the plan is enforced.
fn model(case: &Case) -> BTreeMap<String, (Tier, Source)> {
    case.people
        .iter()
        .enumerate()
        .filter_map(|(i, (held, users))| {
            let active = users.iter().any(|(active, deleted)| *active && !*deleted);
            rule::target_seat(PlanMode::Enforced, *held, active).map(|s| (email(i), (s.tier, s.source)))
        })
        .collect()
}

fn property(store: Store, cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(TestDatabase::create(store));
    let db = rt.block_on(async {
        let db = db::connect(&seatsync::db::DatabaseUrl::parse(&database.url).unwrap()).await.unwrap();
        db::migrate(&db).await.unwrap();
        db
    });
    let counter = std::sync::atomic::AtomicU32::new(0);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&case(), |case| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (actual, preview) = rt.block_on(switched(&db, &case, n));
            let (mut to_paid, mut to_free) = (preview.to_paid.clone(), preview.to_free.clone());
            to_paid.sort();
            to_free.sort();
            let said = (to_paid, to_free, preview.unchanged_paid, preview.unchanged_free);
            prop_assert_eq!(said, expected_preview(&case, &actual), "the preview and the switch disagree");
            prop_assert_eq!(actual, model(&case));
            Ok(())
        })
        .unwrap();
}

fn the_enforcement_sql_gives_every_member_the_rules_seat(store: Store) {
    property(store, 200);
}

crate::both_stores_blocking!(the_enforcement_sql_gives_every_member_the_rules_seat);

/// A member for the directory release: the seat held, and their users in the
/// directory being deleted and in another one, each (active, deleted).
type Released = (Seat, Vec<DirectoryUser>, Vec<DirectoryUser>);

fn held_seat() -> impl Strategy<Value = Seat> {
    prop_oneof![
        Just(Seat::PAID_MANUAL),
        Just(Seat::PAID_DIRECTORY),
        Just(Seat::FREE_MANUAL),
        Just(Seat { tier: Tier::Free, source: Source::Directory }),
    ]
}

fn release_case() -> impl Strategy<Value = Vec<Released>> {
    let users = || prop::collection::vec((any::<bool>(), prop::bool::weighted(0.2)), 0..=2);
    prop::collection::vec((held_seat(), users(), users()), 1..=10)
}

/// Seats after the directory `directory_gone` is deleted.
async fn released(db: &DatabaseConnection, people: &[Released], n: u32) -> BTreeMap<String, (Tier, Source)> {
    let org = OrganizationId::parse(&format!("org_release{n}")).unwrap();
    let plan = Plan::new(PlanId::generate(), "release".into(), Some(org.clone()), 0);
    plans::insert(db, &plan).await.unwrap();
    let backend = db.get_database_backend();
    let gone = format!("directory_gone{n}");
    for (i, (seat, in_gone, elsewhere)) in people.iter().enumerate() {
        let users = in_gone
            .iter()
            .map(|u| (u, gone.clone()))
            .chain(elsewhere.iter().map(|u| (u, format!("directory_kept{n}"))));
        let mut first_in_gone = None;
        for (u, ((active, deleted), dir)) in users.enumerate() {
            let id = format!("directory_user_r{n}_{i}_{u}");
            if dir == gone && first_in_gone.is_none() && !*deleted {
                first_in_gone = Some(id.clone());
            }
            db.execute_raw(db::stmt(
                backend,
                "INSERT INTO directory_users (id, directory_id, organization_id, email, state, updated_at, deleted, active) \
                 VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                [
                    id.into(),
                    dir.into(),
                    org.as_str().into(),
                    email(i).into(),
                    (if *active { "active" } else { "inactive" }).into(),
                    (*deleted).into(),
                    (*active && !*deleted).into(),
                ],
            ))
            .await
            .unwrap();
        }
        // A directory seat points at the user behind it, when there is one.
        let link = first_in_gone.filter(|_| seat.source == Source::Directory);
        db.execute_raw(db::stmt(
            backend,
            "INSERT INTO members (plan_id, email, tier, source, directory_user_id, updated_at) VALUES (?, ?, ?, ?, ?, 0)",
            [
                plan.id.as_str().into(),
                email(i).into(),
                seat.tier.as_str().into(),
                seat.source.as_str().into(),
                link.into(),
            ],
        ))
        .await
        .unwrap();
    }
    let txn = db.begin().await.unwrap();
    let locked = plans::lock_by_id(&txn, &plan.id).await.unwrap().unwrap();
    let dir = DirectoryId::parse(&gone).unwrap();
    enforcement::release_directory(&txn, &locked, &dir, None, Micros::now()).await.unwrap();
    txn.commit().await.unwrap();
    seats_of(db, &plan.id).await
}

/// What the pure rule says: a member the deleted directory stood behind (a
/// not-deleted user of it holds the email) gets `seat_after_directory_release`;
/// everyone else keeps their seat.
fn release_model(people: &[Released]) -> BTreeMap<String, (Tier, Source)> {
    people
        .iter()
        .enumerate()
        .map(|(i, (seat, in_gone, elsewhere))| {
            let stood_behind = in_gone.iter().any(|(_, deleted)| !*deleted);
            let active_elsewhere = elsewhere.iter().any(|(active, deleted)| *active && !*deleted);
            let after = if stood_behind { rule::seat_after_directory_release(*seat, active_elsewhere) } else { *seat };
            (email(i), (after.tier, after.source))
        })
        .collect()
}

fn release_property(store: Store, cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(TestDatabase::create(store));
    let db = rt.block_on(crate::helpers::migrated(&database));
    let counter = std::sync::atomic::AtomicU32::new(0);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&release_case(), |people| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            prop_assert_eq!(rt.block_on(released(&db, &people, n)), release_model(&people));
            Ok(())
        })
        .unwrap();
}

fn the_directory_release_sql_gives_every_member_the_rules_seat(store: Store) {
    release_property(store, 200);
}

crate::both_stores_blocking!(the_directory_release_sql_gives_every_member_the_rules_seat);
