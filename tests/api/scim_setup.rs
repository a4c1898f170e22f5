//! Issue 16: "Configure SCIM" creates the plan's WorkOS organization (once) and
//! returns a fresh Admin Portal link; events that waited for it then apply.
use crate::both_stores;
use crate::fake_workos::{API_KEY, FakeWorkos};
use crate::helpers::*;
use serde_json::{Value, json};

/// The id the fake gives the first organization it creates.
const FIRST_ORG: &str = "org_01FAKE0001";

async fn app_with_workos(store: Store, fake: &FakeWorkos) -> TestApp {
    spawn_app_with(
        store,
        &[("WORKOS_API_KEY", API_KEY), ("WORKOS_API_BASE", &fake.base), ("PUBLIC_URL", "https://billing.example.com/")],
    )
    .await
}

async fn plan_without_organization(app: &TestApp, name: &str) -> String {
    let response = app.admin_post("/admin/plans", &json!({"name": name})).await;
    assert_eq!(response.status(), 201);
    let plan: Value = response.json().await.unwrap();
    assert_eq!(plan["organization_id"], Value::Null);
    plan["id"].as_str().unwrap().to_owned()
}

async fn setup(app: &TestApp, plan: &str) -> reqwest::Response {
    app.admin_post(&format!("/admin/plans/{plan}/scim-setup"), &json!({})).await
}

fn posts_to(fake: &FakeWorkos, path: &str) -> Vec<(Option<String>, Value)> {
    let state = fake.state.lock().unwrap();
    state.posts.iter().filter(|(p, _, _)| p == path).map(|(_, k, b)| (k.clone(), b.clone())).collect()
}

async fn a_plan_can_be_created_before_its_organization_exists(store: Store) {
    let app = spawn_app(store).await;
    let plan = plan_without_organization(&app, "Acme").await;
    let shown = app.plan(&plan).await;
    assert_eq!(shown["organization_id"], Value::Null);
    assert_eq!(shown["mode"], "test");
    assert_eq!(shown["active_directory_users"], 0);
    // Seats can be set by hand meanwhile (the people who paid before SCIM).
    assert_eq!(app.set_tier(&plan, "ann@example.com", "paid").await.status(), 200);
    assert_eq!(app.admin_json(&format!("/admin/plans/{plan}/preview")).await["unchanged_paid"], 0);
    // Two plans without an organization do not collide on the unique key.
    plan_without_organization(&app, "Globex").await;
    assert_eq!(app.admin_json("/admin/plans").await["data"].as_array().unwrap().len(), 2);
}

async fn setup_creates_one_organization_and_returns_a_dsync_link(store: Store) {
    let fake = FakeWorkos::start();
    let app = app_with_workos(store, &fake).await;
    let plan = plan_without_organization(&app, "Acme Corp").await;
    let response = setup(&app, &plan).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"link": "https://setup.workos.test/portal/1", "organization_id": FIRST_ORG}));

    let created = posts_to(&fake, "/organizations");
    assert_eq!(created.len(), 1);
    let (key, sent) = &created[0];
    assert_eq!(sent, &json!({"name": "Acme Corp", "external_id": plan}));
    assert!(key.as_deref().is_some_and(|k| k.contains(&plan)), "idempotency key {key:?}");
    let links = posts_to(&fake, "/portal/generate_link");
    assert_eq!(
        links,
        vec![(
            None,
            json!({"organization": FIRST_ORG, "intent": "dsync", "return_url": "https://billing.example.com/admin/"})
        )]
    );
    assert_eq!(app.plan(&plan).await["organization_id"], FIRST_ORG);
}

async fn events_that_came_before_the_organization_was_on_the_plan_apply_in_order(store: Store) {
    let fake = FakeWorkos::start();
    let app = app_with_workos(store, &fake).await;
    let plan = plan_without_organization(&app, "Acme").await;
    // The customer's IdP starts pushing as soon as the wizard links it, which
    // may be before seatsync stores the organization: these events park.
    let event = |id: &str, kind: &str, user: &str, email: &str, state: &str, t: u32| {
        UserEvent { id, kind, org: FIRST_ORG, user, email, state, at: &at(t), ..Default::default() }.json()
    };
    app.deliver(&event("event_1", "created", "directory_user_a", "ann@example.com", "active", 1)).await;
    app.deliver(&event("event_2", "created", "directory_user_b", "bob@example.com", "active", 2)).await;
    app.deliver(&event("event_3", "updated", "directory_user_a", "ann@example.com", "inactive", 3)).await;
    app.settle().await;
    assert_eq!(app.event_status("event_1").await, "parked");
    assert_eq!(app.event_status("event_3").await, "parked");

    assert_eq!(setup(&app, &plan).await.status(), 200);
    app.settle().await;
    for id in ["event_1", "event_2", "event_3"] {
        assert_eq!(app.event_status(id).await, "applied", "{id}");
    }
    // In order: Ann was created, then deactivated (her directory seat goes back
    // to free), so only Bob is active and paid.
    assert_eq!(app.plan(&plan).await["active_directory_users"], 1);
    assert_eq!(
        app.seats(&plan).await,
        vec![seat("ann@example.com", "free", "manual"), seat("bob@example.com", "paid", "directory")]
    );
}

async fn a_second_setup_creates_no_organization_and_returns_a_fresh_link(store: Store) {
    let fake = FakeWorkos::start();
    let app = app_with_workos(store, &fake).await;
    let plan = plan_without_organization(&app, "Acme").await;
    let first: Value = setup(&app, &plan).await.json().await.unwrap();
    let second: Value = setup(&app, &plan).await.json().await.unwrap();
    assert_eq!(second["organization_id"], first["organization_id"]);
    assert_ne!(second["link"], first["link"], "each click gets a fresh link");
    assert_eq!(posts_to(&fake, "/organizations").len(), 1);
    assert_eq!(posts_to(&fake, "/portal/generate_link").len(), 2);
    // A plan created with an organization already never creates one.
    fake.state.lock().unwrap().organizations.push((None, json!({"id": "org_01EXISTING"})));
    let existing = app.create_plan("org_01EXISTING", None).await;
    let third: Value = setup(&app, &existing).await.json().await.unwrap();
    assert_eq!(third["organization_id"], "org_01EXISTING");
    assert_eq!(posts_to(&fake, "/organizations").len(), 1);
}

async fn two_setups_at_once_on_two_replicas_create_one_organization(store: Store) {
    let fake = FakeWorkos::start();
    let database = TestDatabase::create(store).await;
    let env = [("WORKOS_API_KEY", API_KEY), ("WORKOS_API_BASE", fake.base.as_str())];
    let one = spawn_app_on(&database, &env).await;
    let two = spawn_app_on(&database, &env).await;
    let plan = plan_without_organization(&one, "Acme").await;
    let (a, b) = tokio::join!(setup(&one, &plan), setup(&two, &plan));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["organization_id"], FIRST_ORG);
    assert_eq!(b["organization_id"], FIRST_ORG);
    assert_eq!(fake.state.lock().unwrap().organizations.len(), 1);
    // One caller at a time creates: WorkOS is asked once, not twice.
    assert_eq!(posts_to(&fake, "/organizations").len(), 1);
    assert_eq!(one.plan(&plan).await["organization_id"], FIRST_ORG);
}

async fn an_organization_made_before_a_crash_is_found_again_not_made_twice(store: Store) {
    let fake = FakeWorkos::start();
    let app = app_with_workos(store, &fake).await;
    let plan = plan_without_organization(&app, "Acme").await;
    // An earlier attempt created it in WorkOS and died before storing it.
    fake.state.lock().unwrap().organizations.push((None, json!({"id": "org_01CRASHED", "external_id": plan})));
    let body: Value = setup(&app, &plan).await.json().await.unwrap();
    assert_eq!(body["organization_id"], "org_01CRASHED");
    assert_eq!(posts_to(&fake, "/organizations").len(), 0);
    assert_eq!(app.plan(&plan).await["organization_id"], "org_01CRASHED");
}

async fn without_an_api_key_setup_is_409(store: Store) {
    let app = spawn_app(store).await;
    let plan = plan_without_organization(&app, "Acme").await;
    let response = setup(&app, &plan).await;
    assert_eq!(response.status(), 409);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "workos_not_configured");
    assert_eq!(setup(&app, "plan_nope").await.status(), 404);
    // A body, when there is one, is the documented object: a misspelt field or
    // a bad URL is a 400, never silently ignored.
    for body in
        [json!({"return_uri": "https://x.example/"}), json!({"return_url": 5}), json!({"return_url": "ftp://x"})]
    {
        let response = app.admin_post(&format!("/admin/plans/{plan}/scim-setup"), &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "bad_request");
    }
    let bare = app.client.post(app.url(&format!("/admin/plans/{plan}/scim-setup"))).bearer_auth(ADMIN_TOKEN);
    assert_eq!(bare.send().await.unwrap().status(), 409, "a bare POST is the button");
}

async fn a_refusal_from_workos_is_502_with_its_message(store: Store) {
    let fake = FakeWorkos::start();
    let app = spawn_app_with(store, &[("WORKOS_API_KEY", "sk_test_revoked"), ("WORKOS_API_BASE", &fake.base)]).await;
    let plan = plan_without_organization(&app, "Acme").await;
    let response = setup(&app, &plan).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "workos_error");
    assert!(body["message"].as_str().unwrap().contains("Unauthorized"), "{body}");
    assert!(!body.to_string().contains("sk_test_revoked"), "{body}");
    assert_eq!(app.plan(&plan).await["organization_id"], Value::Null);
}

async fn workos_out_of_reach_is_503(store: Store) {
    // Port 1: privileged and outside the ephemeral range, so no test server is
    // ever given it (a port freed by another listener could be).
    let base = "http://127.0.0.1:1";
    let app = spawn_app_with(store, &[("WORKOS_API_KEY", API_KEY), ("WORKOS_API_BASE", base)]).await;
    let plan = plan_without_organization(&app, "Acme").await;
    let response = setup(&app, &plan).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "workos_unavailable");
}

both_stores!(
    a_plan_can_be_created_before_its_organization_exists,
    setup_creates_one_organization_and_returns_a_dsync_link,
    events_that_came_before_the_organization_was_on_the_plan_apply_in_order,
    a_second_setup_creates_no_organization_and_returns_a_fresh_link,
    two_setups_at_once_on_two_replicas_create_one_organization,
    an_organization_made_before_a_crash_is_found_again_not_made_twice,
    without_an_api_key_setup_is_409,
    a_refusal_from_workos_is_502_with_its_message,
    workos_out_of_reach_is_503,
);

/// The customer's path on a laptop without a WorkOS account (issue 36, item 5):
/// `seatsync fake-workos` stands in for the three endpoints "Configure SCIM"
/// calls; the plan gets its organization, the link opens the stand-in Admin
/// Portal, and its "Back" returns exactly to the `return_url` the page sent.
async fn configure_scim_walks_through_the_local_stand_in_for_workos(store: Store) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut fake = std::process::Command::new(env!("CARGO_BIN_EXE_seatsync"))
        .args(["fake-workos", "--listen", &format!("127.0.0.1:{port}")])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut said = std::io::BufRead::lines(std::io::BufReader::new(fake.stdout.take().unwrap()));
    let first = said.next().unwrap().unwrap();
    assert!(first.contains("not WorkOS"), "{first}");
    std::thread::spawn(move || for _ in said {});
    let base = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(
        store,
        &[
            ("WORKOS_API_KEY", "sk_test_local_fake"),
            ("WORKOS_API_BASE", &base),
            ("PUBLIC_URL", "http://127.0.0.1:8080"),
        ],
    )
    .await;
    let plan = plan_without_organization(&app, "Acme").await;
    let return_url = "http://127.0.0.1:8080/admin/#/plans/back";
    let answer = app.admin_post(&format!("/admin/plans/{plan}/scim-setup"), &json!({"return_url": return_url})).await;
    let status = answer.status();
    let setup: Value = answer.json().await.unwrap();
    assert_eq!(status, 200, "{setup}");
    let org = setup["organization_id"].as_str().unwrap().to_owned();
    assert!(org.starts_with("org_"), "{setup}");
    assert_eq!(app.plan(&plan).await["organization_id"], org.as_str());
    let link = setup["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("{base}/portal/")), "{link}");
    let page = app.client.get(link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Stand-in Admin Portal") && page.contains(&org), "{page}");
    assert!(page.contains(&format!("<a id=\"back\" href=\"{return_url}\">")), "{page}");
    // A second click finds the same organization (by the plan's id as external id).
    let again: Value =
        app.admin_post(&format!("/admin/plans/{plan}/scim-setup"), &json!({})).await.json().await.unwrap();
    assert_eq!(again["organization_id"], org.as_str());
    let _ = fake.kill();
    let _ = fake.wait();
}

both_stores!(configure_scim_walks_through_the_local_stand_in_for_workos);
