//! Never a wrong bill (issue 35; CONTRACT 7, 7.1, 7.2): Stripe never gets an
//! older count, a change made from a shell reaches billing, a message that was
//! tried keeps its own id and body, an operator's retry does what it says, and
//! every plan a transaction changed hears of it from that transaction. Numbers
//! count each target's messages from 1 with no gap. Both stores.
use crate::both_stores;
use crate::fake_billing::{Delivery, FakeBilling, Reply};
use crate::fake_stripe::FakeStripe;
use crate::helpers::*;
use sea_orm::ConnectionTrait;
use seatsync::operator;
use serde_json::{Value, json};
use std::time::Duration;

const OTHER_ORG: &str = "org_01OTHERORGANIZATION";

fn env_of<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn outbound(app: &TestApp, query: &str) -> Vec<Value> {
    app.admin_json(&format!("/admin/outbound{query}")).await["data"].as_array().unwrap().clone()
}

/// Waits until the plan's billing for `target` is `state`, and returns it.
async fn billing_is(app: &TestApp, plan: &str, target: &str, state: &str) -> Value {
    eventually(Duration::from_secs(10), &format!("{target} billing {state}"), || async {
        let billing = app.plan(plan).await["billing"][target].clone();
        if billing["state"] == state { Ok(billing) } else { Err(billing) }
    })
    .await
}

/// The emails of a delivery's changes, in order.
fn emails(d: &Delivery) -> Vec<String> {
    d.json["data"]["changes"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap().to_owned()).collect()
}

/// A plan following Stripe item `si_acme` (in sync at 0) whose next message,
/// Ada's paid seat, Stripe refuses for good (a 400 is dead at once): the
/// plan and the dead message.
async fn ada_dead_at_stripe(app: &TestApp, stripe: &FakeStripe) -> (String, Value) {
    let plan = app.create_plan(ORG, None).await;
    let set = app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"stripe_subscription_item": "si_acme"})).await;
    assert_eq!(set.status(), 200);
    billing_is(app, &plan, "stripe", "in_sync").await;
    stripe.fail_next([400]);
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    let dead = eventually(Duration::from_secs(10), "a dead Stripe message", || async {
        let dead = outbound(app, &format!("?plan={plan}&state=dead")).await;
        if dead.is_empty() { Err(dead) } else { Ok(dead) }
    })
    .await;
    (plan, dead[0].clone())
}

async fn stripe_never_receives_a_quantity_older_than_one_it_received(store: Store) {
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 0);
    let app = spawn_app_with(store, &env_of(&stripe.env())).await;
    let (plan, dead) = ada_dead_at_stripe(&app, &stripe).await;
    assert_eq!(billing_is(&app, &plan, "stripe", "failing").await["paid_seats_sent"], 0);
    // Ada's count (1) died; then Bob's, the newer count 2, is delivered.
    assert_eq!(app.set_tier(&plan, "bob@example.com", "paid").await.status(), 200);
    let billing = billing_is(&app, &plan, "stripe", "in_sync").await;
    assert_eq!(billing["paid_seats_sent"], 2);
    assert_eq!(stripe.quantity("si_acme"), Some(2));
    // The dead one was superseded by the delivery, and an operator's retry
    // (what the alert for a dead message suggests) sends nothing older.
    let id = dead["id"].as_str().unwrap();
    let retried = app.admin_post(&format!("/admin/outbound/{id}/retry"), &json!({})).await;
    assert_eq!(retried.status(), 200);
    assert_eq!(retried.json::<Value>().await.unwrap()["state"], "superseded");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stripe.quantity("si_acme"), Some(2), "never set back: {:?}", stripe.posts());
    let quantities: Vec<u64> = stripe.posts().iter().map(|p| p.quantity).collect();
    assert_eq!(quantities, [0, 1, 2], "each count once, never an older one after a newer: {quantities:?}");
    assert_eq!(outbound(&app, "?state=dead").await, Vec::<Value>::new(), "no dead message left to alert on");
}

async fn a_dead_stripe_message_retried_before_a_newer_one_is_delivered_goes_first(store: Store) {
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 0);
    let app = spawn_app_with(store, &env_of(&stripe.env())).await;
    let (_, dead) = ada_dead_at_stripe(&app, &stripe).await;
    let id = dead["id"].as_str().unwrap();
    let retried: Value = app.admin_post(&format!("/admin/outbound/{id}/retry"), &json!({})).await.json().await.unwrap();
    assert_eq!((retried["state"].as_str(), retried["attempts"].as_i64()), (Some("delivered"), Some(2)));
    assert_eq!(retried["sequence"], dead["sequence"], "its own number");
    assert_eq!(stripe.quantity("si_acme"), Some(1));
}

/// Two Stripe messages dead in turn: retrying the older one sends nothing (the
/// newer may have reached Stripe before it died); the newer one is retried
/// and the item ends at the current count.
async fn retrying_an_older_stripe_message_while_a_newer_one_is_dead_sends_nothing(store: Store) {
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 0);
    let app = spawn_app_with(store, &env_of(&stripe.env())).await;
    let (plan, older) = ada_dead_at_stripe(&app, &stripe).await;
    stripe.fail_next([400]);
    assert_eq!(app.set_tier(&plan, "bob@example.com", "paid").await.status(), 200);
    let newer = eventually(Duration::from_secs(10), "a second dead message", || async {
        let dead = outbound(&app, &format!("?plan={plan}&state=dead")).await;
        if dead.len() < 2 { Err(dead) } else { Ok(dead[0].clone()) }
    })
    .await;
    let retry = |id: String| {
        let app = &app;
        async move {
            app.admin_post(&format!("/admin/outbound/{id}/retry"), &json!({})).await.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(retry(older["id"].as_str().unwrap().to_owned()).await["state"], "superseded");
    assert_eq!(retry(newer["id"].as_str().unwrap().to_owned()).await["state"], "delivered");
    let quantities: Vec<u64> = stripe.posts().iter().map(|p| p.quantity).collect();
    assert_eq!(quantities, [0, 1, 2, 2], "the older count is never sent again: {quantities:?}");
    assert_eq!(stripe.quantity("si_acme"), Some(2));
}

async fn a_seat_change_made_from_a_shell_reaches_billing(store: Store) {
    let receiver = FakeBilling::start();
    let database = TestDatabase::create(store).await;
    let app = spawn_app_on(&database, &env_of(&receiver.env())).await;
    let plan = app.create_plan(ORG, None).await;
    // A shell without any billing setting: `plans set-tier` calls this.
    let shell = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&database.url).unwrap()).await.unwrap();
    operator::set_tier(&shell, &plan, "ada@example.com", "paid", seatsync::domain::Actor::Operator).await.unwrap();
    let got = receiver.wait_for("the shell's change", |d| !d.is_empty()).await;
    assert_eq!(emails(&got[0]), ["ada@example.com"]);
    assert_eq!((got[0].sequence(), &got[0].json["data"]["paid_seats"]), (1, &json!(1)));
    // So does a drain run from a shell (the public `reconcile::drain`).
    app.deliver(&user_event(1, "active")).await;
    seatsync::reconcile::worker::drain(&shell, &seatsync::metrics::Metrics::default()).await.unwrap();
    let got = receiver.wait_for("the drain's change", |d| d.len() >= 2).await;
    assert_eq!(got[1].sequence(), 2);
    assert!(emails(&got[1]).contains(&"user01@example.com".to_owned()), "{:?}", got[1].json);
    drop(app);
}

fn user_event(i: u32, state: &str) -> Value {
    let (id, user, email) =
        (format!("event_user{i}_{state}"), format!("directory_user_{i:02}"), format!("user{i:02}@example.com"));
    let at = at(i);
    UserEvent { id: &id, user: &user, email: &email, state, at: &at, ..Default::default() }.json()
}

async fn a_target_configured_for_the_first_time_gets_each_plans_current_seats_once(store: Store) {
    let database = TestDatabase::create(store).await;
    // No billing at first: changes are made, and nothing is owed to anyone.
    let plain = spawn_app_on(&database, &[]).await;
    let acme = plain.create_plan(ORG, None).await;
    let other = plain.create_plan(OTHER_ORG, None).await;
    for who in ["ada", "bob"] {
        assert_eq!(plain.set_tier(&acme, &format!("{who}@example.com"), "paid").await.status(), 200);
    }
    assert_eq!(plain.set_tier(&other, "cy@example.com", "free").await.status(), 200);
    drop(plain);
    // The webhook is configured: each plan's current seats, once, not the history.
    let receiver = FakeBilling::start();
    let app = spawn_app_on(&database, &env_of(&receiver.env())).await;
    let got = receiver.wait_for("both plans", |d| d.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2, "one message per plan");
    let of = |plan: &str| got.iter().find(|d| d.plan() == plan).unwrap().json["data"].clone();
    assert_eq!((of(&acme)["paid_seats"].as_u64(), of(&acme)["sequence"].as_i64()), (Some(2), Some(1)));
    assert_eq!(of(&acme)["changes"], json!([]), "not the history");
    assert_eq!((of(&other)["paid_seats"].as_u64(), of(&other)["free_seats"].as_u64()), (Some(0), Some(1)));
    drop(app);
    // Started again with the same target: nothing is sent again.
    let again = spawn_app_on(&database, &env_of(&receiver.env())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 2);
    assert_eq!(billing_is(&again, &acme, "webhook", "in_sync").await["sequence_sent"], 1);
}

async fn a_message_that_was_tried_keeps_its_id_and_body(store: Store) {
    let receiver = FakeBilling::start();
    // Ada's message is refused for good; Bob's is delivered after it.
    receiver.then([Reply::Status(410)]);
    let app = spawn_app_with(store, &env_of(&receiver.env())).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    receiver.wait_for("Ada's attempt", |d| !d.is_empty()).await;
    let dead = eventually(Duration::from_secs(5), "a dead message", || async {
        let dead = outbound(&app, "?state=dead").await;
        if dead.is_empty() { Err(dead) } else { Ok(dead) }
    })
    .await;
    assert_eq!(app.set_tier(&plan, "bob@example.com", "paid").await.status(), 200);
    receiver.wait_for("Bob's message", |d| d.len() >= 2).await;
    // Recorded just after the receiver answered.
    billing_is(&app, &plan, "webhook", "in_sync").await;
    // The operator sends Ada's again: its own id, number and body, and Bob's
    // change (delivered already) is not sent again under another id.
    let id = dead[0]["id"].as_str().unwrap();
    let retried: Value = app.admin_post(&format!("/admin/outbound/{id}/retry"), &json!({})).await.json().await.unwrap();
    assert_eq!(retried["state"], "delivered");
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(
        (got[2].id.as_str(), got[2].body.as_str()),
        (id, got[0].body.as_str()),
        "the same message, byte for byte"
    );
    assert_eq!([got[0].sequence(), got[1].sequence(), got[2].sequence()], [1, 2, 1]);
    assert_eq!(emails(&got[1]), ["bob@example.com"]);
    let bobs = got.iter().filter(|d| emails(d).contains(&"bob@example.com".to_owned())).count();
    assert_eq!(bobs, 1, "a delivered change is sent once");
    assert_eq!(billing_is(&app, &plan, "webhook", "in_sync").await["sequence_sent"], 2);
}

async fn a_failing_message_is_never_merged_with_the_ones_behind_it(store: Store) {
    let receiver = FakeBilling::start();
    receiver.then([Reply::Status(500)]);
    let app =
        spawn_app_with(store, &[env_of(&receiver.env()), vec![("BILLING_RETRY_SCHEDULE_SECS", "1")]].concat()).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    receiver.wait_for("Ada's first attempt", |d| !d.is_empty()).await;
    for who in ["bob", "cy"] {
        assert_eq!(app.set_tier(&plan, &format!("{who}@example.com"), "paid").await.status(), 200);
    }
    let got = receiver.wait_for("three deliveries", |d| d.len() >= 3).await;
    billing_is(&app, &plan, "webhook", "in_sync").await;
    let got: Vec<&Delivery> = got.iter().collect();
    assert_eq!(got.len(), 3, "Ada's twice (the same), then Bob's and Cy's merged");
    assert_eq!((got[0].id.as_str(), got[0].body.as_str()), (got[1].id.as_str(), got[1].body.as_str()));
    assert_eq!(emails(got[1]), ["ada@example.com"]);
    assert_eq!(emails(got[2]), ["bob@example.com", "cy@example.com"]);
    assert_eq!([got[1].sequence(), got[2].sequence()], [1, 2]);
    let list = outbound(&app, &format!("?plan={plan}")).await;
    let attempts: Vec<i64> = list.iter().map(|m| m["attempts"].as_i64().unwrap()).collect();
    assert_eq!(attempts, [1, 2], "the merged message has its own attempts (newest first)");
}

async fn an_operator_retry_of_a_delivered_message_is_refused(store: Store) {
    let receiver = FakeBilling::start();
    let app = spawn_app_with(store, &env_of(&receiver.env())).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    billing_is(&app, &plan, "webhook", "in_sync").await;
    let id = outbound(&app, "").await[0]["id"].as_str().unwrap().to_owned();
    let again = app.admin_post(&format!("/admin/outbound/{id}/retry"), &json!({})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "already_delivered");
    assert_eq!(receiver.received().len(), 1);
    // Without any target ever configured, there is nothing to retry to.
    let plain = spawn_app(store).await;
    let refused = plain.admin_post(&format!("/admin/outbound/{id}/retry"), &json!({})).await;
    assert_eq!(refused.status(), 404, "another database: no such message");
}

async fn a_stripe_item_unset_while_its_message_waits_leaves_nothing_failing(store: Store) {
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 0);
    let app = spawn_app_with(store, &env_of(&stripe.env())).await;
    let plan = app.create_plan(ORG, None).await;
    stripe.fail_next([500; 50]);
    app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"stripe_subscription_item": "si_acme"})).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    billing_is(&app, &plan, "stripe", "failing").await;
    let unset = app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"stripe_subscription_item": null})).await;
    assert_eq!(unset.status(), 200);
    let view: Value = unset.json().await.unwrap();
    assert_eq!(view["billing"]["stripe"], Value::Null, "the plan follows no item: nothing to be in sync with");
    let states: Vec<String> = outbound(&app, &format!("?plan={plan}"))
        .await
        .iter()
        .map(|m| m["state"].as_str().unwrap().to_owned())
        .collect();
    assert!(states.iter().all(|s| s == "superseded"), "{states:?}");
    assert!(outbound(&app, "?state=failing").await.is_empty());
}

async fn each_plan_a_batch_changed_hears_of_it_from_that_batch(store: Store) {
    use sea_orm::TransactionTrait;
    use seatsync::{
        domain::{EventId, EventStatus, OrganizationId, order_key},
        inbox::{NewEvent, writer::insert_events},
    };
    // No server: nothing else runs, so one drain's one batch applies all.
    let database = TestDatabase::create(store).await;
    let db = migrated(&database).await;
    let webhook = seatsync::billing::Targets { webhook: true, stripe: false };
    seatsync::operator::billing_targets::register(&db, webhook, seatsync::domain::Micros::now()).await.unwrap();
    let orgs = [ORG, OTHER_ORG, "org_01THIRDORGANIZATION"];
    let mut plans = Vec::new();
    let mut events = Vec::new();
    for (i, org) in orgs.iter().enumerate() {
        let new = operator::NewPlan {
            name: format!("Plan {i}"),
            organization_id: Some(org.to_string()),
            test_mode_max_users: None,
            external_id: None,
        };
        plans.push(operator::create(&db, new, 10).await.unwrap().id);
        let (id, user, email) =
            (format!("event_batch{i}"), format!("directory_user_b{i}"), format!("b{i}@example.com"));
        let (dir, at) = (format!("directory_batch{i}"), at(i as u32));
        let body =
            UserEvent { id: &id, org, dir: &dir, user: &user, email: &email, at: &at, ..Default::default() }.json();
        events.push(NewEvent {
            event_id: EventId::parse(&id).unwrap(),
            event_type: "dsync.user.created".into(),
            body: body.to_string().into_bytes(),
            status: EventStatus::Pending,
            order_key: Some(order_key::of_organization(&OrganizationId::parse(org).unwrap())),
            traceparent: None,
        });
    }
    let txn = db.begin().await.unwrap();
    insert_events(&txn, &events.iter().collect::<Vec<_>>()).await.unwrap();
    txn.commit().await.unwrap();
    let metrics = seatsync::metrics::Metrics::default();
    seatsync::reconcile::worker::drain(&db, &metrics).await.unwrap();
    // Nothing happens afterwards: each plan's message is already written,
    // with its own change.
    for (i, plan) in plans.iter().enumerate() {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM outbound_messages m JOIN seat_audit a ON a.plan_id = m.plan_id \
             AND a.seq > m.audit_after AND a.seq <= m.audit_through \
             WHERE m.plan_id = '{plan}' AND m.paid_seats = 1 AND a.email = 'b{i}@example.com'"
        );
        let row =
            db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1, "plan {i} has its message");
    }
}

async fn numbers_count_each_targets_messages_from_one_with_no_gap(store: Store) {
    let receiver = FakeBilling::start();
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 0);
    let app = spawn_app_with(store, &[env_of(&receiver.env()), env_of(&stripe.env())].concat()).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    // A Stripe-only message (the item just set) takes no webhook number.
    app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"stripe_subscription_item": "si_acme"})).await;
    for who in ["bob", "cy"] {
        assert_eq!(app.set_tier(&plan, &format!("{who}@example.com"), "paid").await.status(), 200);
        billing_is(&app, &plan, "webhook", "in_sync").await;
    }
    let webhook = billing_is(&app, &plan, "webhook", "in_sync").await;
    let stripe_state = billing_is(&app, &plan, "stripe", "in_sync").await;
    let numbers: Vec<i64> = receiver.of_plan(&plan).iter().map(|d| d.sequence()).collect();
    assert_eq!(numbers, (1..=numbers.len() as i64).collect::<Vec<_>>(), "from 1, no gap: {numbers:?}");
    assert_eq!(webhook["sequence_sent"], json!(numbers.len()));
    assert_eq!(webhook["paid_seats_sent"], 3);
    assert_eq!(stripe_state["paid_seats_sent"], 3);
    let stripe_numbers: Vec<i64> = outbound(&app, &format!("?plan={plan}"))
        .await
        .iter()
        .filter(|m| m["target"] == "stripe")
        .map(|m| m["sequence"].as_i64().unwrap())
        .rev()
        .collect();
    assert_eq!(stripe_numbers, (1..=stripe_numbers.len() as i64).collect::<Vec<_>>(), "{stripe_numbers:?}");
}

both_stores!(
    stripe_never_receives_a_quantity_older_than_one_it_received,
    a_dead_stripe_message_retried_before_a_newer_one_is_delivered_goes_first,
    retrying_an_older_stripe_message_while_a_newer_one_is_dead_sends_nothing,
    a_seat_change_made_from_a_shell_reaches_billing,
    a_target_configured_for_the_first_time_gets_each_plans_current_seats_once,
    a_message_that_was_tried_keeps_its_id_and_body,
    a_failing_message_is_never_merged_with_the_ones_behind_it,
    an_operator_retry_of_a_delivered_message_is_refused,
    a_stripe_item_unset_while_its_message_waits_leaves_nothing_failing,
    each_plan_a_batch_changed_hears_of_it_from_that_batch,
    numbers_count_each_targets_messages_from_one_with_no_gap,
);
