//! An in-process fake of Stripe's subscription items, in Stripe's shapes:
//! form-encoded bodies, `Authorization: Bearer`, `Idempotency-Key` replay
//! (the same key and parameters get the first answer again; the same key with
//! other parameters gets 400 `idempotency_error`), 429 `lock_timeout`, and
//! 404/402 with Stripe's error object.
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

pub const STRIPE_KEY: &str = "sk_test_fakeStripeKeyNeverLogged";

#[derive(Debug, Clone)]
pub struct Update {
    pub item: String,
    pub quantity: u64,
    pub proration: String,
    pub key: String,
    /// The `Stripe-Version` header sent.
    pub version: String,
}

#[derive(Default)]
struct State {
    /// Item id -> quantity.
    items: HashMap<String, u64>,
    /// Statuses to answer next, before doing anything (429 = lock_timeout).
    failures: VecDeque<u16>,
    /// Idempotency key -> (parameters, status, answer).
    seen: HashMap<String, (String, u16, Value)>,
    /// Every POST received, applied or not.
    posts: Vec<Update>,
}

pub struct FakeStripe {
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeStripe {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let (base, handle) = crate::helpers::serve_fake(1, move |app| {
            app.app_data(web::Data::new(shared.clone())).default_service(web::to(answer));
        });
        Self { base, state, handle }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STRIPE_API_KEY", STRIPE_KEY.to_owned()),
            ("STRIPE_API_BASE", self.base.clone()),
            ("BILLING_RETRY_SCHEDULE_SECS", "0.2,0.2,0.2,0.2,0.2,0.2,0.2".to_owned()),
        ]
    }

    pub fn add_item(&self, item: &str, quantity: u64) {
        self.state.lock().unwrap().items.insert(item.to_owned(), quantity);
    }

    pub fn quantity(&self, item: &str) -> Option<u64> {
        self.state.lock().unwrap().items.get(item).copied()
    }

    pub fn fail_next(&self, statuses: impl IntoIterator<Item = u16>) {
        self.state.lock().unwrap().failures.extend(statuses);
    }

    pub fn posts(&self) -> Vec<Update> {
        self.state.lock().unwrap().posts.clone()
    }
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> (u16, Value) {
    (status, json!({"error": {"type": kind, "code": code, "message": message}}))
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let reply = |(status, value): (u16, Value)| {
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(value)
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if header("authorization") != format!("Bearer {STRIPE_KEY}") {
        return reply(error(401, "invalid_request_error", "api_key_invalid", "Invalid API Key provided"));
    }
    let Some(item) = req.path().strip_prefix("/v1/subscription_items/").map(str::to_owned) else {
        return reply(error(404, "invalid_request_error", "resource_missing", "Unrecognized request URL"));
    };
    let mut state = state.lock().unwrap();
    if req.method() == actix_web::http::Method::GET {
        return match state.items.get(&item) {
            Some(q) => reply((200, json!({"id": item, "object": "subscription_item", "quantity": q}))),
            None => reply(error(
                404,
                "invalid_request_error",
                "resource_missing",
                &format!("No such subscription item: '{item}'"),
            )),
        };
    }
    let params = String::from_utf8_lossy(&body).into_owned();
    let form: HashMap<String, String> =
        params.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let key = header("idempotency-key");
    let quantity = form.get("quantity").and_then(|q| q.parse::<u64>().ok()).unwrap_or(u64::MAX);
    state.posts.push(Update {
        item: item.clone(),
        quantity,
        proration: form.get("proration_behavior").cloned().unwrap_or_default(),
        version: header("stripe-version"),
        key: key.clone(),
    });
    if let Some(status) = state.failures.pop_front() {
        return reply(match status {
            429 => error(
                429,
                "invalid_request_error",
                "lock_timeout",
                "This object cannot be accessed right now because another API request or Stripe process is currently accessing it.",
            ),
            s => error(s, "api_error", "", "Something went wrong on Stripe's end."),
        });
    }
    if let Some((seen_params, status, value)) = state.seen.get(&key) {
        if *seen_params != params {
            return reply(error(
                400,
                "idempotency_error",
                "",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            ));
        }
        return reply((*status, value.clone()));
    }
    let (status, value) = match state.items.get_mut(&item) {
        None => {
            error(404, "invalid_request_error", "resource_missing", &format!("No such subscription item: '{item}'"))
        }
        Some(q) if quantity != u64::MAX => {
            *q = quantity;
            (200, json!({"id": item, "object": "subscription_item", "quantity": quantity}))
        }
        Some(_) => error(400, "invalid_request_error", "parameter_invalid_integer", "Invalid integer: quantity"),
    };
    if !key.is_empty() {
        state.seen.insert(key, (params, status, value.clone()));
    }
    reply((status, value))
}
