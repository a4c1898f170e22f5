//! The admin page in a real browser: Debian's Chromium, headless, driven through
//! WebDriver (chromedriver) against the real server from `spawn_app`. Without
//! chromedriver the tests say they were skipped; under `CI=true` they fail.
//! Each view is saved as a PNG under `target/screenshots/`.
use crate::both_stores;
use crate::fake_workos::{API_KEY, FakeWorkos};
use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    shots: PathBuf,
    store: &'static str,
}

impl Drop for Browser {
    /// Chromium is the driver's child: killing the driver alone left every
    /// browser process running (hundreds after a few suites). The driver
    /// leads a process group of its own, and the whole group goes.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMEDRIVER").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromedriver".into());
    path.exists().then_some(path)
}

/// A headless Chromium session, or None (skipped) when chromedriver is missing.
pub(crate) async fn browser(store: Store) -> Option<Browser> {
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is missing under CI=true: .ci/run installs chromium and chromium-driver"
        );
        eprintln!("skipped: no chromedriver (apt-get install chromium chromium-driver)");
        return None;
    };
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1280,1800"]}),
    );
    let mut last_error = None;
    // A free port is only free until someone takes it: a driver that exits
    // at once (its port was taken meanwhile) is started again on another.
    'driver: for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        for _ in 0..100 {
            if driver.try_wait().ok().flatten().is_some() {
                continue 'driver;
            }
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
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", driver.id())]).status();
        let _ = driver.wait();
    }
    panic!("could not start a Chromium session: {last_error:?}");
}

impl Browser {
    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}-{}.png", self.store)), png).unwrap();
    }

    pub(crate) async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    /// The text of every element matching `css`, read in one script run, so a
    /// view being redrawn meanwhile cannot leave a stale element behind.
    pub(crate) async fn texts(&self, css: &str) -> Vec<String> {
        let found = self
            .client
            .execute("return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)", vec![json!(css)])
            .await
            .unwrap();
        serde_json::from_value(found).unwrap()
    }

    /// Waits until the visible notice holds `part` (an earlier notice, still
    /// shown, does not count) and returns its text.
    pub(crate) async fn wait_for_notice(&self, part: &str) -> String {
        let mut last = Vec::new();
        for _ in 0..150 {
            last = self.texts("#notice:not([hidden])").await;
            if let Some(text) = last.iter().find(|t| t.contains(part)) {
                return text.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no notice with {part:?}; shown: {last:?}");
    }

    /// Waits until `css` matches exactly `n` elements.
    pub(crate) async fn wait_for_count(&self, css: &str, n: usize) {
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
    browser.wait_for_notice("token was refused").await;
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

    // The audit as the API gives it, and the chart's points from the history.
    let audit = app.audit(&plan).await;
    browser.wait_for_count("#audit tbody tr", audit.len()).await;
    let history = app.admin_json(&format!("/admin/plans/{plan}/history?points=200")).await;
    let expected: Vec<String> =
        history["points"].as_array().unwrap().iter().map(|p| p["paid_seats"].to_string()).collect();
    browser.wait_for_count("#paid-chart circle.point", expected.len()).await;
    let mut points = Vec::new();
    for point in c.find_all(Locator::Css("#paid-chart circle.point")).await.unwrap() {
        points.push(point.attr("data-paid").await.unwrap().unwrap());
    }
    // The last point is now (read a moment apart, so it may be a point later).
    assert_eq!(points.len(), expected.len());
    assert_eq!(points.first(), expected.first());
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
/// it on the page applies exactly the held events the page showed: two more
/// held after it was read are judged again (one fits the limit, one holds
/// again, and the page shows the new hold).
async fn a_hold_is_shown_and_approved_on_the_page(store: Store) {
    let Some(browser) = browser(store).await else { return };
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, Some(2)).await;
    assert_eq!(app.admin_patch(&format!("/admin/plans/{plan}"), &json!({"release_limit": 1})).await.status(), 200);
    for n in 0..6u32 {
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
    let deactivate = |range: std::ops::Range<u32>| {
        let app = &app;
        async move {
            for n in range {
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
        }
    };
    deactivate(0..3).await;
    let held = app.plan(&plan).await["hold"].clone();
    assert_eq!(held["held_events"], 2, "{held}");

    let c = &browser.client;
    c.goto(&app.url("/admin/")).await.unwrap();
    browser.sign_in(ADMIN_TOKEN).await;
    let row = browser.wait_for(&format!("tr[data-plan-id='{plan}']")).await;
    assert!(row.text().await.unwrap().contains("on hold"));
    row.click().await.unwrap();
    assert_eq!(browser.wait_for("#held-events").await.text().await.unwrap(), "2");
    assert_eq!(browser.wait_for("#held-through").await.text().await.unwrap(), "event_off2");
    assert_eq!(held["through"], "event_off2");
    assert_eq!(browser.texts("#would-release li").await, ["user1@example.com", "user2@example.com"]);
    browser.screenshot("08-hold").await;
    // Two more are held while the page shows the hold; it is not read again.
    deactivate(3..5).await;
    assert_eq!(app.plan(&plan).await["hold"]["through"], "event_off4");
    c.find(Locator::Css("#approve")).await.unwrap().click().await.unwrap();
    assert_eq!(browser.texts("#confirm-release li").await, ["user1@example.com", "user2@example.com"]);
    browser.screenshot("08b-hold-confirm").await;
    c.find(Locator::Css("#confirm-yes")).await.unwrap().click().await.unwrap();
    // Approved through event_off2, as shown: event_off3 fits the limit counted
    // from zero, event_off4 holds again, and the page shows that hold.
    let mut through = String::new();
    for _ in 0..100 {
        if let Ok(shown) = c.find(Locator::Css("#held-through")).await {
            through = shown.text().await.unwrap_or_default();
            if through == "event_off4" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(through, "event_off4", "the new hold is not shown");
    app.settle().await;
    for id in ["event_off1", "event_off2", "event_off3"] {
        assert_eq!(app.event_status(id).await, "applied", "{id}");
    }
    assert_eq!(app.event_status("event_off4").await, "held");
    let hold = app.plan(&plan).await["hold"].clone();
    assert_eq!(
        (hold["through"].as_str(), hold["would_release"].clone()),
        (Some("event_off4"), json!(["user4@example.com"]))
    );
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
        if app.plan(&plan).await["billing"]["webhook"]["state"] == "failing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.plan(&plan).await["billing"]["webhook"]["state"], "failing");

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

/// A page with the one given HTML, and the login page the tile sends people
/// to, on a server of their own (another origin, as an identity provider is).
struct OtherSite {
    base: String,
    handle: actix_web::dev::ServerHandle,
    login_requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for OtherSite {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl OtherSite {
    fn start(idp_page: String) -> Self {
        use actix_web::{HttpRequest, HttpResponse, web};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = seen.clone();
        let (base, handle) = serve_fake(1, move |app| {
            let page = idp_page.clone();
            let seen = shared.clone();
            app.route(
                "/idp",
                web::get().to(move || {
                    let page = page.clone();
                    async move { HttpResponse::Ok().content_type("text/html").body(page) }
                }),
            )
            .route(
                "/login",
                web::get().to(move |req: HttpRequest| {
                    seen.lock().unwrap().push(req.uri().to_string());
                    async {
                        HttpResponse::Ok()
                            .content_type("text/html")
                            .body("<h1 id='product-login'>Sign in with Google</h1>")
                    }
                }),
            );
        });
        Self { base, handle, login_requests: seen }
    }
}

/// What an identity provider's page does when a tile is clicked: a form that
/// posts itself (`SAMLResponse`, `RelayState`) to the app's Consumer URL.
/// Chromium follows the 303 and ends on the product's login page.
async fn an_identity_providers_auto_posting_form_ends_on_the_login_page(store: Store) {
    let Some(browser) = browser(store).await else { return };
    // The product's login page; the identity provider's page is another site,
    // written once the app's address is known.
    let product = OtherSite::start(String::new());
    let login = format!("{}/login", product.base);
    let app = spawn_app_with(store, &[("LOGIN_REDIRECT_URL", &login)]).await;
    let form = crate::saml::saml_form("https://evil.example/");
    let (saml, relay) = form.split_once('&').unwrap();
    let decode = |pair: &str| {
        let raw = pair.split_once('=').unwrap().1;
        let mut out = Vec::new();
        let bytes = raw.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    let idp = OtherSite::start(format!(
        "<!doctype html><html><body onload=\"document.forms[0].submit()\">\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"SAMLResponse\" value=\"{}\">\
         <input type=\"hidden\" name=\"RelayState\" value=\"{}\">\
         <noscript><button>Continue</button></noscript></form></body></html>",
        app.url("/sso/login_redirect"),
        decode(saml),
        decode(relay),
    ));
    let c = &browser.client;
    c.goto(&format!("{}/idp", idp.base)).await.unwrap();
    browser.wait_for("#product-login").await;
    assert_eq!(c.current_url().await.unwrap().as_str(), login);
    assert_eq!(*product.login_requests.lock().unwrap(), ["/login"], "nothing from the form reaches the login page");
    browser.screenshot("15-app-tile-login").await;
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("\nseatsync_login_redirects_total 1\n"), "{metrics}");
}

/// A new operator's first steps, on the page alone: create a plan, add who
/// paid before SCIM, lower the threshold (confirmed with the preview's
/// numbers), and a refused tier change said in words.
async fn the_page_creates_and_edits_a_plan_and_sets_members(store: Store) {
    let Some(browser) = browser(store).await else { return };
    let app = spawn_app_with(
        store,
        &[("LOGIN_REDIRECT_URL", "https://app.example.com/login"), ("PUBLIC_URL", "https://seats.example.com")],
    )
    .await;
    let c = &browser.client;
    c.goto(&app.url("/admin/")).await.unwrap();
    browser.sign_in(ADMIN_TOKEN).await;
    browser.wait_for("#no-plans").await;

    // New plan.
    browser.wait_for("#new-plan-open").await.click().await.unwrap();
    let form = browser.wait_for("#new-plan").await;
    form.find(Locator::Css("input[name='name']")).await.unwrap().send_keys("Initech").await.unwrap();
    form.find(Locator::Css("input[name='organization_id']")).await.unwrap().send_keys(ORG).await.unwrap();
    form.find(Locator::Css("input[name='test_mode_max_users']")).await.unwrap().send_keys("20").await.unwrap();
    browser.screenshot("11-new-plan").await;
    form.find(Locator::Css("button[type='submit']")).await.unwrap().click().await.unwrap();
    assert_eq!(browser.wait_for("#plan-name").await.text().await.unwrap(), "Initech");
    let plans = app.admin_json("/admin/plans").await;
    let plan = plans["data"][0].clone();
    assert_eq!((plan["name"].as_str(), plan["organization_id"].as_str()), (Some("Initech"), Some(ORG)));
    assert_eq!(plan["test_mode_max_users"], 20);
    let id = plan["id"].as_str().unwrap().to_owned();
    assert!(c.current_url().await.unwrap().as_str().ends_with(&format!("#/plans/{id}")));
    // The app tile's URL, next to "Configure SCIM".
    let tile = browser.wait_for("#app-tile-url").await.text().await.unwrap();
    assert_eq!(tile, "https://seats.example.com/sso/login_redirect");
    let guide = browser.wait_for("#app-tile").await.text().await.unwrap();
    for field in ["SAML Audience URL", "SAML Consumer URL", "Audience URI (SP Entity ID)", "Single sign-on URL"] {
        assert!(guide.contains(field), "the identity provider's field {field:?} is named: {guide}");
    }

    // A second plan for the same organization is refused, in words.
    c.goto(&app.url("/admin/#/")).await.unwrap();
    browser.wait_for("#new-plan-open").await.click().await.unwrap();
    let form = browser.wait_for("#new-plan").await;
    form.find(Locator::Css("input[name='name']")).await.unwrap().send_keys("Initech again").await.unwrap();
    form.find(Locator::Css("input[name='organization_id']")).await.unwrap().send_keys(ORG).await.unwrap();
    form.find(Locator::Css("button[type='submit']")).await.unwrap().click().await.unwrap();
    browser.wait_for_notice("already has a plan").await;

    // Carol paid before SCIM: added by hand.
    c.goto(&app.url(&format!("/admin/#/plans/{id}"))).await.unwrap();
    let add = browser.wait_for("#add-member").await;
    add.find(Locator::Css("input[name='email']")).await.unwrap().send_keys("carol@example.com").await.unwrap();
    add.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
    browser.wait_for("tr[data-email='carol@example.com'] .badge.paid").await;
    assert_eq!(app.seats(&id).await, [seat("carol@example.com", "paid", "manual")]);
    browser.screenshot("11b-member-added").await;

    // Twelve people from the directory: still under the threshold of 20.
    for n in 1..=12u32 {
        app.user(UserEvent {
            id: &format!("event_{n:02}"),
            user: &format!("directory_user_{n:02}"),
            email: &format!("user{n:02}@example.com"),
            at: &at(n),
            ..Default::default()
        })
        .await;
    }
    app.settle().await;
    c.refresh().await.unwrap();
    assert_eq!(browser.wait_for("[data-figure='active'] .value").await.text().await.unwrap(), "12");

    // Lowering the threshold to 10 starts enforcement: asked first, with the
    // preview's numbers. Cancel changes nothing.
    let lower_threshold = async || {
        browser.wait_for("#edit-plan-open").await.click().await.unwrap();
        let form = browser.wait_for("#edit-plan").await;
        let threshold = form.find(Locator::Css("input[name='test_mode_max_users']")).await.unwrap();
        threshold.clear().await.unwrap();
        threshold.send_keys("10").await.unwrap();
        form.find(Locator::Css("button[type='submit']")).await.unwrap().click().await.unwrap();
        browser.wait_for("#confirm").await;
    };
    lower_threshold().await;
    let preview = app.admin_json(&format!("/admin/plans/{id}/preview")).await;
    assert_eq!(preview["to_free"], json!(["carol@example.com"]));
    let to_paid = browser.wait_for("#confirm-to-paid").await.text().await.unwrap();
    assert_eq!(to_paid, preview["to_paid"].as_array().unwrap().len().to_string());
    assert_eq!(browser.wait_for("#confirm-to-free").await.text().await.unwrap(), "1");
    assert_eq!(browser.texts("#confirm-free li").await, ["carol@example.com"]);
    browser.screenshot("12-confirm-enforcement").await;
    c.find(Locator::Css("#confirm-no")).await.unwrap().click().await.unwrap();
    browser.wait_for_count("#confirm", 0).await;
    assert_eq!(app.plan(&id).await["test_mode_max_users"], 20);
    assert_eq!(app.plan(&id).await["mode"], "test");

    c.refresh().await.unwrap();
    lower_threshold().await;
    c.find(Locator::Css("#confirm-yes")).await.unwrap().click().await.unwrap();
    browser.wait_for("#plan-name + [data-mode='enforced']").await;
    let enforced = app.plan(&id).await;
    assert_eq!((enforced["mode"].as_str(), enforced["test_mode_max_users"].as_i64()), (Some("enforced"), Some(10)));
    assert_eq!(enforced["paid_seats"], 12);
    browser.wait_for("tr[data-email='carol@example.com'] .badge.free").await;
    browser.screenshot("13-enforced").await;

    // Carol cannot be paid by hand now: the refusal in words, nothing changed.
    browser.wait_for("tr[data-email='carol@example.com'] button.tier-switch").await.click().await.unwrap();
    browser.wait_for("#confirm-yes").await.click().await.unwrap();
    browser.wait_for_notice("seat follows the directory while the plan is enforced").await;
    browser.screenshot("14-refused-tier-change").await;
    assert_eq!(
        app.seats(&id).await.into_iter().find(|s| s.0 == "carol@example.com"),
        Some(seat("carol@example.com", "free", "manual"))
    );

    // A rename and a release limit: nothing moves, so nothing is asked.
    browser.wait_for("#edit-plan-open").await.click().await.unwrap();
    let form = browser.wait_for("#edit-plan").await;
    let name = form.find(Locator::Css("input[name='name']")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("Initech Corp").await.unwrap();
    form.find(Locator::Css("input[name='release_limit']")).await.unwrap().send_keys("3").await.unwrap();
    // The Stripe item and the product's own id are set on the page too.
    form.find(Locator::Css("input[name='stripe_subscription_item']"))
        .await
        .unwrap()
        .send_keys("si_page1")
        .await
        .unwrap();
    form.find(Locator::Css("input[name='external_id']")).await.unwrap().send_keys("cus_initech").await.unwrap();
    form.find(Locator::Css("button[type='submit']")).await.unwrap().click().await.unwrap();
    for _ in 0..100 {
        if browser.texts("#plan-name").await == ["Initech Corp"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(browser.texts("#plan-name").await, ["Initech Corp"]);
    let renamed = app.plan(&id).await;
    assert_eq!((renamed["name"].as_str(), renamed["release_limit"].as_i64()), (Some("Initech Corp"), Some(3)));
    assert_eq!(
        (renamed["stripe_subscription_item"].as_str(), renamed["external_id"].as_str()),
        (Some("si_page1"), Some("cus_initech"))
    );
    // The admin log beside the audit names what the edit changed.
    let mut logged = Vec::new();
    for _ in 0..100 {
        logged = browser.texts("#changes tr[data-change]").await;
        if logged.iter().any(|row| row.contains("si_page1")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        logged
            .iter()
            .any(|row| row.contains("PATCH") && row.contains("stripe_subscription_item: \u{2014} \u{2192} si_page1")),
        "{logged:?}"
    );
    browser.screenshot("15b-admin-changes").await;
}

/// The event card at 1280 px: every value sits under its own label.
async fn the_event_card_keeps_each_value_under_its_label(store: Store) {
    let Some(browser) = browser(store).await else { return };
    let app = spawn_app(store).await;
    app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_01HZZZZZZZZZZZZZZZZZZZZZZZ",
        user: "directory_user_1",
        email: "a@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let c = &browser.client;
    c.goto(&app.url("/admin/")).await.unwrap();
    browser.sign_in(ADMIN_TOKEN).await;
    browser
        .wait_for("#lookup:not([hidden]) #lookup-id")
        .await
        .send_keys("event_01HZZZZZZZZZZZZZZZZZZZZZZZ")
        .await
        .unwrap();
    c.find(Locator::Css("#lookup button")).await.unwrap().click().await.unwrap();
    browser.wait_for("#event [data-field='status']").await;
    browser.screenshot("16-event-card").await;
    // Each value's box lies inside its own card, and no two cards overlap.
    let boxes = c
        .execute(
            "return [...document.querySelectorAll('#event .figure')].map(f => { \
               const c = f.getBoundingClientRect(), v = f.querySelector('.value').getBoundingClientRect(); \
               return [c.left, c.top, c.right, c.bottom, v.left, v.top, v.right, v.bottom]; })",
            vec![],
        )
        .await
        .unwrap();
    let boxes: Vec<Vec<f64>> = serde_json::from_value(boxes).unwrap();
    assert_eq!(boxes.len(), 6);
    for (i, b) in boxes.iter().enumerate() {
        assert!(b[4] >= b[0] && b[5] >= b[1] && b[6] <= b[2] + 0.5 && b[7] <= b[3] + 0.5, "value {i} spills: {b:?}");
        for (j, o) in boxes.iter().enumerate().skip(i + 1) {
            let apart = b[2] <= o[0] || o[2] <= b[0] || b[3] <= o[1] || o[3] <= b[1];
            assert!(apart, "cards {i} and {j} overlap: {b:?} {o:?}");
        }
    }
}

/// While a `.env.example` value is in use, the page says so in a banner
/// before anyone signs in (issue 37, item 3); with real values there is none.
async fn a_banner_names_the_example_values_in_use(store: Store) {
    let Some(browser) = browser(store).await else { return };
    let example = seatsync::config::SHIPPED_SECRETS.iter().find(|(name, _)| *name == "ADMIN_TOKEN").unwrap().1;
    let app = spawn_app_with(store, &[("ADMIN_TOKEN", example)]).await;
    let c = &browser.client;
    c.goto(&app.url("/admin/")).await.unwrap();
    let banner = browser.wait_for("#example-banner:not([hidden])").await;
    let text = banner.text().await.unwrap();
    assert!(text.contains("ADMIN_TOKEN") && text.contains(".env.example"), "{text}");
    assert!(!text.contains(example), "{text}");
    browser.screenshot("17-example-values-banner").await;
    let own = spawn_app(store).await;
    c.goto(&own.url("/admin/")).await.unwrap();
    browser.wait_for("#sign-in:not([hidden])").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hidden = c.find(Locator::Css("#example-banner")).await.unwrap().attr("hidden").await.unwrap();
    assert!(hidden.is_some(), "no banner with real values");
}

both_stores!(
    a_banner_names_the_example_values_in_use,
    an_identity_providers_auto_posting_form_ends_on_the_login_page,
    the_page_creates_and_edits_a_plan_and_sets_members,
    the_event_card_keeps_each_value_under_its_label,
    the_admin_page_shows_plans_members_preview_audit_chart_and_events,
    a_hold_is_shown_and_approved_on_the_page,
    billing_state_and_a_dead_delivery_retried_on_the_page
);
