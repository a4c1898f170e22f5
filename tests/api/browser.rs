//! The admin page in a real browser: Debian's Chromium, headless, driven through
//! WebDriver (chromedriver) against the real server from `spawn_app`. Without
//! chromedriver the tests say they were skipped; under `CI=true` they fail.
//! Each view is saved as a PNG under `target/screenshots/`.
use crate::both_stores;
use crate::fake_workos::{API_KEY, FakeWorkos};
use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
    store: &'static str,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMEDRIVER").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromedriver".into());
    path.exists().then_some(path)
}

/// A headless Chromium session, or None (skipped) when chromedriver is missing.
async fn browser(store: Store) -> Option<Browser> {
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is missing under CI=true: .ci/run installs chromium and chromium-driver"
        );
        eprintln!("skipped: no chromedriver (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1280,1800"]}),
    );
    let mut last_error = None;
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => {
                let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
                std::fs::create_dir_all(&shots).unwrap();
                let store = match store {
                    Store::Sqlite => "sqlite",
                    Store::Postgres => "postgres",
                };
                return Some(Browser { client, driver, shots, store });
            }
            Err(err) => last_error = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start a Chromium session: {last_error:?}");
}

impl Browser {
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}-{}.png", self.store)), png).unwrap();
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(element.text().await.unwrap());
        }
        out
    }

    /// Waits until `css` matches exactly `n` elements.
    async fn wait_for_count(&self, css: &str, n: usize) {
        for _ in 0..150 {
            if self.client.find_all(Locator::Css(css)).await.unwrap().len() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let found = self.client.find_all(Locator::Css(css)).await.unwrap().len();
        panic!("expected {n} of {css}, found {found}");
    }

    async fn sign_in(&self, token: &str) {
        let field = self.wait_for("#token").await;
        field.send_keys(token).await.unwrap();
        self.client.find(Locator::Css("#sign-in-form button")).await.unwrap().click().await.unwrap();
    }
}

const SCRIPT_EMAIL: &str = "<script>window.pwned=1</script>@evil.example";

/// An enforced plan: eleven directory users (one with markup in its email) past
/// a threshold of ten, and Carol, who paid by hand and moved to free.
async fn enforcement_story(app: &TestApp) -> String {
    let plan = app.create_plan(ORG, Some(10)).await;
    assert_eq!(app.set_tier(&plan, "carol@example.com", "paid").await.status(), 200);
    for n in 1..=10u32 {
        let email = format!("user{n:02}@example.com");
        app.user(UserEvent {
            id: &format!("event_{n:02}"),
            user: &format!("directory_user_{n:02}"),
            email: &email,
            at: &at(n),
            ..Default::default()
        })
        .await;
    }
    app.user(UserEvent {
        id: "event_11",
        user: "directory_user_11",
        email: SCRIPT_EMAIL,
        at: &at(11),
        ..Default::default()
    })
    .await;
    app.settle().await;
    assert_eq!(app.plan(&plan).await["mode"], "enforced");
    plan
}

async fn the_admin_page_shows_plans_members_preview_audit_chart_and_events(store: Store) {
    let Some(browser) = browser(store).await else { return };
    let fake = FakeWorkos::start();
    let app = spawn_app_with(
        store,
        &[("WORKOS_API_KEY", API_KEY), ("WORKOS_API_BASE", &fake.base), ("PUBLIC_URL", "http://127.0.0.1:9")],
    )
    .await;
    let plan = enforcement_story(&app).await;
    let waiting = app.admin_post("/admin/plans", &json!({"name": "Globex", "test_mode_max_users": 5})).await;
    let waiting = waiting.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    for email in ["dora@globex.example", "eli@globex.example"] {
        assert_eq!(app.set_tier(&waiting, email, "paid").await.status(), 200);
    }
    let c = &browser.client;

    // A wrong token is refused with a message, and nothing is shown.
    c.goto(&app.url("/admin/")).await.unwrap();
    browser.sign_in("not-the-token").await;
    let notice = browser.wait_for("#notice:not([hidden])").await;
    assert!(notice.text().await.unwrap().contains("token was refused"), "{}", notice.text().await.unwrap());
    assert!(c.find_all(Locator::Css("#plans")).await.unwrap().is_empty());
    browser.screenshot("01-wrong-token").await;

    // The right one: the plans list.
    browser.sign_in(ADMIN_TOKEN).await;
    browser.wait_for_count("#plans tbody tr", 2).await;
    assert_eq!(browser.texts("#plans td.name").await, ["Acme", "Globex"]);
    let acme = c.find(Locator::Css(&format!("tr[data-plan-id='{plan}']"))).await.unwrap();
    let row = acme.text().await.unwrap();
    assert!(row.contains("enforced") && row.contains(ORG), "{row}");
    browser.screenshot("02-plans").await;

    // One plan: figures, members (the markup in an email is text), preview, audit.
    acme.click().await.unwrap();
    browser.wait_for("#plan-name").await;
    let shown = app.plan(&plan).await;
    let paid = browser.wait_for("[data-figure='paid'] .value").await.text().await.unwrap();
    assert_eq!(paid, shown["paid_seats"].to_string());
    browser.wait_for_count("#members tbody tr", 12).await;
    let emails = browser.texts("#members td.email").await;
    assert!(emails.contains(&SCRIPT_EMAIL.to_owned()), "{emails:?}");
    let ran = c.execute("return window.pwned === undefined", vec![]).await.unwrap();
    assert_eq!(ran, json!(true), "the email's script ran");
    assert!(c.find_all(Locator::Css("#members script")).await.unwrap().is_empty());
    browser.screenshot("03-plan").await;

    // Filters: text, then tier.
    let filters = c.find(Locator::Css("#member-filters")).await.unwrap();
    filters.find(Locator::Css("input[name='q']")).await.unwrap().send_keys("user0").await.unwrap();
    filters.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
    browser.wait_for_count("#members tbody tr", 9).await;
    assert!(browser.texts("#members td.email").await.iter().all(|e| e.contains("user0")));
    let filters = c.find(Locator::Css("#member-filters")).await.unwrap();
    filters.find(Locator::Css("input[name='q']")).await.unwrap().clear().await.unwrap();
    filters.find(Locator::Css("select[name='tier']")).await.unwrap().select_by_value("free").await.unwrap();
    filters.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
    browser.wait_for_count("#members tbody tr", 1).await;
    assert_eq!(browser.texts("#members td.email").await, ["carol@example.com"]);
    browser.screenshot("04-members-free").await;

    // The audit as the API gives it, and the chart's points from it.
    let audit = app.audit(&plan).await;
    browser.wait_for_count("#audit tbody tr", audit.len()).await;
    let mut paid_now = 0i64;
    let expected: Vec<String> = audit
        .iter()
        .map(|e| {
            if e["to"] == "paid" && e["from"] != "paid" {
                paid_now += 1;
            }
            if e["from"] == "paid" && e["to"] != "paid" {
                paid_now -= 1;
            }
            paid_now.to_string()
        })
        .collect();
    let mut points = Vec::new();
    for point in c.find_all(Locator::Css("#paid-chart circle.point")).await.unwrap() {
        points.push(point.attr("data-paid").await.unwrap().unwrap());
    }
    assert_eq!(points, expected);
    assert_eq!(points.last().unwrap(), &shown["paid_seats"].to_string());
    let preview = app.admin_json(&format!("/admin/plans/{plan}/preview")).await;
    let unchanged = browser.wait_for("#unchanged-paid").await.text().await.unwrap();
    assert_eq!(unchanged, preview["unchanged_paid"].to_string());
    browser.screenshot("05-audit-and-chart").await;

    // An event looked up by id.
    c.find(Locator::Css("#lookup-id")).await.unwrap().send_keys("event_11").await.unwrap();
    c.find(Locator::Css("#lookup button")).await.unwrap().click().await.unwrap();
    let status = browser.wait_for("#event [data-field='status']").await;
    assert_eq!(status.text().await.unwrap(), "applied");
    browser.screenshot("06-event").await;

    // The plan waiting for SCIM: its preview, then "Configure SCIM" goes to the
    // Admin Portal link WorkOS returned.
    c.goto(&app.url(&format!("/admin/#/plans/{waiting}"))).await.unwrap();
    browser.wait_for("#configure-scim").await;
    let preview = app.admin_json(&format!("/admin/plans/{waiting}/preview")).await;
    let to_free: Vec<String> =
        preview["to_free"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().into()).collect();
    assert_eq!(to_free, ["dora@globex.example", "eli@globex.example"]);
    browser.wait_for_count("#to-free li", 2).await;
    assert_eq!(browser.texts("#to-free li").await, to_free);
    browser.screenshot("07-scim-and-preview").await;
    c.find(Locator::Css("#configure-scim")).await.unwrap().click().await.unwrap();
    for _ in 0..100 {
        if c.current_url().await.unwrap().as_str().starts_with("https://setup.workos.test/") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.current_url().await.unwrap().as_str(), "https://setup.workos.test/portal/1");
    assert_eq!(app.plan(&waiting).await["organization_id"], "org_01FAKE0001");
}

/// A plan held by the release guard shows its hold at a glance, and approving
/// it on the page applies the held events.
async fn a_hold_is_shown_and_approved_on_the_page(store: Store) {
    let Some(browser) = browser(store).await else { return };
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, Some(2)).await;
    assert_eq!(app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"release_limit": 1})).await.status(), 200);
    for n in 0..4u32 {
        let email = format!("user{n}@example.com");
        app.user(UserEvent {
            id: &format!("event_c{n}"),
            user: &format!("directory_user_{n}"),
            email: &email,
            at: &at(n),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
    for n in 0..3u32 {
        let email = format!("user{n}@example.com");
        app.user(UserEvent {
            id: &format!("event_off{n}"),
            kind: "updated",
            user: &format!("directory_user_{n}"),
            email: &email,
            state: "inactive",
            at: &at(100 + n),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
    let held = app.plan(&plan).await["hold"].clone();
    assert_eq!(held["held_events"], 2, "{held}");

    let c = &browser.client;
    c.goto(&app.url("/admin/")).await.unwrap();
    browser.sign_in(ADMIN_TOKEN).await;
    let row = browser.wait_for(&format!("tr[data-plan-id='{plan}']")).await;
    assert!(row.text().await.unwrap().contains("on hold"));
    row.click().await.unwrap();
    assert_eq!(browser.wait_for("#held-events").await.text().await.unwrap(), "2");
    assert_eq!(browser.texts("#would-release li").await, ["user1@example.com", "user2@example.com"]);
    browser.screenshot("08-hold").await;
    c.find(Locator::Css("#approve")).await.unwrap().click().await.unwrap();
    c.accept_alert().await.unwrap();
    for _ in 0..100 {
        if c.find_all(Locator::Css("#hold")).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.find_all(Locator::Css("#hold")).await.unwrap().is_empty(), "the hold is still shown");
    app.settle().await;
    assert_eq!(app.plan(&plan).await["hold"], Value::Null);
    assert_eq!(app.event_status("event_off2").await, "applied");
}

/// A receiver that refuses with 410: the message is dead, the plan's billing
/// failing; the page shows it, and its retry button sends it again.
async fn billing_state_and_a_dead_delivery_retried_on_the_page(store: Store) {
    let Some(browser) = browser(store).await else { return };
    let receiver = crate::fake_billing::FakeBilling::start();
    receiver.then([crate::fake_billing::Reply::Status(410)]);
    let env = receiver.env();
    let overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(store, &overrides).await;
    let plan = app.create_plan(ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    for _ in 0..100 {
        if app.plan(&plan).await["billing"]["state"] == "failing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.plan(&plan).await["billing"]["state"], "failing");

    let c = &browser.client;
    c.goto(&app.url("/admin/")).await.unwrap();
    browser.sign_in(ADMIN_TOKEN).await;
    let row = browser.wait_for(&format!("tr[data-plan-id='{plan}']")).await;
    let cell = row.find(Locator::Css("td[data-billing]")).await.unwrap();
    assert_eq!(cell.attr("data-billing").await.unwrap().as_deref(), Some("failing"));
    row.click().await.unwrap();
    browser.wait_for("tr[data-state='dead']").await;
    assert_eq!(browser.wait_for("#billing-state").await.attr("data-state").await.unwrap().as_deref(), Some("failing"));
    assert!(browser.wait_for("#billing-error").await.text().await.unwrap().contains("410"));
    assert_eq!(browser.wait_for("#paid-seats-sent").await.text().await.unwrap(), "none yet");
    browser.screenshot("09-billing-failing").await;
    c.find(Locator::Css("tr[data-state='dead'] button.retry")).await.unwrap().click().await.unwrap();
    browser.wait_for("tr[data-state='delivered']").await;
    assert_eq!(browser.wait_for("#billing-state").await.attr("data-state").await.unwrap().as_deref(), Some("in_sync"));
    assert_eq!(browser.wait_for("#paid-seats-sent").await.text().await.unwrap(), "1");
    browser.screenshot("10-billing-retried").await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].id, got[0].id, "the same message, sent again");
}

both_stores!(
    the_admin_page_shows_plans_members_preview_audit_chart_and_events,
    a_hold_is_shown_and_approved_on_the_page,
    billing_state_and_a_dead_delivery_retried_on_the_page
);
