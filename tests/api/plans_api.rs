//! The admin API's plan routes: fields, refusals, listing, preview, audit
//! pages and the metrics they show.
use crate::both_stores;
use crate::helpers::*;
use crate::reconcile::add_users;
use serde_json::{Value, json};

async fn a_second_plan_for_one_organization_is_refused_as_plan_exists(store: Store) {
    let app = spawn_app(store).await;
    app.create_plan(ORG, None).await;
    let again = app.admin_post("/admin/plans", &json!({"name": "Other", "organization_id": ORG})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "plan_exists");
    assert_eq!(app.admin_json("/admin/plans").await["data"].as_array().unwrap().len(), 1);
}

async fn a_plan_body_that_is_not_json_is_a_bad_request(store: Store) {
    let app = spawn_app(store).await;
    let bad = app
        .client
        .post(app.url("/admin/plans"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "bad_request");
}

async fn plan_fields_outside_the_contract_are_refused_with_400(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    // Names and organization ids as CONTRACT 3.3 says.
    for body in [
        json!({"name": "X", "organization_id": "org_2", "test_mode_max_users": -1}),
        json!({"name": "A\u{1b}[31mB", "organization_id": "org_01ANOTHER"}),
        json!({"name": "x".repeat(201), "organization_id": "org_01ANOTHER"}),
        json!({"name": "Acme", "organization_id": "org_01A-B"}),
        json!({"name": "Acme", "organization_id": "acme"}),
        json!({"name": "Acme", "organization_id": "org_"}),
    ] {
        let refused = app.admin_post("/admin/plans", &body).await;
        assert_eq!(refused.status(), 400, "{body}");
    }
    assert_eq!(app.set_tier(&plan, "a@example.com", "gold").await.status(), 400);
    assert_eq!(app.admin_json("/admin/plans").await["data"].as_array().unwrap().len(), 1);
}

async fn the_bearer_scheme_is_case_insensitive_and_the_token_is_not(store: Store) {
    let app = spawn_app(store).await;
    // RFC 7235: the scheme is case-insensitive.
    let lower = app.client.get(app.url("/admin/plans")).header("Authorization", format!("bearer {ADMIN_TOKEN}"));
    assert_eq!(lower.send().await.unwrap().status(), 200);
    let wrong = app.client.get(app.url("/admin/plans")).header("Authorization", "Bearer test-admin-toke");
    assert_eq!(wrong.send().await.unwrap().status(), 401);
}

async fn an_unknown_plan_is_not_found(store: Store) {
    let app = spawn_app(store).await;
    let missing = app.admin_get("/admin/plans/plan_nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "not_found");
    assert_eq!(app.admin_get("/admin/plans/plan_nope/members").await.status(), 404);
}

async fn a_plan_is_listed_and_shown_with_the_contracts_fields(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let list = app.admin_json("/admin/plans").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], plan.as_str());
    let shown = app.plan(&plan).await;
    let keys: Vec<&str> = shown.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "active_directory_users",
            "billing",
            "enforced_at",
            "external_id",
            "free_seats",
            "grant_limit",
            "hold",
            "id",
            "mode",
            "name",
            "organization_id",
            "paid_seats",
            "release_limit",
            "stripe_subscription_item",
            "test_mode_max_users"
        ]
    );
    assert_eq!(shown["billing"], json!({"webhook": null, "stripe": null}), "no target configured");
}

async fn preview_shows_what_enforcement_would_do(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.set_tier(&plan, "boss@example.com", "paid").await;
    app.set_tier(&plan, "free@example.com", "free").await;
    app.set_tier(&plan, "user1@example.com", "free").await;
    add_users(&app, 1, 3).await;
    // user1 became paid by the directory; now only user3 is deactivated.
    app.user(UserEvent {
        id: "event_off",
        kind: "updated",
        user: "directory_user_3",
        email: "user3@example.com",
        state: "inactive",
        at: &at(50),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let preview = app.admin_json(&format!("/admin/plans/{plan}/preview")).await;
    assert_eq!(
        preview,
        json!({"to_paid": [], "to_free": ["boss@example.com"], "unchanged_paid": 2, "unchanged_free": 2})
    );
}

async fn the_audit_trail_pages_oldest_first(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    for i in 0..5 {
        app.set_tier(&plan, &format!("p{i}@example.com"), "paid").await;
    }
    let first = app.admin_json(&format!("/admin/plans/{plan}/audit?limit=2")).await;
    let emails = |page: &Value| {
        page["data"].as_array().unwrap().iter().map(|e| e["email"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(emails(&first), ["p0@example.com", "p1@example.com"]);
    let next = first["next"].as_str().unwrap().to_owned();
    let second = app.admin_json(&format!("/admin/plans/{plan}/audit?limit=2&after={next}")).await;
    assert_eq!(emails(&second), ["p2@example.com", "p3@example.com"]);
    let next = second["next"].as_str().unwrap().to_owned();
    let last = app.admin_json(&format!("/admin/plans/{plan}/audit?limit=2&after={next}")).await;
    assert_eq!(emails(&last), ["p4@example.com"]);
    assert_eq!(last["next"], Value::Null);
    let entry = &first["data"][0];
    assert_eq!(
        (entry["from"].clone(), entry["to"].clone(), entry["reason"].clone(), entry["event_id"].clone()),
        (Value::Null, json!("paid"), json!("manual"), Value::Null)
    );
    assert_eq!(app.admin_get(&format!("/admin/plans/{plan}/audit?limit=1001")).await.status(), 400);
    assert_eq!(app.admin_get(&format!("/admin/plans/{plan}/audit?after=abc")).await.status(), 400);
}

async fn metrics_show_totals_by_mode_and_tier_and_name_no_plan(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let other = app.create_plan("org_01SECONDORGANIZATION", None).await;
    app.set_tier(&plan, "a@example.com", "paid").await;
    app.set_tier(&plan, "b@example.com", "free").await;
    app.set_tier(&other, "c@example.com", "free").await;
    let text = app.metrics_text().await;
    assert!(text.contains("seatsync_seats{tier=\"paid\"} 1\n"), "{text}");
    assert!(text.contains("seatsync_seats{tier=\"free\"} 2\n"), "{text}");
    assert!(text.contains("seatsync_plans{mode=\"test\"} 2\n"), "{text}");
    assert!(text.contains("seatsync_plans{mode=\"enforced\"} 0\n"), "{text}");
    assert!(!text.contains(&plan) && !text.contains(&other), "{text}");
    // The plan list counts every plan from grouped queries.
    let list = app.admin_json("/admin/plans").await;
    let paid: Vec<u64> = list["data"].as_array().unwrap().iter().map(|p| p["paid_seats"].as_u64().unwrap()).collect();
    assert_eq!(paid, vec![1, 0]);
}

/// A plan carries the product's own id (CONTRACT 3.3, 7.1): set at creation
/// or by PATCH, unique, a filter of the list, and in every billing message.
async fn a_plan_carries_the_products_own_id_into_billing(store: Store) {
    let receiver = crate::fake_billing::FakeBilling::start();
    let env = receiver.env();
    let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(store, &overrides).await;
    let created = app
        .admin_post("/admin/plans", &json!({"name": "Acme", "organization_id": ORG, "external_id": "cus_Acme 42"}))
        .await;
    assert_eq!(created.status(), 201);
    let plan: Value = created.json().await.unwrap();
    assert_eq!(plan["external_id"], "cus_Acme 42");
    let id = plan["id"].as_str().unwrap().to_owned();
    let taken = app.admin_post("/admin/plans", &json!({"name": "Copy", "external_id": "cus_Acme 42"})).await;
    assert_eq!(taken.status(), 409);
    assert_eq!(taken.json::<Value>().await.unwrap()["error"], "plan_exists");
    for bad in [json!(""), json!(" cus"), json!("x".repeat(201)), json!("a\u{7}b")] {
        let refused = app.admin_post("/admin/plans", &json!({"name": "Bad", "external_id": bad})).await;
        assert_eq!(refused.status(), 400, "{bad}");
    }
    let found = app.admin_json("/admin/plans?external_id=cus_Acme%2042").await["data"].clone();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], id.as_str());
    assert_eq!(app.admin_json("/admin/plans?external_id=cus_nobody").await["data"], json!([]));

    assert_eq!(app.set_tier(&id, "ada@example.com", "paid").await.status(), 200);
    let got = receiver.wait_for("the first message", |d| !d.is_empty()).await;
    assert_eq!(got[0].json["data"]["external_id"], "cus_Acme 42");
    // Changed by PATCH: the next message carries the new one; null removes it.
    let other = app.create_plan("org_01OTHERORGANIZATION", None).await;
    let clash = app.admin_patch(&format!("/admin/plans/{other}"), &json!({"external_id": "cus_Acme 42"})).await;
    assert_eq!(clash.status(), 409);
    let renamed = app.admin_patch(&format!("/admin/plans/{id}"), &json!({"external_id": "cus_43"})).await;
    assert_eq!(renamed.json::<Value>().await.unwrap()["external_id"], "cus_43");
    assert_eq!(app.set_tier(&id, "bob@example.com", "paid").await.status(), 200);
    let got = receiver.wait_for("the second message", |d| d.len() >= 2).await;
    assert_eq!(got[1].json["data"]["external_id"], "cus_43");
    let cleared = app.admin_patch(&format!("/admin/plans/{id}"), &json!({"external_id": null})).await;
    assert_eq!(cleared.json::<Value>().await.unwrap()["external_id"], Value::Null);
}

both_stores!(
    a_plan_carries_the_products_own_id_into_billing,
    a_second_plan_for_one_organization_is_refused_as_plan_exists,
    a_plan_body_that_is_not_json_is_a_bad_request,
    plan_fields_outside_the_contract_are_refused_with_400,
    the_bearer_scheme_is_case_insensitive_and_the_token_is_not,
    an_unknown_plan_is_not_found,
    a_plan_is_listed_and_shown_with_the_contracts_fields,
    preview_shows_what_enforcement_would_do,
    the_audit_trail_pages_oldest_first,
    metrics_show_totals_by_mode_and_tier_and_name_no_plan,
);
