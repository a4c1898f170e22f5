//! The identity provider's app tile (CONTRACT 3.5): both methods send people on
//! to `LOGIN_REDIRECT_URL`, never to `RelayState`, and the assertion is dropped.
use crate::both_stores;
use crate::helpers::*;
use crate::saml::{ASSERTION_MARKER, saml_form};
use serde_json::Value;

pub const LOGIN: &str = "https://app.example.com/login?from=tile";
async fn redirected(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 303);
    let headers = response.headers().clone();
    assert_eq!(headers["location"], LOGIN);
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.get("set-cookie").is_none(), "no cookie is set");
    let body = response.text().await.unwrap();
    assert!(body.contains("href=\"https://app.example.com/login?from=tile\""), "{body}");
    body
}

async fn the_tile_sends_people_to_the_login_page_never_to_relay_state(store: Store) {
    let app = spawn_app_with(store, &[("LOGIN_REDIRECT_URL", LOGIN)]).await;
    redirected(app.client.get(app.url("/sso/login_redirect")).send().await.unwrap()).await;
    // An identity provider's redirect binding carries both in the query.
    let query = "/sso/login_redirect?SAMLResponse=PHNhbWxwOlJlc3BvbnNlLz4%3D&RelayState=https%3A%2F%2Fevil.example%2F";
    let body = redirected(app.client.get(app.url(query)).send().await.unwrap()).await;
    assert!(!body.contains("evil"), "{body}");
    assert!(body.len() < 1024, "a small page: {} bytes", body.len());

    let form = saml_form("https://evil.example/");
    assert!((9_000..12_000).contains(&form.len()), "a realistic form is about 10 KB: {}", form.len());
    let response = app
        .client
        .post(app.url("/sso/login_redirect"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains("evil"), "{location}");
    let body = redirected(response).await;
    assert!(!body.contains("evil") && !body.contains(ASSERTION_MARKER), "{body}");

    // A link checker's HEAD gets the same answer, with no body, and is no click.
    let head = app.client.head(app.url("/sso/login_redirect")).send().await.unwrap();
    assert_eq!(head.status(), 303);
    assert_eq!(head.headers()["location"], LOGIN);
    assert_eq!(head.text().await.unwrap(), "");

    // Counted, with no label from the request.
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("\nseatsync_login_redirects_total 3\n"), "{metrics}");
}

async fn a_form_post_over_256_kib_is_413(store: Store) {
    let app = spawn_app_with(store, &[("LOGIN_REDIRECT_URL", LOGIN)]).await;
    let big = format!("SAMLResponse={}", "A".repeat(300 * 1024));
    let response = app.client.post(app.url("/sso/login_redirect")).body(big.clone()).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "payload_too_large");
    // Streamed without a Content-Length, too.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let response =
        app.client.post(app.url("/sso/login_redirect")).body(reqwest::Body::wrap_stream(stream)).send().await.unwrap();
    assert_eq!(response.status(), 413);
    // Exactly the limit is still read and dropped.
    let at_limit = "A".repeat(256 * 1024);
    let response = app.client.post(app.url("/sso/login_redirect")).body(at_limit).send().await.unwrap();
    assert_eq!(response.status(), 303);
}

async fn without_a_login_page_the_tile_is_not_found(store: Store) {
    let app = spawn_app(store).await;
    for response in [
        app.client.get(app.url("/sso/login_redirect")).send().await.unwrap(),
        app.client.post(app.url("/sso/login_redirect")).body(saml_form("/")).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 404);
        assert!(response.headers().get("location").is_none());
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_found");
    }
    let tile = app.admin_json("/admin/app-tile").await;
    assert_eq!(tile["configured"], false);
    assert_eq!(tile["url"], Value::Null);
}

async fn operators_are_given_the_url_to_paste_into_the_identity_provider(store: Store) {
    let app =
        spawn_app_with(store, &[("LOGIN_REDIRECT_URL", LOGIN), ("PUBLIC_URL", "https://seats.example.com/")]).await;
    let tile = app.admin_json("/admin/app-tile").await;
    assert_eq!(tile["url"], "https://seats.example.com/sso/login_redirect");
    assert_eq!(tile["configured"], true);
    assert_eq!(tile["login_redirect_url"], LOGIN);
    assert_eq!(app.client.get(app.url("/admin/app-tile")).send().await.unwrap().status(), 401);
}

both_stores!(
    the_tile_sends_people_to_the_login_page_never_to_relay_state,
    a_form_post_over_256_kib_is_413,
    without_a_login_page_the_tile_is_not_found,
    operators_are_given_the_url_to_paste_into_the_identity_provider
);
