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

both_stores!(plans_come_in_pages_sorted_by_name_and_filtered);
