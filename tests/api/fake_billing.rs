//! An in-process billing receiver: records every delivery as it arrives and
//! answers as the test scripts it (a status, a hang, a redirect, a huge body).
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

/// The receiver's secret (`whsec_` + base64 of 32 bytes).
pub const BILLING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with `Retry-After: <secs>`.
    RetryAfter(u16, u64),
    /// Answers 200 only after this long.
    Hang(Duration),
    /// 301 to another path of this receiver.
    Redirect,
    /// This status with a body of this many bytes.
    Huge(u16, usize),
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub json: Value,
    pub path: String,
    /// The W3C `traceparent` header, if one was sent (empty otherwise).
    pub traceparent: String,
}

impl Delivery {
    pub fn plan(&self) -> &str {
        self.json["data"]["plan_id"].as_str().unwrap_or("")
    }
    pub fn sequence(&self) -> i64 {
        self.json["data"]["sequence"].as_i64().unwrap_or(-1)
    }
}

#[derive(Default)]
struct Script {
    /// Replies used first, one per delivery.
    queue: VecDeque<Reply>,
    /// Per plan id, for every delivery of that plan (after the queue).
    per_plan: HashMap<String, Reply>,
    /// Otherwise.
    default: Option<Reply>,
    received: Vec<Delivery>,
}

pub struct FakeBilling {
    pub url: String,
    script: Arc<Mutex<Script>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeBilling {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeBilling {
    pub fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = script.clone();
        let (base, handle) = crate::helpers::serve_fake(2, move |app| {
            app.app_data(web::Data::new(shared.clone())).default_service(web::to(answer));
        });
        Self { url: format!("{base}/billing"), script, handle }
    }

    /// The settings that point seatsync here, with a fast retry schedule.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BILLING_WEBHOOK_URL", self.url.clone()),
            ("BILLING_WEBHOOK_SECRET", BILLING_SECRET.to_owned()),
            ("BILLING_RETRY_SCHEDULE_SECS", "0.2,0.2,0.2,0.2,0.2,0.2,0.2".to_owned()),
            ("BILLING_WEBHOOK_TIMEOUT_SECS", "1".to_owned()),
        ]
    }

    pub fn then(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().queue.extend(replies);
    }

    pub fn for_plan(&self, plan: &str, reply: Reply) {
        self.script.lock().unwrap().per_plan.insert(plan.to_owned(), reply);
    }

    pub fn clear_plan(&self, plan: &str) {
        self.script.lock().unwrap().per_plan.remove(plan);
    }

    pub fn always(&self, reply: Option<Reply>) {
        self.script.lock().unwrap().default = reply;
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.script.lock().unwrap().received.clone()
    }

    /// Deliveries to the registered path, of `plan`.
    pub fn of_plan(&self, plan: &str) -> Vec<Delivery> {
        self.received().into_iter().filter(|d| d.plan() == plan && d.path == "/billing").collect()
    }

    /// Waits (up to 20 s) until `done` holds for what was received.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        for _ in 0..400 {
            let got = self.received();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver never saw {what}: {:#?}", self.received());
    }

    /// Has the Standard Webhooks reference library verify every delivery
    /// received (an independent implementation, run by Python).
    pub fn verify_independently(&self) {
        let deliveries: Vec<Value> = self
            .received()
            .iter()
            .map(
                |d| serde_json::json!({"id": d.id, "timestamp": d.timestamp, "signature": d.signature, "body": d.body}),
            )
            .collect();
        assert!(!deliveries.is_empty(), "nothing to verify");
        let Some(python) = crate::helpers::venv_python("standardwebhooks") else { return };
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verify_billing.py");
        let mut child = std::process::Command::new(python)
            .arg(script)
            .arg(BILLING_SECRET)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(serde_json::to_string(&deliveries).unwrap().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "the independent verifier refused a delivery:\n{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), deliveries.len(), "{text}");
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, script: web::Data<Arc<Mutex<Script>>>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = String::from_utf8_lossy(&body).into_owned();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let delivery = Delivery {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: text,
        json,
        path: req.path().to_owned(),
        traceparent: header("traceparent"),
    };
    let plan = delivery.plan().to_owned();
    let reply = {
        let mut script = script.lock().unwrap();
        script.received.push(delivery);
        script
            .queue
            .pop_front()
            .or_else(|| script.per_plan.get(&plan).cloned())
            .or_else(|| script.default.clone())
            .unwrap_or(Reply::Status(200))
    };
    match reply {
        Reply::Status(code) => HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
            .body(format!("receiver says {code}")),
        Reply::RetryAfter(code, secs) => HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
            .insert_header(("Retry-After", secs.to_string()))
            .finish(),
        Reply::Hang(wait) => {
            tokio::time::sleep(wait).await;
            HttpResponse::Ok().finish()
        }
        Reply::Redirect => HttpResponse::MovedPermanently().insert_header(("Location", "/elsewhere")).finish(),
        Reply::Huge(code, bytes) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).body(vec![b'x'; bytes])
        }
    }
}
