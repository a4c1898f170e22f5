//! An in-process fake of the WorkOS API (Events and Directory Sync), with
//! failures that tests inject.
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

pub const API_KEY: &str = "sk_test_fake_key";

pub struct Failure {
    pub path: &'static str,
    /// Only requests with this `after` (None: any request on the path).
    pub after: Option<String>,
    pub status: u16,
    pub retry_after: Option<u64>,
    pub remaining: usize,
}

#[derive(Default)]
pub struct FakeState {
    pub events: Vec<Value>,
    pub directories: Vec<Value>,
    pub users: BTreeMap<String, Vec<Value>>,
    pub page_size: usize,
    pub failures: Vec<Failure>,
    /// Every request as `path?query`, in order.
    pub requests: Vec<String>,
    /// Organizations created, by idempotency key (`POST /organizations`).
    pub organizations: Vec<(Option<String>, Value)>,
    /// Every POST as `(path, Idempotency-Key, body)`, in order.
    pub posts: Vec<(String, Option<String>, Value)>,
    /// A page that answers only after a while: `(path, after, delay)`.
    pub slow: Option<(&'static str, String, std::time::Duration)>,
    /// The slow page was asked for (and is being held back now).
    pub slow_asked: bool,
}

pub struct FakeWorkos {
    pub base: String,
    pub state: Arc<Mutex<FakeState>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeWorkos {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeWorkos {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState { page_size: 100, ..Default::default() }));
        let shared = state.clone();
        let (base, handle) = crate::helpers::serve_fake(1, move |app| {
            app.app_data(web::Data::new(shared.clone())).default_service(web::to(answer));
        });
        Self { base, state, handle }
    }

    pub fn client(&self) -> seatsync::workos::WorkosClient {
        seatsync::workos::WorkosClient::new(&self.base, seatsync::domain::Secret::new(API_KEY))
            .unwrap()
            .with_backoff(std::time::Duration::from_millis(5))
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn page(items: &[Value], after: Option<&str>, limit: usize) -> HttpResponse {
    let start = match after {
        Some(after) => items.iter().position(|i| i["id"] == after).map_or(items.len(), |p| p + 1),
        None => 0,
    };
    let data: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let more = start + data.len() < items.len();
    let next = if more { data.last().map(|d| d["id"].clone()) } else { None };
    HttpResponse::Ok().json(json!({"object": "list", "data": data, "list_metadata": {"before": null, "after": next}}))
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<FakeState>>>) -> HttpResponse {
    let query: HashMap<String, String> = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let delay =
        state.lock().unwrap().slow.as_ref().and_then(|(path, after, delay)| {
            (req.path() == *path && query.get("after") == Some(after)).then_some(*delay)
        });
    if let Some(delay) = delay {
        state.lock().unwrap().slow_asked = true;
        tokio::time::sleep(delay).await;
    }
    let mut state = state.lock().unwrap();
    state.requests.push(format!("{}?{}", req.path(), req.query_string()));
    let authorized =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {API_KEY}"));
    if !authorized {
        return HttpResponse::Unauthorized().json(json!({"message": "Unauthorized"}));
    }
    match req.path() {
        // Where a redirect would send the key (no client should follow it).
        "/redirect" => return HttpResponse::Found().insert_header(("Location", "/events")).finish(),
        "/huge" => return HttpResponse::Ok().content_type("application/json").body(vec![b' '; 5 * 1024 * 1024]),
        _ => {}
    }
    let after = query.get("after").cloned();
    if let Some(failure) = state
        .failures
        .iter_mut()
        .find(|f| f.remaining > 0 && f.path == req.path() && (f.after.is_none() || f.after == after))
    {
        failure.remaining -= 1;
        let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(failure.status).unwrap());
        if let Some(secs) = failure.retry_after {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        return response.json(json!({"message": "injected failure"}));
    }
    if let Some(external_id) = req.path().strip_prefix("/organizations/external_id/") {
        return match state.organizations.iter().find(|(_, o)| o["external_id"] == external_id) {
            Some((_, org)) => HttpResponse::Ok().json(org.clone()),
            None => HttpResponse::NotFound().json(json!({"message": "Organization not found"})),
        };
    }
    if req.method() == actix_web::http::Method::POST {
        return post(&mut state, &req, &body);
    }
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).min(state.page_size);
    match req.path() {
        "/events" => {
            let wanted: Vec<&str> = query.get("events").map(|e| e.split(',').collect()).unwrap_or_default();
            let events: Vec<Value> =
                state.events.iter().filter(|e| wanted.contains(&e["event"].as_str().unwrap_or(""))).cloned().collect();
            page(&events, after.as_deref(), limit)
        }
        "/directories" => {
            let org = query.get("organization_id").cloned().unwrap_or_default();
            let dirs: Vec<Value> =
                state.directories.iter().filter(|d| d["organization_id"] == org.as_str()).cloned().collect();
            page(&dirs, after.as_deref(), limit)
        }
        "/directory_users" => {
            let dir = query.get("directory").cloned().unwrap_or_default();
            let users = state.users.get(&dir).cloned().unwrap_or_default();
            page(&users, after.as_deref(), limit)
        }
        _ => HttpResponse::NotFound().json(json!({"message": "not found"})),
    }
}

/// Organizations (idempotent by key, as WorkOS documents) and portal links.
fn post(state: &mut FakeState, req: &HttpRequest, body: &[u8]) -> HttpResponse {
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return HttpResponse::BadRequest().json(json!({"message": "body must be JSON"}));
    };
    state.posts.push((req.path().to_owned(), key.clone(), body.clone()));
    match req.path() {
        "/organizations" => {
            if let Some((_, org)) = state.organizations.iter().find(|(k, _)| k.is_some() && *k == key) {
                return HttpResponse::Created().json(org.clone());
            }
            if state.organizations.iter().any(|(_, o)| o["external_id"] == body["external_id"]) {
                return HttpResponse::Conflict().json(json!({"message": "external_id is already in use"}));
            }
            let id = format!("org_01FAKE{:04}", state.organizations.len() + 1);
            let org =
                json!({"object": "organization", "id": id, "name": body["name"], "external_id": body["external_id"]});
            state.organizations.push((key, org.clone()));
            HttpResponse::Created().json(org)
        }
        "/portal/generate_link" => {
            let known = state.organizations.iter().any(|(_, o)| o["id"] == body["organization"]);
            if !known {
                return HttpResponse::NotFound().json(json!({"message": "Organization not found"}));
            }
            let n = state.posts.iter().filter(|(p, _, _)| p == "/portal/generate_link").count();
            HttpResponse::Created().json(json!({"link": format!("https://setup.workos.test/portal/{n}")}))
        }
        _ => HttpResponse::NotFound().json(json!({"message": "not found"})),
    }
}
