//! Seat changes pushed to billing (CONTRACT 7, 7.1): every path that changes
//! seats writes one message per plan per transaction, in the same transaction;
//! deliveries are signed (and checked by an independent verifier), retried on
//! the schedule, merged when the receiver is behind, and never hold up
//! another plan. Both stores.
use crate::both_stores;
use crate::fake_billing::{Delivery, FakeBilling, Reply};
use crate::fake_workos::FakeWorkos;
use crate::helpers::*;
use sea_orm::ConnectionTrait;
use seatsync::{
    domain::OrganizationId,
    workos::resync::{ResyncOptions, resync},
};
use serde_json::{Value, json};
use std::time::Duration;

const OTHER_ORG: &str = "org_01OTHERORGANIZATION";

async fn app_with_receiver(store: Store, receiver: &FakeBilling, extra: &[(&str, &str)]) -> TestApp {
    let env = receiver.env();
    let mut overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    overrides.extend_from_slice(extra);
    spawn_app_with(store, &overrides).await
}

fn email(i: u32) -> String {
    format!("user{i:02}@example.com")
}

fn created(i: u32, org: &str) -> Value {
    let (user, email) = (format!("directory_user_{org}_{i:02}"), email(i));
    let dir = if org == ORG { DIRECTORY } else { "directory_01OTHERDIRECTORY" };
    let id = format!("event_{org}_c{i}");
    UserEvent { id: &id, org, dir, user: &user, email: &email, at: &at(i), ..Default::default() }.json()
}

fn deactivated(i: u32) -> Value {
    let (user, email) = (format!("directory_user_{ORG}_{i:02}"), email(i));
    let id = format!("event_off{i}");
    UserEvent {
        id: &id,
        kind: "updated",
        user: &user,
        email: &email,
        state: "inactive",
        at: &at(1000 + i),
        ..Default::default()
    }
    .json()
}

/// The plan's seat message count so far (its `billing_sequence`, less the
/// notices among its positions): one per transaction that changed its
/// seats, whatever was merged since.
async fn sequence(app: &TestApp, plan: &str) -> i64 {
    app.count(&format!(
        "SELECT billing_sequence - (SELECT COUNT(*) FROM outbound_messages WHERE plan_id = '{plan}' \
         AND kind <> 'plan.seats.updated') FROM plans WHERE id = '{plan}'"
    ))
    .await
}

/// Every stored message's changes (a range of the plan's audit rows), in
/// sequence order, are the plan's audit rows, each exactly once.
async fn messages_carry_the_audit_exactly(app: &TestApp, plan: &str) {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT audit_after, audit_through FROM outbound_messages WHERE plan_id = '{plan}' ORDER BY position"
            ),
        ))
        .await
        .unwrap();
    let ranges: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r.try_get::<i64>("", "audit_after").unwrap(), r.try_get::<i64>("", "audit_through").unwrap()))
        .collect();
    let audit: Vec<i64> = app.audit(plan).await.iter().map(|a| a["seq"].as_i64().unwrap()).collect();
    let mut sent: Vec<i64> = Vec::new();
    for (after, through) in &ranges {
        sent.extend(audit.iter().filter(|seq| *seq > after && *seq <= through));
    }
    assert_eq!(sent, audit, "the messages' changes are the audit trail, once each: {ranges:?}");
}

async fn delivered(app: &TestApp, plan: &str) -> Value {
    eventually(Duration::from_secs(10), "billing catches up", || async {
        let billing = app.plan(plan).await["billing"]["webhook"].clone();
        if billing["state"] == "in_sync" { Ok(billing) } else { Err(billing) }
    })
    .await
}

async fn deliveries(app: &TestApp, query: &str) -> Vec<Value> {
    app.admin_json(&format!("/admin/outbound{query}")).await["data"].as_array().unwrap().clone()
}

async fn a_seat_change_reaches_billing_signed_and_verified_independently(store: Store) {
    let receiver = FakeBilling::start();
    let app = app_with_receiver(store, &receiver, &[]).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    receiver.wait_for("the first message", |d| !d.is_empty()).await;
    assert_eq!(app.set_tier(&plan, "bob@example.com", "free").await.status(), 200);

    let got = receiver.wait_for("two messages", |d| d.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2, "nothing sent twice");
    let first = &got[0];
    assert!(first.id.starts_with("msg_"), "{}", first.id);
    let ts: i64 = first.timestamp.parse().unwrap();
    assert!((ts - chrono::Utc::now().timestamp()).abs() < 60);
    assert!(first.signature.starts_with("v1,"), "{}", first.signature);
    assert_eq!(first.json["type"], "plan.seats.updated");
    let data = &first.json["data"];
    assert_eq!(data["plan_id"], plan.as_str());
    assert_eq!(data["organization_id"], ORG);
    assert_eq!(
        (data["mode"].as_str(), data["paid_seats"].as_u64(), data["free_seats"].as_u64()),
        (Some("test"), Some(1), Some(0))
    );
    assert_eq!(data["sequence"], 1);
    let change = &data["changes"][0];
    assert_eq!(
        (change["email"].as_str(), &change["from"], change["to"].as_str(), change["reason"].as_str()),
        (Some("ada@example.com"), &Value::Null, Some("paid"), Some("manual"))
    );
    assert_eq!(got[1].json["data"]["sequence"], 2);
    assert_eq!(
        (got[1].json["data"]["paid_seats"].as_u64(), got[1].json["data"]["free_seats"].as_u64()),
        (Some(1), Some(1))
    );
    receiver.verify_independently();

    let billing = delivered(&app, &plan).await;
    assert_eq!(billing, json!({"paid_seats_sent": 1, "sequence_sent": 2, "state": "in_sync", "last_error": null}));
    assert_eq!(app.plan(&plan).await["billing"]["stripe"], Value::Null, "no Stripe target here");
    let list = deliveries(&app, &format!("?plan={plan}")).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], got[1].id.as_str(), "newest first");
    assert_eq!(
        (list[0]["state"].as_str(), list[0]["attempts"].as_i64(), list[0]["target"].as_str()),
        (Some("delivered"), Some(1), Some("webhook"))
    );
    assert_eq!(list[0]["type"], "plan.seats.updated");
    assert_eq!(list[0]["last_status"], 200);
    // Counted just after the attempt is recorded.
    let wanted = r#"seatsync_outbound_deliveries_total{target="webhook",outcome="delivered"} 2"#;
    let metrics = eventually(Duration::from_secs(5), wanted, || async {
        let metrics = app.metrics_text().await;
        if metrics.contains(wanted) { Ok(metrics) } else { Err(metrics) }
    })
    .await;
    assert!(metrics.contains(r#"seatsync_outbound_pending{target="webhook"} 0"#), "{metrics}");
}

async fn each_path_that_changes_seats_writes_one_message_per_transaction(store: Store) {
    let receiver = FakeBilling::start();
    let app = app_with_receiver(store, &receiver, &[]).await;
    let plan = app.create_plan(ORG, Some(10)).await;
    let other = app.create_plan(OTHER_ORG, None).await;

    // By hand.
    assert_eq!(app.set_tier(&plan, "hand@example.com", "paid").await.status(), 200);
    assert_eq!(sequence(&app, &plan).await, 1);
    // A change that changes nothing writes nothing.
    assert_eq!(app.set_tier(&plan, "hand@example.com", "paid").await.status(), 200);
    assert_eq!(sequence(&app, &plan).await, 1);

    // Events of two plans, applied in one batch: one message each.
    for i in 0..8 {
        app.deliver(&created(i, ORG)).await;
        app.deliver(&created(i, OTHER_ORG)).await;
    }
    app.settle().await;
    let (ours, theirs) = (sequence(&app, &plan).await, sequence(&app, &other).await);
    assert!((2..=9).contains(&ours) && (1..=8).contains(&theirs), "{ours} {theirs}");

    // The enforcement switch, by a lower threshold.
    let before = sequence(&app, &plan).await;
    let response = app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"test_mode_max_users": 5})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.plan(&plan).await["mode"], "enforced");
    assert_eq!(sequence(&app, &plan).await, before + 1);

    // A deactivation.
    let before = sequence(&app, &plan).await;
    app.deliver(&deactivated(0)).await;
    app.settle().await;
    assert_eq!(sequence(&app, &plan).await, before + 1);

    // dsync.deleted: the directory's members become the plan's own.
    let before = sequence(&app, &plan).await;
    app.deliver(&directory_event("event_dir_deleted", "dsync.deleted", ORG, DIRECTORY)).await;
    app.settle().await;
    assert_eq!(sequence(&app, &plan).await, before + 1);
    assert_eq!(app.event_status("event_dir_deleted").await, "applied");

    messages_carry_the_audit_exactly(&app, &plan).await;
    messages_carry_the_audit_exactly(&app, &other).await;
    // The last message's counts are the plan's.
    delivered(&app, &plan).await;
    let newest = receiver.of_plan(&plan).last().unwrap().json["data"].clone();
    let view = app.plan(&plan).await;
    assert_eq!(
        (newest["paid_seats"].clone(), newest["free_seats"].clone()),
        (view["paid_seats"].clone(), view["free_seats"].clone())
    );
    // With its only directory gone the plan is back in test mode, and says so.
    assert_eq!((newest["mode"].as_str(), view["mode"].as_str()), (Some("test"), Some("test")));
    receiver.verify_independently();
}

async fn a_hold_approved_and_a_resync_each_write_one_message(store: Store) {
    let receiver = FakeBilling::start();
    let app = app_with_receiver(store, &receiver, &[]).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"release_limit": 1})).await.status(), 200);
    for i in 0..12 {
        app.deliver(&created(i, ORG)).await;
    }
    app.settle().await;
    // Two deactivations: the second is held.
    app.deliver(&deactivated(0)).await;
    app.deliver(&deactivated(1)).await;
    app.settle().await;
    assert_eq!(app.event_status("event_off1").await, "held");
    let before = sequence(&app, &plan).await;
    let approved = app.approve_hold(&plan).await;
    assert_eq!(approved.status(), 200);
    app.settle().await;
    assert_eq!(app.event_status("event_off1").await, "applied");
    assert_eq!(sequence(&app, &plan).await, before + 1, "the approved event's transaction");

    // A resync that finds user 2 gone: one message, reason resync.
    let fake = FakeWorkos::start();
    {
        let mut state = fake.state.lock().unwrap();
        state.directories =
            vec![json!({"object": "directory", "id": DIRECTORY, "organization_id": ORG, "state": "linked"})];
        let users: Vec<Value> = (0..12u32)
            .filter(|i| *i != 2)
            .map(|i| {
                let active = if i < 2 { "inactive" } else { "active" };
                let (user, email) = (format!("directory_user_{ORG}_{i:02}"), email(i));
                UserEvent {
                    id: "x",
                    user: &user,
                    email: &email,
                    state: active,
                    at: &at(3000 + i),
                    ..Default::default()
                }
                .json()["data"]
                    .clone()
            })
            .collect();
        state.users.insert(DIRECTORY.to_owned(), users);
    }
    let before = sequence(&app, &plan).await;
    let org = OrganizationId::parse(ORG).unwrap();
    let dry = ResyncOptions { dry_run: true, allow_mass_release: true, ..Default::default() };
    resync(&app.db, &fake.client(), &org, dry, |_| {}).await.unwrap();
    assert_eq!(sequence(&app, &plan).await, before, "a dry run (rolled back) writes nothing");
    let real = ResyncOptions { allow_mass_release: true, ..Default::default() };
    let report = resync(&app.db, &fake.client(), &org, real, |_| {}).await.unwrap();
    assert!(!report.seat_changes.is_empty());
    assert_eq!(sequence(&app, &plan).await, before + 1);
    messages_carry_the_audit_exactly(&app, &plan).await;
    // Notices carry no changes.
    let resync_release = |d: &Delivery| {
        d.json["data"]["changes"].as_array().is_some_and(|changes| {
            changes.iter().any(|c| c["email"] == "user02@example.com" && c["to"] == "free" && c["reason"] == "resync")
        })
    };
    let got = receiver.wait_for("the resync's message", |d| d.iter().any(resync_release)).await;
    // The resync's message is the plan's last (an earlier one may be merged into it).
    let numbers: Vec<i64> = got.iter().filter(|d| d.plan() == plan).map(|d| d.sequence()).collect();
    assert_eq!(got.iter().rfind(|d| d.plan() == plan).map(resync_release), Some(true), "{numbers:?}");
}

async fn a_batch_rolled_back_leaves_no_message(store: Store) {
    let receiver = FakeBilling::start();
    let app = app_with_receiver(store, &receiver, &[("SEATSYNC_TEST_FAULT", "apply-panic")]).await;
    let plan = app.create_plan(ORG, None).await;
    for i in 0..4 {
        app.deliver(&created(i, ORG)).await;
    }
    // Applying this one panics: its batch rolls back, and the rest is applied
    // one event at a time around it.
    let panics = UserEvent {
        id: "event_panics",
        user: "directory_user_panics",
        email: "panic-on-apply@example.com",
        at: &at(50),
        ..Default::default()
    };
    app.user(panics).await;
    for i in 4..8 {
        app.deliver(&created(i, ORG)).await;
    }
    // The background reconciler (with the fault) fails that event after its
    // attempts, and applies the rest.
    eventually(Duration::from_secs(60), "event_panics failed and the rest applied", || async {
        let (status, paid) = (app.event_status("event_panics").await, app.plan(&plan).await["paid_seats"].clone());
        if status == "failed" && paid == 8 { Ok(()) } else { Err((status, paid)) }
    })
    .await;
    let statuses: Vec<Value> =
        futures_util::future::join_all((0..8).map(|i| app.admin_json_owned(format!("/admin/events/event_{ORG}_c{i}"))))
            .await;
    assert_eq!(app.plan(&plan).await["paid_seats"], 8, "{statuses:?}");
    messages_carry_the_audit_exactly(&app, &plan).await;
    let sent = delivered(&app, &plan).await;
    assert_eq!(sent["paid_seats_sent"], 8);
}

async fn a_failing_receiver_gets_the_same_message_until_it_accepts(store: Store) {
    let receiver = FakeBilling::start();
    receiver.then([Reply::Status(500), Reply::Status(502), Reply::RetryAfter(503, 1)]);
    let app = app_with_receiver(store, &receiver, &[]).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    let billing = delivered(&app, &plan).await;
    assert_eq!(billing["paid_seats_sent"], 1);
    let got = receiver.of_plan(&plan);
    assert_eq!(got.len(), 4, "three failures, then the one that is accepted");
    assert!(got.iter().all(|d| d.id == got[0].id && d.body == got[0].body), "a retry is the same message");
    let list = deliveries(&app, "").await;
    assert_eq!((list[0]["state"].as_str(), list[0]["attempts"].as_i64()), (Some("delivered"), Some(4)));
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"seatsync_outbound_deliveries_total{target="webhook",outcome="failed"} 3"#),
        "{metrics}"
    );
    receiver.verify_independently();
}

async fn a_410_is_dead_at_once_and_an_operator_sends_it_again(store: Store) {
    let receiver = FakeBilling::start();
    receiver.then([Reply::Status(410)]);
    let app = app_with_receiver(store, &receiver, &[]).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    receiver.wait_for("one attempt", |d| !d.is_empty()).await;
    let dead = eventually(Duration::from_secs(5), "a dead message", || async {
        let dead = deliveries(&app, "?state=dead").await;
        if dead.is_empty() { Err(dead) } else { Ok(dead) }
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0]["attempts"].as_i64(), dead[0]["last_status"].as_i64()), (Some(1), Some(410)));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.received().len(), 1, "a dead message is not retried by itself");
    let billing = app.plan(&plan).await["billing"]["webhook"].clone();
    assert_eq!((billing["state"].as_str(), &billing["paid_seats_sent"]), (Some("failing"), &Value::Null));

    let id = dead[0]["id"].as_str().unwrap();
    let retried = app.admin_post(&format!("/admin/outbound/{id}/retry"), &json!({})).await;
    assert_eq!(retried.status(), 200);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!((retried["id"].as_str(), retried["state"].as_str()), (Some(id), Some("delivered")));
    assert_eq!(receiver.received().len(), 2);
    assert_eq!(receiver.received()[1].id, id, "sent again with the same id");
    assert_eq!(delivered(&app, &plan).await["paid_seats_sent"], 1);
    assert_eq!(retried["attempts"], 2, "every attempt counts, the operator's retry included");
    assert_eq!(retried["sequence"], 1, "its own number, kept");
    // Delivered: asked again, it is not resent (its seats may be stale by
    // then; `billing resend` sends the current ones).
    let again = app.admin_post(&format!("/admin/outbound/{id}/retry"), &json!({})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "already_delivered");
    assert_eq!(receiver.received().len(), 2, "a delivered message is not sent again");
    let unknown = app.admin_post("/admin/outbound/msg_nope/retry", &json!({})).await;
    assert_eq!(unknown.status(), 404);
}

async fn hangs_redirects_and_huge_answers_are_retried_and_nothing_is_lost(store: Store) {
    let receiver = FakeBilling::start();
    receiver.then([Reply::Hang(Duration::from_secs(3)), Reply::Redirect, Reply::Huge(500, 5 * 1024 * 1024)]);
    let app = app_with_receiver(store, &receiver, &[]).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    delivered(&app, &plan).await;
    let got = receiver.received();
    assert_eq!(got.iter().filter(|d| d.path == "/billing").count(), 4);
    assert!(got.iter().all(|d| d.path == "/billing"), "a redirect is never followed");
    assert!(got.iter().all(|d| d.id == got[0].id));
    // The huge answer's excerpt is what the message kept of it, short.
    let list = deliveries(&app, "").await;
    assert_eq!(list[0]["state"], "delivered");
    assert_eq!(list[0]["attempts"], 4);
}

async fn pending_messages_are_merged_while_the_receiver_is_behind(store: Store) {
    let receiver = FakeBilling::start();
    receiver.always(Some(Reply::Status(500)));
    let app = app_with_receiver(store, &receiver, &[("BILLING_RETRY_SCHEDULE_SECS", "1,1,1,1,1,1,1")]).await;
    let plan = app.create_plan(ORG, None).await;
    for who in ["a", "b", "c"] {
        assert_eq!(app.set_tier(&plan, &format!("{who}@example.com"), "paid").await.status(), 200);
    }
    receiver.wait_for("a failed attempt", |d| !d.is_empty()).await;
    let failing = eventually(Duration::from_secs(10), "billing failing", || async {
        let billing = app.plan(&plan).await["billing"]["webhook"].clone();
        if billing["state"] == "failing" { Ok(billing) } else { Err(billing) }
    })
    .await;
    assert!(failing["last_error"].as_str().unwrap().contains("500"), "{failing}");
    receiver.always(None);
    delivered(&app, &plan).await;
    // The message tried while the receiver was down keeps its own id and
    // body; the ones never tried behind it went out merged, as one.
    let mut sent: Vec<Value> = Vec::new();
    for delivery in receiver.of_plan(&plan) {
        if sent.last().is_none_or(|last| last["id"] != delivery.id.as_str()) {
            let mut data = delivery.json["data"].clone();
            data["id"] = json!(delivery.id);
            sent.push(data);
        }
    }
    let numbers: Vec<i64> = sent.iter().map(|d| d["sequence"].as_i64().unwrap()).collect();
    assert_eq!(numbers, (1..=sent.len() as i64).collect::<Vec<_>>(), "numbered from 1 with no gap");
    assert!(sent.len() <= 2, "never-tried messages are merged: {sent:?}");
    assert_eq!(sent.last().unwrap()["paid_seats"], 3);
    let emails: Vec<&str> = sent
        .iter()
        .flat_map(|d| d["changes"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap()))
        .collect();
    assert_eq!(emails, ["a@example.com", "b@example.com", "c@example.com"], "every change once, in order");
    assert_eq!(deliveries(&app, &format!("?plan={plan}")).await.len(), sent.len(), "merged ones are gone");
    receiver.verify_independently();
}

async fn a_failing_plan_does_not_hold_up_another_and_order_is_kept(store: Store) {
    let receiver = FakeBilling::start();
    let app =
        app_with_receiver(store, &receiver, &[("BILLING_RETRY_SCHEDULE_SECS", "0.5,0.5,0.5,0.5,0.5,0.5,0.5")]).await;
    let stuck = app.create_plan(ORG, None).await;
    let fine = app.create_plan(OTHER_ORG, None).await;
    receiver.for_plan(&stuck, Reply::Status(503));
    assert_eq!(app.set_tier(&stuck, "s1@example.com", "paid").await.status(), 200);
    for i in 0..5 {
        assert_eq!(app.set_tier(&fine, &format!("f{i}@example.com"), "paid").await.status(), 200);
    }
    let got = receiver
        .wait_for("the fine plan's last change", |d| {
            d.iter().any(|d| d.plan() == fine && d.json["data"]["paid_seats"] == 5)
        })
        .await;
    let sequences: Vec<i64> = got.iter().filter(|d| d.plan() == fine).map(|d| d.sequence()).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "in order, each once: {sequences:?}");
    // The stuck plan was tried and refused meanwhile (its attempt is recorded
    // after the receiver's answer).
    receiver.wait_for("the stuck plan's attempt", |d| d.iter().any(|d| d.plan() == stuck)).await;
    eventually(Duration::from_secs(10), "the stuck plan failing", || async {
        let state = app.plan(&stuck).await["billing"]["webhook"]["state"].clone();
        if state == "failing" { Ok(()) } else { Err(state) }
    })
    .await;
    receiver.clear_plan(&stuck);
    delivered(&app, &stuck).await;
    let stuck_sequences: Vec<i64> = receiver.of_plan(&stuck).iter().map(|d| d.sequence()).collect();
    assert!(stuck_sequences.iter().all(|s| *s == 1), "{stuck_sequences:?}");
}

async fn a_restart_while_the_receiver_is_down_loses_nothing(store: Store) {
    let receiver = FakeBilling::start();
    receiver.always(Some(Reply::Status(500)));
    let database = TestDatabase::create(store).await;
    let env = receiver.env();
    let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = spawn_app_on(&database, &overrides).await;
    let plan = first.create_plan(ORG, None).await;
    assert_eq!(first.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    receiver.wait_for("a failed attempt", |d| !d.is_empty()).await;
    drop(first);
    receiver.always(None);
    let second = spawn_app_on(&database, &overrides).await;
    assert_eq!(delivered(&second, &plan).await["paid_seats_sent"], 1);
    let got = receiver.of_plan(&plan);
    assert!(got.iter().all(|d| d.id == got[0].id), "the same message, retried");
    drop(second);
}

async fn resend_sends_the_current_seats_again(store: Store) {
    let receiver = FakeBilling::start();
    let app = app_with_receiver(store, &receiver, &[]).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    delivered(&app, &plan).await;
    let resent = app.admin_post(&format!("/admin/plans/{plan}/billing/resend"), &json!({})).await;
    assert_eq!(resent.status(), 202);
    let got = receiver.wait_for("the resend", |d| d.len() >= 2).await;
    assert_eq!(got[1].json["data"]["sequence"], 2);
    assert_eq!(got[1].json["data"]["paid_seats"], 1);
    assert_eq!(got[1].json["data"]["changes"], json!([]));
    assert_ne!(got[1].id, got[0].id);

    // Without a target there is nothing to resend to.
    let plain = spawn_app(store).await;
    let other = plain.create_plan(ORG, None).await;
    let refused = plain.admin_post(&format!("/admin/plans/{other}/billing/resend"), &json!({})).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "billing_not_configured");
    assert_eq!(plain.plan(&other).await["billing"], json!({"webhook": null, "stripe": null}));
}

both_stores!(
    a_seat_change_reaches_billing_signed_and_verified_independently,
    each_path_that_changes_seats_writes_one_message_per_transaction,
    a_hold_approved_and_a_resync_each_write_one_message,
    a_batch_rolled_back_leaves_no_message,
    a_failing_receiver_gets_the_same_message_until_it_accepts,
    a_410_is_dead_at_once_and_an_operator_sends_it_again,
    hangs_redirects_and_huge_answers_are_retried_and_nothing_is_lost,
    pending_messages_are_merged_while_the_receiver_is_behind,
    a_failing_plan_does_not_hold_up_another_and_order_is_kept,
    a_restart_while_the_receiver_is_down_loses_nothing,
    resend_sends_the_current_seats_again,
);
