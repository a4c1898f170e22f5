//! Notices to billing beside the seat messages (CONTRACT 7.1) and the grant
//! guard (CONTRACT 4.1). A hold, its approval and the start of enforcement are
//! told in the plan's `sequence`, after the seat message that carried the
//! changes before them, signed like every message (checked by the Standard
//! Webhooks reference library); a rolled-back transaction tells nothing.
//! Both stores.
use crate::both_stores;
use crate::fake_billing::{Delivery, FakeBilling};
use crate::helpers::*;
use crate::portal::{open_portal, portal};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn app_with_receiver(store: Store, receiver: &FakeBilling, extra: &[(&str, &str)]) -> TestApp {
    let env = receiver.env();
    let mut overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    overrides.extend_from_slice(extra);
    spawn_app_with(store, &overrides).await
}

fn email(i: u32) -> String {
    format!("user{i:03}@example.com")
}

fn created(i: u32) -> Value {
    let (user, email, id) = (format!("directory_user_{i:03}"), email(i), format!("event_c{i:03}"));
    UserEvent { id: &id, user: &user, email: &email, at: &at(i), ..Default::default() }.json()
}

fn deactivated(i: u32) -> Value {
    let (user, email, id) = (format!("directory_user_{i:03}"), email(i), format!("event_off{i:03}"));
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

/// The types of a plan's deliveries, by `sequence`, each sequence once.
fn by_sequence(deliveries: &[Delivery]) -> Vec<Delivery> {
    let mut sorted: Vec<Delivery> = deliveries.to_vec();
    sorted.sort_by_key(Delivery::sequence);
    sorted.dedup_by_key(|d| d.sequence());
    let sequences: Vec<i64> = sorted.iter().map(Delivery::sequence).collect();
    assert_eq!(sequences, (1..=sorted.len() as i64).collect::<Vec<_>>(), "from 1 with no gap");
    sorted
}

fn kind(d: &Delivery) -> &str {
    d.json["type"].as_str().unwrap_or("")
}

/// Where the first delivery whose changes have `reason` (for `email`, if given) is.
fn first_change(deliveries: &[Delivery], reason: &str, email: Option<&str>) -> usize {
    deliveries
        .iter()
        .position(|d| {
            d.json["data"]["changes"].as_array().is_some_and(|changes| {
                changes.iter().any(|c| c["reason"] == reason && email.is_none_or(|e| c["email"] == e))
            })
        })
        .unwrap_or_else(|| panic!("no delivery carries {reason} {email:?}"))
}

async fn hold_approval_and_enforcement_are_told_in_order_with_the_seats(store: Store) {
    let receiver = FakeBilling::start();
    let app = app_with_receiver(store, &receiver, &[]).await;
    let plan = app.create_plan(ORG, Some(3)).await;
    assert_eq!(app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"release_limit": 2})).await.status(), 200);
    // On the plan before SCIM: enforcement moves them to free.
    assert_eq!(app.set_tier(&plan, "outsider@example.com", "paid").await.status(), 200);
    for i in 0..5 {
        app.deliver(&created(i)).await;
    }
    eventually(Duration::from_secs(10), "enforced", || async {
        let mode = app.plan(&plan).await["mode"].clone();
        if mode == "enforced" { Ok(()) } else { Err(mode) }
    })
    .await;
    for i in 0..4 {
        app.deliver(&deactivated(i)).await;
    }
    let held = eventually(Duration::from_secs(10), "the third release held", || async {
        let shown = app.plan(&plan).await;
        if shown["hold"]["held_events"] == 2 { Ok(shown) } else { Err(shown) }
    })
    .await;
    assert_eq!(held["hold"]["kind"], "release");
    assert_eq!(held["hold"]["would_release"], json!([email(2), email(3)]));

    // The customer's admin approves what the portal showed.
    let session = open_portal(&app, &plan).await;
    let shown: Value = portal(&app, &session, Method::GET, "/plan", None).await.json().await.unwrap();
    let through = shown["hold"]["through"].clone();
    let approved = portal(&app, &session, Method::POST, "/hold/approve", Some(json!({ "through": through }))).await;
    assert_eq!(approved.status(), 200);
    assert_eq!(app.plan(&plan).await["paid_seats"], 1);

    let got = receiver
        .wait_for("the seats after the approval", |d| {
            d.iter().any(|d| kind(d) == "plan.seats.updated" && d.json["data"]["paid_seats"] == 1)
        })
        .await;
    let plan_deliveries: Vec<Delivery> = got.into_iter().filter(|d| d.plan() == plan).collect();
    let sent = by_sequence(&plan_deliveries);
    let kinds: Vec<&str> = sent.iter().map(kind).collect();
    let at = |wanted: &str| kinds.iter().position(|k| *k == wanted).unwrap_or_else(|| panic!("no {wanted}: {kinds:?}"));
    let (enforced, held, approved) =
        (at("plan.enforcement.started"), at("plan.hold.started"), at("plan.hold.approved"));
    assert_eq!(
        kinds.iter().filter(|k| k.starts_with("plan.hold") || k.starts_with("plan.enf")).count(),
        3,
        "{kinds:?}"
    );
    // Each after the seats it follows, and before what came after it.
    assert!(first_change(&sent, "enforcement_started", None) < enforced, "{kinds:?}");
    assert!(first_change(&sent, "directory_user_inactive", Some(&email(1))) < held, "{kinds:?}");
    assert!(enforced < held && held < approved, "{kinds:?}");
    assert!(first_change(&sent, "directory_user_inactive", Some(&email(3))) > approved, "{kinds:?}");

    let notice = |i: usize| sent[i].json["data"].clone();
    assert_eq!((notice(enforced)["paid_seats"].as_u64(), notice(enforced)["free_seats"].as_u64()), (Some(4), Some(1)));
    assert_eq!(notice(enforced)["plan_id"], plan.as_str());
    // The hold as it started: the third release, and the fourth if it came
    // in the same batch.
    assert_eq!(notice(held)["kind"], "release");
    let (n, at_start) = (notice(held)["held_events"].as_u64().unwrap(), notice(held)["through"].clone());
    let expected: Vec<String> = (2..2 + n as u32).map(email).collect();
    assert_eq!(notice(held)["would_release"], json!(expected), "{n} held");
    assert_eq!(at_start, json!(format!("event_off{:03}", 1 + n)));
    assert_eq!((notice(approved)["through"].clone(), notice(approved)["by"].clone()), (through, json!("portal")));
    receiver.verify_independently();
    let listed = app.admin_json(&format!("/admin/outbound?plan={plan}")).await;
    let types: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"plan.hold.approved"), "{types:?}");
}

async fn a_rolled_back_batch_tells_billing_nothing(store: Store) {
    let receiver = FakeBilling::start();
    let app = app_with_receiver(store, &receiver, &[("SEATSYNC_TEST_FAULT", "apply-panic")]).await;
    // Stored before the plan exists: they park, then apply together in one
    // batch, which starts enforcement and then panics on the last event.
    for i in 0..5 {
        app.deliver(&created(i)).await;
    }
    let panics = UserEvent {
        id: "event_panics",
        user: "directory_user_panics",
        email: "panic-on-apply@example.com",
        at: &at(50),
        ..Default::default()
    };
    app.user(panics).await;
    let plan = app.create_plan(ORG, Some(3)).await;
    eventually(Duration::from_secs(60), "event_panics failed and the rest applied", || async {
        let (status, paid) = (app.event_status("event_panics").await, app.plan(&plan).await["paid_seats"].clone());
        if status == "failed" && paid == 5 { Ok(()) } else { Err((status, paid)) }
    })
    .await;
    let written = app
        .count(&format!(
            "SELECT COUNT(*) FROM outbound_messages WHERE plan_id = '{plan}' AND kind = 'plan.enforcement.started'"
        ))
        .await;
    assert_eq!(written, 1, "the rolled-back batch's notice is gone with it");
    let got =
        receiver.wait_for("the enforcement notice", |d| d.iter().any(|d| kind(d) == "plan.enforcement.started")).await;
    assert_eq!(got.iter().filter(|d| kind(d) == "plan.enforcement.started").count(), 1);
}

async fn a_grant_limit_holds_the_burst_that_passes_it_and_approval_applies_the_rest_in_order(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, Some(0)).await;
    let patched = app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"grant_limit": 50})).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.json::<Value>().await.unwrap()["grant_limit"], 50);
    // "Everyone" assigned where one team was meant: 400 people at once.
    for i in 1..=400 {
        let response = app.post_webhook(created(i).to_string().as_bytes()).await;
        assert_eq!(response.status(), 200);
    }
    let held = eventually(Duration::from_secs(60), "the 51st grant held", || async {
        let shown = app.plan(&plan).await;
        if shown["hold"]["held_events"] == 350 { Ok(shown) } else { Err(shown["hold"].clone()) }
    })
    .await;
    assert_eq!(held["paid_seats"], 50);
    assert_eq!(held["hold"]["kind"], "grant");
    assert_eq!(held["hold"]["through"], "event_c400");
    let expected: Vec<String> = (51..=400).map(email).collect();
    assert_eq!(held["hold"]["would_grant"], json!(expected));
    assert_eq!(held["hold"]["would_release"], json!([]));
    assert_eq!(app.event_status("event_c050").await, "applied");
    assert_eq!(app.event_status("event_c051").await, "held");

    assert_eq!(app.approve_hold(&plan).await.status(), 200);
    app.settle().await;
    let after = app.plan(&plan).await;
    assert_eq!((after["paid_seats"].as_u64(), after["hold"].clone()), (Some(400), Value::Null));
    // In arrival order: the audit's grants are users 1 to 400, in turn.
    let mut granted = Vec::new();
    let mut cursor = 0;
    loop {
        let page = app.admin_json(&format!("/admin/plans/{plan}/audit?limit=1000&after={cursor}")).await;
        for row in page["data"].as_array().unwrap() {
            if row["to"] == "paid" {
                granted.push(row["email"].as_str().unwrap().to_owned());
            }
        }
        match page["next"].as_str() {
            Some(next) => cursor = next.parse().unwrap(),
            None => break,
        }
    }
    assert_eq!(granted, (1..=400).map(email).collect::<Vec<_>>());
}

both_stores!(
    hold_approval_and_enforcement_are_told_in_order_with_the_seats,
    a_rolled_back_batch_tells_billing_nothing,
    a_grant_limit_holds_the_burst_that_passes_it_and_approval_applies_the_rest_in_order
);
