//! `GET /admin/plans` pages and filters (CONTRACT 3.3): sorted by name then
//! id, `next` until the last page, and `q`, `mode`, `hold`, `external_id`,
//! `billing` narrowing it. Both stores.
use crate::both_stores;
use crate::helpers::*;
use serde_json::{Value, json};

async fn names(app: &TestApp, query: &str) -> (Vec<String>, Value) {
    let page = app.admin_json(&format!("/admin/plans{query}")).await;
    let names = page["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    (names, page["next"].clone())
}

async fn create(app: &TestApp, name: &str, org: Option<&str>, external_id: Option<&str>) -> String {
    let body = json!({"name": name, "organization_id": org, "external_id": external_id});
    let response = app.admin_post("/admin/plans", &body).await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn plans_come_in_pages_sorted_by_name_and_filtered(store: Store) {
    let app = spawn_app(store).await;
    create(&app, "Delta", Some("org_01DELTA"), None).await;
    create(&app, "alpha", Some("org_01ALPHA"), Some("cus_alpha")).await;
    create(&app, "Charlie", None, None).await;
    let acme = create(&app, "Acme 100% Ltd", Some(ORG), None).await;
    create(&app, "Bravo", Some("org_01BRAVO"), None).await;

    let (first, next) = names(&app, "?limit=2").await;
    assert_eq!(first, ["Acme 100% Ltd", "Bravo"], "byte order of names, then id");
    let (second, next) = names(&app, &format!("?limit=2&after={}", next.as_str().unwrap())).await;
    assert_eq!(second, ["Charlie", "Delta"]);
    let (last, next) = names(&app, &format!("?limit=2&after={}", next.as_str().unwrap())).await;
    assert_eq!((last, next), (vec!["alpha".to_owned()], Value::Null));

    assert_eq!(names(&app, "?q=ALPH").await.0, ["alpha"], "case-insensitive, in the name");
    assert_eq!(names(&app, "?q=01bravo").await.0, ["Bravo"], "in the organization id");
    assert_eq!(names(&app, "?q=100%25").await.0, ["Acme 100% Ltd"], "% is literal");
    assert_eq!(names(&app, "?q=a_").await.0, Vec::<String>::new(), "_ is literal");
    assert_eq!(names(&app, "?external_id=cus_alpha").await.0, ["alpha"]);

    // Enforce one plan: 11 active users past a threshold of 10.
    for i in 0..11 {
        let (user, email, id) = (format!("directory_user_{i}"), format!("u{i}@example.com"), format!("event_{i}"));
        app.user(UserEvent { id: &id, user: &user, email: &email, at: &at(i), ..Default::default() }).await;
    }
    app.settle().await;
    assert_eq!(app.plan(&acme).await["mode"], "enforced");
    assert_eq!(names(&app, "?mode=enforced").await.0, ["Acme 100% Ltd"]);
    assert_eq!(names(&app, "?mode=test&limit=10").await.0, ["Bravo", "Charlie", "Delta", "alpha"]);
    assert_eq!(names(&app, "?hold=true").await.0, Vec::<String>::new());
    assert_eq!(names(&app, "?billing=failing").await.0, Vec::<String>::new(), "no billing target here");

    for bad in ["?limit=0", "?limit=1001", "?mode=paused", "?hold=maybe", "?billing=late", "?after=plan_nope"] {
        let response = app.admin_get(&format!("/admin/plans{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

/// `GET /admin/plans/{id}/history`: the paid seats at evenly spaced moments
/// from the audit's first row to now, as they stood between transactions.
async fn history_gives_the_paid_seats_at_evenly_spaced_moments(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let empty = app.admin_json(&format!("/admin/plans/{plan}/history")).await;
    assert_eq!(empty["points"].as_array().unwrap().len(), 1);
    assert_eq!(empty["points"][0]["paid_seats"], 0);

    for (email, tier) in [("ada@example.com", "paid"), ("bob@example.com", "paid"), ("ada@example.com", "free")] {
        assert_eq!(app.set_tier(&plan, email, tier).await.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let history = app.admin_json(&format!("/admin/plans/{plan}/history?points=50")).await;
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.len(), 50);
    let paid: Vec<u64> = points.iter().map(|p| p["paid_seats"].as_u64().unwrap()).collect();
    // In order: 1, then 2, then 1 to the end; the first point is the first change.
    let mut phases: Vec<u64> = paid.clone();
    phases.dedup();
    assert_eq!(phases, [1, 2, 1], "{paid:?}");
    assert_eq!(*paid.last().unwrap(), 1);
    let times: Vec<String> = points.iter().map(|p| p["at"].as_str().unwrap().to_owned()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    for bad in ["0", "1001", "many"] {
        let response = app.admin_get(&format!("/admin/plans/{plan}/history?points={bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

both_stores!(plans_come_in_pages_sorted_by_name_and_filtered, history_gives_the_paid_seats_at_evenly_spaced_moments);
