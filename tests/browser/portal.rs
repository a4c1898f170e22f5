//! The plan portal (CONTRACT 3.6) in a real browser: the customer's own admin
//! opens a link the product asked for and walks from test mode through
//! "Configure SCIM", the preview, enforcement, a hold and its approval, to a
//! revoked session. Both stores; a screenshot of each step under
//! `target/screenshots/portal-NN-<step>-<store>.png`.
use crate::both_stores;
use crate::fake_workos::{API_KEY, FakeWorkos};
use crate::helpers::*;
use crate::page::{Browser, browser};
use fantoccini::Locator;
use serde_json::{Value, json};
use std::time::Duration;

const OUTSIDER: &str = "outsider@example.com";
const LOGIN: &str = "https://app.example.com/login";

fn email(n: u32) -> String {
    format!("user{n:02}@example.com")
}

/// Directory users `range`, each created active.
async fn arrive(app: &TestApp, range: std::ops::RangeInclusive<u32>) {
    for n in range {
        app.user(UserEvent {
            id: &format!("event_{n:02}"),
            user: &format!("directory_user_{n:02}"),
            email: &email(n),
            at: &at(n),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// Polls the texts of `css` until `done` accepts them (15 s), and returns them.
async fn wait_for_texts(browser: &Browser, css: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut last = Vec::new();
    for _ in 0..150 {
        last = browser.texts(css).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed what was expected; shown: {last:?}");
}

/// Brings `css` into view, so the screenshot shows it.
async fn show(browser: &Browser, css: &str) {
    browser.wait_for(css).await;
    browser
        .client
        .execute("document.querySelector(arguments[0]).scrollIntoView({block: 'start'})", vec![json!(css)])
        .await
        .unwrap();
}

async fn plan_where(app: &TestApp, plan: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    eventually(Duration::from_secs(15), what, || async {
        let shown = app.plan(plan).await;
        if ok(&shown) { Ok(shown) } else { Err(shown) }
    })
    .await
}

async fn the_customers_admin_walks_through_the_portal(store: Store) {
    let Some(browser) = browser(store).await else { return };
    let fake = FakeWorkos::start();
    // The plan's organization exists at WorkOS already (its directory sends users).
    fake.state
        .lock()
        .unwrap()
        .organizations
        .push((None, json!({"object": "organization", "id": ORG, "name": "Acme", "external_id": null})));
    let app = spawn_app_with(
        store,
        &[
            ("WORKOS_API_KEY", API_KEY),
            ("WORKOS_API_BASE", &fake.base),
            ("PUBLIC_URL", ""),
            ("LOGIN_REDIRECT_URL", LOGIN),
        ],
    )
    .await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, OUTSIDER, "paid").await.status(), 200);
    arrive(&app, 1..=7).await;
    plan_where(&app, &plan, "seven active directory users", |p| p["active_directory_users"] == 7).await;
    let c = &browser.client;

    // 1. The product asks for a link when its admin clicks; the browser opens it
    // and lands on the page with no token left in the address.
    let response = app.admin_post(&format!("/admin/plans/{plan}/portal-link"), &json!({})).await;
    assert_eq!(response.status(), 200);
    let link = response.json::<Value>().await.unwrap()["link"].as_str().unwrap().to_owned();
    c.goto(&link).await.unwrap();
    let explained = browser.wait_for("#mode-explained").await.text().await.unwrap();
    let here = c.current_url().await.unwrap();
    assert_eq!(here.as_str(), app.url("/portal/"));
    assert!(here.query().is_none() && !here.as_str().contains("token"), "{here}");
    assert!(explained.contains("7 of 10"), "{explained}");
    assert_eq!(browser.wait_for("#plan-name").await.text().await.unwrap(), "Acme");
    assert_eq!(browser.wait_for("#mode").await.attr("data-mode").await.unwrap().as_deref(), Some("test"));
    assert_eq!(browser.wait_for("#active-users").await.text().await.unwrap(), "7");
    assert_eq!(browser.wait_for("#threshold").await.text().await.unwrap(), "10");
    browser.screenshot("portal-01-test-mode").await;

    // 2. The app tile's URL (PUBLIC_URL unset: the page's own address), then
    // "Configure SCIM" goes to the Admin Portal link WorkOS returned.
    let tile_url = wait_for_texts(&browser, "#app-tile-url", |t| t.len() == 1 && !t[0].is_empty()).await;
    assert_eq!(tile_url, [app.url("/sso/login_redirect")]);
    assert!(c.find(Locator::Css("#app-tile-url")).await.unwrap().is_displayed().await.unwrap());
    let fields = browser.wait_for("#app-tile-fields").await.text().await.unwrap();
    for field in ["Single sign-on URL", "Audience URI (SP Entity ID)", "SAML Consumer URL", "SAML Audience URL"] {
        assert!(fields.contains(field), "{field:?} in {fields}");
    }
    let tile = browser.wait_for("#app-tile").await.text().await.unwrap();
    assert!(tile.contains(&format!("Clicking the tile brings people to {LOGIN}.")), "{tile}");
    show(&browser, "#setup").await;
    browser.screenshot("portal-02-configure-scim").await;
    browser.wait_for("#configure-scim").await.click().await.unwrap();
    for _ in 0..100 {
        if c.current_url().await.unwrap().as_str().starts_with("https://setup.workos.test/") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.current_url().await.unwrap().as_str(), "https://setup.workos.test/portal/1");
    let posts = fake.state.lock().unwrap().posts.clone();
    assert!(
        posts.iter().any(|(path, _, body)| path == "/portal/generate_link" && body["organization"] == ORG),
        "{posts:?}"
    );
    // WorkOS's "Back" (no return_url without PUBLIC_URL): the admin comes back.
    c.goto(&app.url("/portal/")).await.unwrap();
    browser.wait_for("#plan-name").await;

    // 3. Still at seven: who would move if enforcement started now.
    let preview = app.admin_json(&format!("/admin/plans/{plan}/preview")).await;
    assert_eq!(strings(&preview["to_free"]), [OUTSIDER]);
    let to_free = wait_for_texts(&browser, "#to-free li", |t| !t.is_empty()).await;
    assert_eq!(to_free, strings(&preview["to_free"]));
    assert_eq!(browser.texts("#to-paid li").await, strings(&preview["to_paid"]));
    assert_eq!(browser.wait_for("#unchanged-paid").await.text().await.unwrap(), preview["unchanged_paid"].to_string());
    show(&browser, "#preview").await;
    browser.screenshot("portal-03-preview").await;

    // 4. Five more: twelve past ten, enforcement starts; the outsider is free.
    arrive(&app, 8..=12).await;
    let enforced = plan_where(&app, &plan, "enforcement", |p| p["mode"] == "enforced").await;
    assert_eq!(enforced["paid_seats"], 12);
    c.refresh().await.unwrap();
    let mode = browser.wait_for("#mode[data-mode='enforced']").await;
    assert_eq!(mode.text().await.unwrap(), "Enforced");
    browser.wait_for(&format!("#member-rows tr[data-email='{OUTSIDER}'][data-tier='free']")).await;
    browser.wait_for_count("#member-rows tr", 13).await;
    assert_eq!(browser.wait_for("#paid-seats").await.text().await.unwrap(), "12");
    let audit = wait_for_texts(&browser, "#audit-rows tr", |rows| rows.iter().any(|r| r.contains(OUTSIDER))).await;
    assert!(audit.iter().any(|r| r.contains(OUTSIDER) && r.contains("Enforcement started")), "{audit:?}");
    browser.screenshot("portal-04-enforced").await;

    // 5. A mass deactivation past a release limit of 3: the rest is held.
    let limited = app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"release_limit": 3})).await;
    assert_eq!(limited.status(), 200);
    for n in 1..=6u32 {
        app.user(UserEvent {
            id: &format!("event_off{n:02}"),
            kind: "updated",
            user: &format!("directory_user_{n:02}"),
            email: &email(n),
            state: "inactive",
            at: &at(100 + n),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
    let held = plan_where(&app, &plan, "a hold", |p| p["hold"]["held_events"].as_u64().unwrap_or(0) > 0).await;
    let hold = held["hold"].clone();
    let would_release = strings(&hold["would_release"]);
    assert_eq!(hold["held_events"], 3, "{hold}");
    assert_eq!(would_release, [email(4), email(5), email(6)]);
    c.refresh().await.unwrap();
    browser.wait_for("#hold").await;
    assert_eq!(browser.texts("#summary .badge.hold").await, ["Paused"]);
    assert_eq!(browser.texts("#would-release li").await, would_release);
    assert_eq!(browser.wait_for("#held-events").await.text().await.unwrap(), hold["held_events"].to_string());
    assert_eq!(browser.wait_for("#held-through").await.text().await.unwrap(), hold["through"].as_str().unwrap());
    browser.screenshot("portal-05-hold").await;

    // 6. Approve: the dialog names exactly who moves, and the approval is the
    // portal's, recorded as such.
    browser.wait_for("#approve-hold").await.click().await.unwrap();
    browser.wait_for("#confirm").await;
    assert_eq!(browser.texts("#confirm-release li").await, would_release);
    browser.screenshot("portal-06-confirm").await;
    browser.wait_for("#confirm-yes").await.click().await.unwrap();
    // "Approving…" first, then what the approval did.
    let result =
        wait_for_texts(&browser, "#approve-result:not([hidden])", |t| t.iter().any(|r| r.starts_with("Approved")))
            .await;
    assert_eq!(result, ["Approved: the paused changes are applied."]);
    browser.wait_for_count("#hold", 0).await;
    let approved = app.plan(&plan).await;
    assert!(approved["hold"].is_null(), "{approved}");
    assert_eq!(approved["paid_seats"], 6);
    let paid = wait_for_texts(&browser, "#paid-seats", |t| t == [approved["paid_seats"].to_string()]).await;
    assert_eq!(paid, ["6"]);
    for email in &would_release {
        browser.wait_for(&format!("#member-rows tr[data-email='{email}'][data-tier='free']")).await;
    }
    show(&browser, "#summary").await;
    browser.screenshot("portal-07-approved").await;
    let log = app.admin_json(&format!("/admin/changes?plan={plan}")).await;
    let approvals: Vec<&Value> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["route"].as_str().unwrap().ends_with("/hold/approve"))
        .collect();
    assert_eq!(approvals.len(), 1, "{log}");
    assert_eq!(approvals[0]["source"], "portal", "{log}");
    assert_eq!(approvals[0]["route"], "/portal/api/hold/approve", "{log}");

    // 7. The product ends every session of the plan: the page says so.
    let revoked = app.admin_post(&format!("/admin/plans/{plan}/portal-sessions/revoke"), &json!({})).await;
    assert_eq!(revoked.status(), 204);
    c.refresh().await.unwrap();
    let ended = browser.wait_for("#session-ended").await.text().await.unwrap();
    assert!(ended.contains("session has ended"), "{ended}");
    assert!(c.find_all(Locator::Css("#plan-name")).await.unwrap().is_empty());
    browser.screenshot("portal-08-session-ended").await;
}

both_stores!(the_customers_admin_walks_through_the_portal);
