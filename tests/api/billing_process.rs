//! Billing deliveries across real processes (CONTRACT 7): `kill -9` between
//! the commit and the delivery, and during the delivery, loses nothing; two
//! replicas on one database deliver each message once, in order per plan.
use crate::both_stores;
use crate::fake_billing::{FakeBilling, Reply};
use crate::helpers::*;
use crate::processes::start_server;
use serde_json::{Value, json};
use std::{collections::BTreeMap, process::Child, time::Duration};

fn env(db: &TestDatabase, receiver: &FakeBilling, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = base_env(&db.url).into_iter().collect();
    env.extend(receiver.env().into_iter().map(|(k, v)| (k.to_owned(), v)));
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

async fn start(env: Vec<(String, String)>) -> (Child, String) {
    let (child, port) = tokio::task::spawn_blocking(move || start_server(&env)).await.unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

fn kill_9(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn admin(base: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = seatsync::http_client::client()
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

async fn new_plan(base: &str, org: &str) -> String {
    let plan =
        admin(base, reqwest::Method::POST, "/admin/plans", json!({"name": "Acme", "organization_id": org})).await;
    plan["id"].as_str().unwrap().to_owned()
}

async fn paid(base: &str, plan: &str, email: &str) {
    admin(base, reqwest::Method::PUT, &format!("/admin/plans/{plan}/members/{email}"), json!({"tier": "paid"})).await;
}

async fn killed_between_commit_and_delivery_loses_nothing(store: Store) {
    let receiver = FakeBilling::start();
    let db = TestDatabase::create(store).await;
    let (first, base) = start(env(&db, &receiver, &[("SEATSYNC_TEST_FAULT", "delivery-paused")])).await;
    let plan = new_plan(&base, ORG).await;
    paid(&base, &plan, "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty(), "this process never sends");
    kill_9(first);

    let (second, _) = start(env(&db, &receiver, &[])).await;
    let got = receiver.wait_for("the committed message", |d| !d.is_empty()).await;
    assert_eq!((got[0].sequence(), got[0].json["data"]["paid_seats"].as_u64()), (1, Some(1)));
    kill_9(second);
    receiver.verify_independently();
}

async fn killed_during_delivery_it_is_sent_again_with_the_same_id(store: Store) {
    let receiver = FakeBilling::start();
    receiver.then([Reply::Hang(Duration::from_secs(20))]);
    let db = TestDatabase::create(store).await;
    let timeout = [("BILLING_WEBHOOK_TIMEOUT_SECS", "3")];
    let (first, base) = start(env(&db, &receiver, &timeout)).await;
    let plan = new_plan(&base, ORG).await;
    paid(&base, &plan, "ada@example.com").await;
    receiver.wait_for("the attempt in flight", |d| !d.is_empty()).await;
    kill_9(first);

    // The lease of the killed process runs out (time-out + 5 s); then the
    // message goes again, the same message.
    let (second, _) = start(env(&db, &receiver, &timeout)).await;
    let got = receiver.wait_for("the second attempt", |d| d.len() >= 2).await;
    assert_eq!(got[1].id, got[0].id);
    assert_eq!(got[1].body, got[0].body);
    kill_9(second);
    receiver.verify_independently();
}

async fn two_replicas_deliver_each_message_once_in_order(store: Store) {
    let receiver = FakeBilling::start();
    let db = TestDatabase::create(store).await;
    let (a, base_a) = start(env(&db, &receiver, &[])).await;
    let (b, base_b) = start(env(&db, &receiver, &[])).await;
    let orgs = ["org_01REPLICAONE", "org_01REPLICATWO", "org_01REPLICATHREE"];
    let mut plans = Vec::new();
    for org in orgs {
        plans.push(new_plan(&base_a, org).await);
    }
    for i in 0..24 {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        paid(base, &plans[i % 3], &format!("user{i}@example.com")).await;
    }
    for plan in &plans {
        receiver
            .wait_for("every plan's last count", |d| {
                d.iter().any(|d| d.plan() == plan && d.json["data"]["paid_seats"] == 8)
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill_9(a);
    kill_9(b);
    let got = receiver.received();
    let mut ids: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "no message sent twice (the receiver accepted each)");
    let mut per_plan: BTreeMap<&str, Vec<(i64, Vec<String>)>> = BTreeMap::new();
    for d in &got {
        let emails = d.json["data"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["email"].as_str().unwrap().to_owned())
            .collect();
        per_plan.entry(d.plan()).or_default().push((d.sequence(), emails));
    }
    for plan in &plans {
        let sent = &per_plan[plan.as_str()];
        assert!(sent.windows(2).all(|w| w[0].0 < w[1].0), "in order: {sent:?}");
        let mut emails: Vec<String> = sent.iter().flat_map(|(_, e)| e.clone()).collect();
        emails.sort();
        assert_eq!(emails.len(), 8, "every change once: {sent:?}");
    }
    receiver.verify_independently();
}

both_stores!(
    killed_between_commit_and_delivery_loses_nothing,
    killed_during_delivery_it_is_sent_again_with_the_same_id,
    two_replicas_deliver_each_message_once_in_order,
);
