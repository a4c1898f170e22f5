//! The plan portal (CONTRACT 3.6): a single-use link opens a session for one
//! plan; the session answers only for that plan, writes need the portal's
//! header and the same site, and neither credential opens the other's door.
//! Both stores.
use crate::both_stores;
use crate::helpers::*;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const OTHER_ORG: &str = "org_01OTHERORGANIZATION";

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub async fn portal_link(app: &TestApp, plan: &str) -> String {
    let response = app.admin_post(&format!("/admin/plans/{plan}/portal-link"), &json!({})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["expires_at"].is_string(), "{body}");
    body["link"].as_str().unwrap().to_owned()
}

/// Opens a link as a browser would: the session cookie's value.
pub async fn open_portal(app: &TestApp, plan: &str) -> String {
    let link = portal_link(app, plan).await;
    let response = browser().get(&link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/portal/", "no token left in the address");
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    let value = cookie.split(';').next().unwrap().strip_prefix("seatsync_portal=").unwrap();
    value.to_owned()
}

/// A portal API call with the session cookie; writes carry the portal's header.
pub async fn portal(
    app: &TestApp,
    session: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method.clone(), app.url(&format!("/portal/api{path}")))
        .header(header::COOKIE, format!("seatsync_portal={session}"));
    if method != Method::GET {
        request = request.header("X-Seatsync-Portal", "1");
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Ages links and sessions in the database, as time would.
async fn exec(app: &TestApp, sql: &str) {
    use sea_orm::ConnectionTrait;
    let statement = sea_orm::Statement::from_string(app.db.get_database_backend(), sql.to_owned());
    app.db.execute_raw(statement).await.unwrap();
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

async fn a_link_opens_one_session_once_with_a_strict_cookie(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let link = portal_link(&app, &plan).await;
    assert!(link.starts_with(&app.url("/portal/open?token=")), "{link}");

    let response = browser().get(&link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/portal"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "PUBLIC_URL is not https here: {cookie}");
    let session = cookie.split(';').next().unwrap().strip_prefix("seatsync_portal=").unwrap().to_owned();

    // Used once: a second opening is refused, and opens nothing.
    let again = browser().get(&link).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(again.headers().get(header::SET_COOKIE).is_none());

    let shown: Value = portal(&app, &session, Method::GET, "/plan", None).await.json().await.unwrap();
    assert_eq!(shown["id"], plan.as_str());
    assert_eq!(shown["mode"], "test");
    // Only hashes are stored.
    let stored = app.count(&format!("SELECT COUNT(*) FROM portal_sessions WHERE token_hash = '{session}'")).await;
    assert_eq!(stored, 0, "the session's secret is not stored as it is");
}

async fn an_expired_link_and_an_idle_or_revoked_session_are_refused(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let link = portal_link(&app, &plan).await;
    exec(&app, "UPDATE portal_links SET expires_at = 1").await;
    assert_eq!(browser().get(&link).send().await.unwrap().status(), StatusCode::GONE, "an expired link");

    let idle = open_portal(&app, &plan).await;
    exec(&app, "UPDATE portal_sessions SET last_seen_at = 1").await;
    assert_eq!(error_code(portal(&app, &idle, Method::GET, "/plan", None).await).await, (401, "no_session".into()));

    let live = open_portal(&app, &plan).await;
    let unused = portal_link(&app, &plan).await;
    assert_eq!(portal(&app, &live, Method::GET, "/plan", None).await.status(), 200);
    let revoked = app.admin_post(&format!("/admin/plans/{plan}/portal-sessions/revoke"), &json!({})).await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(error_code(portal(&app, &live, Method::GET, "/plan", None).await).await, (401, "no_session".into()));
    assert_eq!(browser().get(&unused).send().await.unwrap().status(), StatusCode::GONE, "revoking voids links too");
}

async fn a_session_sees_its_own_plan_and_never_another(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let other = app.create_plan(OTHER_ORG, None).await;
    assert_eq!(app.set_tier(&plan, "ada@example.com", "paid").await.status(), 200);
    assert_eq!(app.set_tier(&other, "bob@example.com", "paid").await.status(), 200);
    let session = open_portal(&app, &plan).await;

    let members: Value = portal(&app, &session, Method::GET, "/members", None).await.json().await.unwrap();
    let emails: Vec<&str> = members["data"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["ada@example.com"]);
    // Naming the other plan anywhere changes nothing: the plan is the session's.
    let named: Value =
        portal(&app, &session, Method::GET, &format!("/plan?plan_id={other}"), None).await.json().await.unwrap();
    assert_eq!(named["id"], plan.as_str());
    assert_eq!(portal(&app, &session, Method::GET, &format!("/plans/{other}"), None).await.status(), 404);
    assert_eq!(portal(&app, &session, Method::GET, &format!("/plans/{other}/members"), None).await.status(), 404);
    let audit: Value = portal(&app, &session, Method::GET, "/audit", None).await.json().await.unwrap();
    assert!(audit["data"].as_array().unwrap().iter().all(|a| a["email"] == "ada@example.com"), "{audit}");
}

async fn writes_need_the_portal_header_and_the_same_site_and_are_recorded_as_the_portals(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let session = open_portal(&app, &plan).await;
    let url = app.url("/portal/api/members/carol%40example.com");
    let cookie = format!("seatsync_portal={session}");

    // A plain form cannot send the header.
    let form = app.client.put(&url).header(header::COOKIE, &cookie).json(&json!({"tier": "paid"})).send().await;
    assert_eq!(error_code(form.unwrap()).await, (403, "forbidden".into()));
    // Another site, even with the header.
    for (name, value) in [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")] {
        let response = app
            .client
            .put(&url)
            .header(header::COOKIE, &cookie)
            .header("X-Seatsync-Portal", "1")
            .header(name, value)
            .json(&json!({"tier": "paid"}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(response).await, (403, "forbidden".into()), "{name}: {value}");
    }
    let cross_site_approval = app
        .client
        .post(app.url("/portal/api/hold/approve"))
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("through=event_x")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site_approval.status(), 403);
    assert!(app.seats(&plan).await.is_empty(), "nothing was written");

    // The page's own write.
    let written = portal(&app, &session, Method::PUT, "/members/carol%40example.com", Some(json!({"tier": "paid"})));
    assert_eq!(written.await.status(), 200);
    assert_eq!(app.seats(&plan).await, [seat("carol@example.com", "paid", "manual")]);
    let audit = app.audit(&plan).await;
    assert_eq!((audit[0]["reason"].as_str(), audit[0]["by"].as_str()), (Some("manual"), Some("portal")));
    assert_eq!(app.set_tier(&plan, "dan@example.com", "paid").await.status(), 200);
    assert_eq!(app.audit(&plan).await[1]["by"], "operator");
    let log = app.admin_json(&format!("/admin/changes?plan={plan}")).await;
    let sources: Vec<(&str, &str)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["route"].as_str().unwrap(), c["source"].as_str().unwrap()))
        .collect();
    assert!(sources.contains(&("/portal/api/members/{email}", "portal")), "{sources:?}");
    assert!(sources.contains(&("/admin/plans/{plan_id}/portal-link", "admin")), "{sources:?}");
}

async fn a_portal_session_is_not_an_admin_credential_nor_the_reverse(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    let session = open_portal(&app, &plan).await;
    let with_cookie = app
        .client
        .get(app.url(&format!("/admin/plans/{plan}")))
        .header(header::COOKIE, format!("seatsync_portal={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(with_cookie).await, (401, "unauthorized".into()));
    let with_token = app.client.get(app.url("/portal/api/plan")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(error_code(with_token).await, (401, "no_session".into()));
    let nothing = app.client.get(app.url("/portal/api/plan")).send().await.unwrap();
    assert_eq!(error_code(nothing).await, (401, "no_session".into()));
    // Every portal answer is private.
    let answer = portal(&app, &session, Method::GET, "/plan", None).await;
    assert_eq!(answer.headers()[header::CACHE_CONTROL], "no-store");
    // The page itself: the admin page's policy.
    let page = app.client.get(app.url("/portal/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"), "{policy}");
}

both_stores!(
    a_link_opens_one_session_once_with_a_strict_cookie,
    an_expired_link_and_an_idle_or_revoked_session_are_refused,
    a_session_sees_its_own_plan_and_never_another,
    writes_need_the_portal_header_and_the_same_site_and_are_recorded_as_the_portals,
    a_portal_session_is_not_an_admin_credential_nor_the_reverse
);
