//! `seatsync fake-workos`: a local stand-in for the three WorkOS endpoints that
//! "Configure SCIM" calls, so the customer's path can be walked on a laptop
//! without a WorkOS account (docs/operating.md, "Configure SCIM without
//! WorkOS"). It keeps organizations in memory and serves a stand-in Admin
//! Portal page whose "Back" returns to the `return_url` seatsync sent.
//!
//! - `GET /organizations/external_id/{id}`: the organization created for that
//!   external id, or 404.
//! - `POST /organizations {"name", "external_id"}` (`Idempotency-Key`): creates
//!   one; the same key answers the same organization again.
//! - `POST /portal/generate_link {"organization", "intent", "return_url"?}`:
//!   a link to `/portal/{token}` on this fake.
//!
//! Every call needs `Authorization: Bearer sk_…` (any such key), as WorkOS does.
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::json;
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

#[derive(Default)]
struct State {
    /// external id -> (organization id, name)
    organizations: HashMap<String, (String, String)>,
    /// idempotency key -> organization id
    keys: HashMap<String, String>,
    /// link token -> (organization id, return url)
    links: HashMap<String, (String, Option<String>)>,
}

type Shared = web::Data<Arc<Mutex<State>>>;

fn authorized(req: &HttpRequest) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key.starts_with("sk_") && key.len() > 3)
}

fn refused() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"message": "Unauthorized: an API key (sk_...) is required"}))
}

fn organization(id: &str, name: &str, external_id: &str) -> serde_json::Value {
    json!({"object": "organization", "id": id, "name": name, "external_id": external_id, "domains": []})
}

async fn find(req: HttpRequest, path: web::Path<String>, state: Shared) -> HttpResponse {
    if !authorized(&req) {
        return refused();
    }
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    match state.organizations.get(path.as_str()) {
        Some((id, name)) => HttpResponse::Ok().json(organization(id, name, &path)),
        None => HttpResponse::NotFound().json(json!({"message": "Organization not found"})),
    }
}

#[derive(Deserialize)]
struct NewOrganization {
    name: String,
    external_id: String,
}

async fn create(req: HttpRequest, body: web::Json<NewOrganization>, state: Shared) -> HttpResponse {
    if !authorized(&req) {
        return refused();
    }
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let replayed = key.as_ref().and_then(|k| state.keys.get(k)).cloned();
    if let Some(id) = replayed {
        return HttpResponse::Created().json(organization(&id, &body.name, &body.external_id));
    }
    if state.organizations.contains_key(&body.external_id) {
        return HttpResponse::Conflict().json(json!({"message": "external_id is already in use"}));
    }
    let id = format!("org_{}", ulid::Ulid::new());
    state.organizations.insert(body.external_id.clone(), (id.clone(), body.name.clone()));
    if let Some(key) = key {
        state.keys.insert(key, id.clone());
    }
    HttpResponse::Created().json(organization(&id, &body.name, &body.external_id))
}

#[derive(Deserialize)]
struct LinkRequest {
    organization: String,
    #[serde(default)]
    return_url: Option<String>,
}

async fn generate_link(req: HttpRequest, body: web::Json<LinkRequest>, state: Shared) -> HttpResponse {
    if !authorized(&req) {
        return refused();
    }
    let token = ulid::Ulid::new().to_string();
    let host = req.connection_info().host().to_owned();
    state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .links
        .insert(token.clone(), (body.organization.clone(), body.return_url.clone()));
    HttpResponse::Created().json(json!({"link": format!("http://{host}/portal/{token}")}))
}

/// Text safe inside HTML (and inside a quoted attribute).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

async fn portal(path: web::Path<String>, state: Shared) -> HttpResponse {
    let found = state.lock().unwrap_or_else(|p| p.into_inner()).links.get(path.as_str()).cloned();
    let Some((organization, return_url)) = found else {
        return HttpResponse::NotFound()
            .content_type("text/plain")
            .body("This link is not known (or the fake restarted).");
    };
    // Only an http(s) address is ever a link target.
    let back = return_url
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .map(|u| format!("<p><a id=\"back\" href=\"{}\">Back to the product</a></p>", escape(&u)))
        .unwrap_or_else(|| "<p>No return URL was given.</p>".into());
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stand-in Admin Portal</title></head><body>\
         <h1>Stand-in Admin Portal</h1><p>This is seatsync's local fake of WorkOS, not WorkOS. In the real \
         Admin Portal the customer's IT admin now picks Okta, Entra ID, OneLogin or another SCIM source and \
         connects it.</p><p>Organization: <code id=\"organization\">{}</code></p>{back}</body></html>",
        escape(&organization)
    );
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page)
}

/// A running fake: its address, and a handle that stops it.
pub struct FakeWorkos {
    pub address: SocketAddr,
    pub handle: actix_web::dev::ServerHandle,
    pub server: actix_web::dev::Server,
}

/// Binds `listen` and builds the fake (run `server` to serve).
pub fn start(listen: SocketAddr) -> anyhow::Result<FakeWorkos> {
    let state = web::Data::new(Arc::new(Mutex::new(State::default())));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/organizations/external_id/{id}", web::get().to(find))
            .route("/organizations", web::post().to(create))
            .route("/portal/generate_link", web::post().to(generate_link))
            .route("/portal/{token}", web::get().to(portal))
    })
    .workers(1)
    .disable_signals()
    .bind(listen)?;
    let address = server.addrs()[0];
    let server = server.run();
    Ok(FakeWorkos { address, handle: server.handle(), server })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(escape("\"><script>x</script>&'"), "&quot;&gt;&lt;script&gt;x&lt;/script&gt;&amp;&#39;");
    }
}
