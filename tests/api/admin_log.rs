//! Every admin action that changes something is in the admin log (issue 37,
//! item 5; CONTRACT 3.3): when, the client address, the route, the plan and
//! the values before and after; reads leave nothing; refusals change nothing
//! and leave nothing. Never pruned with the inbox.
use crate::both_stores;
use crate::helpers::*;
use serde_json::{Value, json};

async fn changes(app: &TestApp, query: &str) -> Vec<Value> {
    app.admin_json(&format!("/admin/changes{query}")).await["data"].as_array().unwrap().clone()
}

async fn every_admin_change_is_logged_with_its_values_before_and_after(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let other = app.create_plan("org_01OTHERORGANIZATION", None).await;
    // Reads and refusals leave nothing.
    app.plan(&plan).await;
    assert_eq!(
        app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"test_mode_max_users": -1})).await.status(),
        400
    );
    // A guard turned off, a threshold lowered, a Stripe item set, a seat by hand.
    let patched = app
        .admin_patch(
            &format!("/admin/plans/{plan}"),
            &json!({"release_limit": 0, "test_mode_max_users": 5, "stripe_subscription_item": "si_log1"}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);

    let logged = changes(&app, &format!("?plan={plan}")).await;
    let routes: Vec<(&str, &str)> =
        logged.iter().map(|c| (c["method"].as_str().unwrap(), c["route"].as_str().unwrap())).collect();
    assert_eq!(
        routes,
        [
            ("POST", "/admin/plans"),
            ("PATCH", "/admin/plans/{plan_id}"),
            ("PUT", "/admin/plans/{plan_id}/members/{email}"),
        ]
    );
    assert!(logged.iter().all(|c| c["client"] == "127.0.0.1" && c["status"].as_i64().unwrap() / 100 == 2));
    assert_eq!(logged[0]["after"]["id"], plan.as_str(), "the new plan as created");
    let (before, after) = (&logged[1]["before"], &logged[1]["after"]);
    assert_eq!((&before["release_limit"], &after["release_limit"]), (&Value::Null, &json!(0)));
    assert_eq!((&before["test_mode_max_users"], &after["test_mode_max_users"]), (&json!(10), &json!(5)));
    assert_eq!(
        (&before["stripe_subscription_item"], &after["stripe_subscription_item"]),
        (&Value::Null, &json!("si_log1"))
    );
    assert_eq!(logged[2]["before"], Value::Null, "Ada was not a member");
    assert_eq!(
        (logged[2]["after"]["email"].as_str(), logged[2]["after"]["tier"].as_str()),
        (Some("ada@example.com"), Some("paid"))
    );
    assert_eq!(logged[2]["plan_id"], plan.as_str());

    // All plans, paged by the cursor; the other plan's creation is there too.
    let first = app.admin_json("/admin/changes?limit=2").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().unwrap();
    let rest = changes(&app, &format!("?after={next}")).await;
    assert_eq!(rest.len(), 2);
    assert!(first["data"].as_array().unwrap().iter().chain(&rest).any(|c| c["plan_id"] == other.as_str()));
    assert_eq!(app.admin_get("/admin/changes?limit=0").await.status(), 400);
    assert_eq!(app.client.get(app.url("/admin/changes")).send().await.unwrap().status(), 401);
}

both_stores!(every_admin_change_is_logged_with_its_values_before_and_after);
