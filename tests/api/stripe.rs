//! Stripe (CONTRACT 7.2): a plan's subscription item quantity follows its paid
//! seats, against a fake that speaks Stripe's shapes. Both stores.
use crate::both_stores;
use crate::fake_stripe::{FakeStripe, STRIPE_KEY};
use crate::helpers::*;
use seatsync::{billing::stripe::StripeClient, domain::Secret, operator::outbound::check};
use serde_json::{Value, json};
use std::time::Duration;

const OTHER_ORG: &str = "org_01OTHERORGANIZATION";

async fn app_with_stripe(store: Store, stripe: &FakeStripe) -> TestApp {
    let env = stripe.env();
    let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(store, &overrides).await
}

async fn patch(app: &TestApp, plan: &str, body: Value) -> reqwest::Response {
    app.admin_patch(&format!("/admin/plans/{plan}"), &body).await
}

fn user(i: u32, state: &str, kind: &str) -> Value {
    let (id, user, email) =
        (format!("event_{kind}{i}_{state}"), format!("directory_user_{i:02}"), format!("user{i:02}@example.com"));
    let at = at(if kind == "created" { i } else { 1000 + i });
    UserEvent { id: &id, kind, user: &user, email: &email, state, at: &at, ..Default::default() }.json()
}

/// Waits until the fake's quantity for `item` is the plan's paid seats.
async fn follows(app: &TestApp, stripe: &FakeStripe, plan: &str, item: &str) -> u64 {
    let mut last = (None, Value::Null);
    for _ in 0..300 {
        let paid = app.plan(plan).await["paid_seats"].clone();
        let quantity = stripe.quantity(item);
        if let Some(q) = quantity
            && Some(q) == paid.as_u64()
        {
            return q;
        }
        last = (quantity, paid);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the item never followed: Stripe {:?}, paid {}, posts {:?}", last.0, last.1, stripe.posts());
}

async fn the_item_follows_the_paid_seats_through_enforcement_a_hold_and_its_approval(store: Store) {
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 3);
    let app = app_with_stripe(store, &stripe).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(patch(&app, &plan, json!({"release_limit": 1})).await.status(), 200);
    for i in 0..11 {
        app.deliver(&user(i, "active", "created")).await;
    }
    app.settle().await;
    assert_eq!(app.plan(&plan).await["mode"], "enforced");
    // Setting the item sends the current count at once.
    let set = patch(&app, &plan, json!({"stripe_subscription_item": "si_acme"})).await;
    assert_eq!(set.status(), 200);
    assert_eq!(set.json::<Value>().await.unwrap()["stripe_subscription_item"], "si_acme");
    assert_eq!(follows(&app, &stripe, &plan, "si_acme").await, 11);

    // Two deactivations: the second is held, then approved.
    app.deliver(&user(0, "inactive", "updated")).await;
    app.deliver(&user(1, "inactive", "updated")).await;
    app.settle().await;
    assert_eq!(follows(&app, &stripe, &plan, "si_acme").await, 10);
    assert!(app.plan(&plan).await["hold"].is_object());
    assert_eq!(app.approve_hold(&plan).await.status(), 200);
    app.settle().await;
    assert_eq!(follows(&app, &stripe, &plan, "si_acme").await, 9);

    let posts = stripe.posts();
    assert!(posts.iter().all(|p| p.item == "si_acme" && p.proration == "create_prorations"), "{posts:?}");
    let pinned = seatsync::billing::stripe::STRIPE_VERSION;
    assert!(posts.iter().all(|p| p.version == pinned), "every request names the pinned API version: {posts:?}");
    assert!(posts.windows(2).all(|w| w[0].key != w[1].key || w[0].quantity == w[1].quantity), "{posts:?}");
    let dead = app.admin_json("/admin/outbound?state=dead").await;
    assert_eq!(dead["data"], json!([]), "no delivery refused (no idempotency_error)");
    // Recorded just after Stripe answered.
    eventually(Duration::from_secs(10), "billing in sync", || async {
        let billing = app.plan(&plan).await["billing"]["stripe"].clone();
        if billing["state"] == "in_sync" { Ok(()) } else { Err(billing) }
    })
    .await;

    // null stops following; a bad id is refused.
    assert_eq!(patch(&app, &plan, json!({"stripe_subscription_item": "sub_123"})).await.status(), 400);
    let stopped = patch(&app, &plan, json!({"stripe_subscription_item": null})).await;
    assert_eq!(stopped.json::<Value>().await.unwrap()["stripe_subscription_item"], Value::Null);
}

async fn a_lock_timeout_is_retried_with_the_same_key(store: Store) {
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 0);
    let app = app_with_stripe(store, &stripe).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    stripe.fail_next([429, 429, 429]);
    assert_eq!(patch(&app, &plan, json!({"stripe_subscription_item": "si_acme"})).await.status(), 200);
    assert_eq!(follows(&app, &stripe, &plan, "si_acme").await, 1);
    let posts = stripe.posts();
    assert_eq!(posts.len(), 4, "three refusals, then the change: {posts:?}");
    assert!(posts.iter().all(|p| p.key == posts[0].key && p.quantity == 1), "{posts:?}");
    // Recorded just after Stripe answered.
    let list = eventually(Duration::from_secs(10), "a delivered message", || async {
        let list = app.admin_json(&format!("/admin/outbound?plan={plan}&state=delivered")).await;
        if list["data"].as_array().is_some_and(|d| !d.is_empty()) { Ok(list) } else { Err(list) }
    })
    .await;
    let delivered: Vec<&Value> = list["data"].as_array().unwrap().iter().filter(|d| d["target"] == "stripe").collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!((delivered[0]["state"].as_str(), delivered[0]["attempts"].as_i64()), (Some("delivered"), Some(4)));
}

async fn an_unknown_item_is_dead_with_stripes_message_and_other_plans_go_on(store: Store) {
    let stripe = FakeStripe::start();
    stripe.add_item("si_other", 0);
    let app = app_with_stripe(store, &stripe).await;
    let missing = app.create_plan(ORG, None).await;
    let other = app.create_plan(OTHER_ORG, None).await;
    assert_eq!(patch(&app, &missing, json!({"stripe_subscription_item": "si_nothere"})).await.status(), 200);
    assert_eq!(patch(&app, &other, json!({"stripe_subscription_item": "si_other"})).await.status(), 200);
    // One plan per item: two would race on its quantity.
    assert_eq!(patch(&app, &missing, json!({"stripe_subscription_item": "si_other"})).await.status(), 400);
    assert_eq!(app.set_tier(&missing, "ada@example.com", "paid").await.status(), 200);
    assert_eq!(app.set_tier(&other, "bob@example.com", "paid").await.status(), 200);
    assert_eq!(follows(&app, &stripe, &other, "si_other").await, 1);
    let dead = eventually(Duration::from_secs(5), "a dead message", || async {
        let dead = app.admin_json(&format!("/admin/outbound?plan={missing}&state=dead")).await["data"].clone();
        match dead.as_array() {
            Some(list) if !list.is_empty() => Ok(list.clone()),
            _ => Err(dead),
        }
    })
    .await;
    assert_eq!(dead[0]["last_status"], 404);
    assert!(dead[0]["last_error"].as_str().unwrap().contains("No such subscription item"), "{}", dead[0]);
    let billing = app.plan(&missing).await["billing"]["stripe"].clone();
    assert_eq!(billing["state"], "failing", "{billing}");
}

async fn billing_check_reports_a_hand_edit_and_resend_fixes_it(store: Store) {
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 0);
    let app = app_with_stripe(store, &stripe).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    assert_eq!(patch(&app, &plan, json!({"stripe_subscription_item": "si_acme"})).await.status(), 200);
    follows(&app, &stripe, &plan, "si_acme").await;
    let client =
        StripeClient::new(&stripe.base, Secret::new(STRIPE_KEY), "create_prorations", Duration::from_secs(5)).unwrap();
    let (drifts, checked) = check(&app.db, &client).await.unwrap();
    assert_eq!((drifts.len(), checked), (0, 1));

    stripe.add_item("si_acme", 7); // someone edits it in Stripe's dashboard
    let (drifts, _) = check(&app.db, &client).await.unwrap();
    assert_eq!(drifts.len(), 1);
    assert_eq!(
        (drifts[0].plan_id.as_str(), drifts[0].paid_seats, drifts[0].stripe_quantity),
        (plan.as_str(), 1, Some(7))
    );

    assert_eq!(app.admin_post(&format!("/admin/plans/{plan}/billing/resend"), &json!({})).await.status(), 202);
    assert_eq!(follows(&app, &stripe, &plan, "si_acme").await, 1);
    assert_eq!(check(&app.db, &client).await.unwrap().0.len(), 0);
}

both_stores!(
    the_item_follows_the_paid_seats_through_enforcement_a_hold_and_its_approval,
    a_lock_timeout_is_retried_with_the_same_key,
    an_unknown_item_is_dead_with_stripes_message_and_other_plans_go_on,
    billing_check_reports_a_hand_edit_and_resend_fixes_it,
);

/// The Stripe key is in no log line, even at `RUST_LOG=trace` (the HTTP
/// client's own tracing included), while a quantity change is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stripe_key_is_in_no_log_line_at_trace() {
    let stripe = FakeStripe::start();
    stripe.add_item("si_acme", 0);
    let db = TestDatabase::create(Store::Sqlite).await;
    let mut env: Vec<(String, String)> = base_env(&db.url).into_iter().collect();
    env.extend(stripe.env().into_iter().map(|(k, v)| (k.to_owned(), v)));
    env.push(("RUST_LOG".into(), "trace".into()));
    env.push(("LOG_FORMAT".into(), "json".into()));
    let logs = tempfile::NamedTempFile::new().unwrap();
    let mut child = crate::processes::seatsync(&env)
        .arg("serve")
        .stdout(logs.reopen().unwrap())
        .stderr(logs.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut base = None;
    for _ in 0..200 {
        let text = std::fs::read_to_string(logs.path()).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("seatsync listening")) {
            let value: Value = serde_json::from_str(line).unwrap();
            base = Some(format!("http://{}", value["listen"].as_str().unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = base.expect("the server starts");
    let client = seatsync::http_client::client();
    let created: Value = client
        .post(format!("{base}/admin/plans"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "Acme", "organization_id": ORG}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let plan = created["id"].as_str().unwrap();
    let put = format!("{base}/admin/plans/{plan}/members/ada@example.com");
    client.put(put).bearer_auth(ADMIN_TOKEN).json(&json!({"tier": "paid"})).send().await.unwrap();
    let item = json!({"stripe_subscription_item": "si_acme"});
    client.patch(format!("{base}/admin/plans/{plan}")).bearer_auth(ADMIN_TOKEN).json(&item).send().await.unwrap();
    for _ in 0..200 {
        if stripe.quantity("si_acme") == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stripe.quantity("si_acme"), Some(1));
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(logs.path()).unwrap();
    assert!(text.lines().count() > 20, "trace logging was on: {text}");
    let secret_part = &STRIPE_KEY["sk_test_".len()..];
    assert!(!text.contains(secret_part), "the Stripe key was logged");
    // No field repeats a name of tracing's own (`target`): a log pipeline
    // keeps one of two equal keys and loses the other.
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let keys: UniqueKeys = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(keys.0, "a key repeats in {line}");
    }
    assert!(text.contains(r#""billing_target":"stripe""#), "billing lines name their target: {text}");
}

/// Whether every JSON object in a value has each key once.
struct UniqueKeys(bool);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<UniqueKeys, M::Error> {
                let mut seen = std::collections::HashSet::new();
                let mut unique = true;
                while let Some(key) = map.next_key::<String>()? {
                    unique &= seen.insert(key);
                    unique &= map.next_value::<UniqueKeys>()?.0;
                }
                Ok(UniqueKeys(unique))
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<UniqueKeys, S::Error> {
                let mut unique = true;
                while let Some(item) = seq.next_element::<UniqueKeys>()? {
                    unique &= item.0;
                }
                Ok(UniqueKeys(unique))
            }
            fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(true))
            }
            fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(true))
            }
            fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(true))
            }
            fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(true))
            }
            fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(true))
            }
            fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(true))
            }
        }
        d.deserialize_any(Visit)
    }
}
