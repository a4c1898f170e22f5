//! `bench reconcile --billing`'s receiver: answers 204 at once and remembers,
//! per plan, the paid seats of the newest message (highest `sequence`) it got,
//! so the bench can tell when billing has heard everything.
use actix_web::{App, HttpResponse, HttpServer, web};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// The receiver's secret (`whsec_` and base64); the benches that push seat
/// changes give it to the sender.
pub const BILLING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct Seen {
    /// plan -> (newest sequence, its paid seats)
    newest: Mutex<HashMap<String, (i64, i64)>>,
    deliveries: AtomicU64,
}

pub struct Receiver {
    port: u16,
    seen: Arc<Seen>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn receive(body: web::Bytes, seen: web::Data<Arc<Seen>>) -> HttpResponse {
    seen.deliveries.fetch_add(1, Ordering::Relaxed);
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let data = &value["data"];
    if let (Some(plan), Some(sequence), Some(paid)) =
        (data["plan_id"].as_str(), data["sequence"].as_i64(), data["paid_seats"].as_i64())
    {
        let mut newest = seen.newest.lock().unwrap_or_else(|p| p.into_inner());
        let entry = newest.entry(plan.to_owned()).or_insert((0, 0));
        if sequence > entry.0 {
            *entry = (sequence, paid);
        }
    }
    HttpResponse::NoContent().finish()
}

impl Receiver {
    pub fn start() -> anyhow::Result<Self> {
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        let server = HttpServer::new(move || {
            App::new().app_data(web::Data::new(shared.clone())).default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")?;
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { port, seen, handle })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/billing", self.port)
    }

    pub fn deliveries(&self) -> u64 {
        self.seen.deliveries.load(Ordering::Relaxed)
    }

    /// Whether every plan's newest message carries its paid seats in `wanted`
    /// (a plan with none paid may have had no message).
    pub fn has_seen(&self, wanted: &HashMap<String, i64>) -> bool {
        let newest = self.seen.newest.lock().unwrap_or_else(|p| p.into_inner());
        wanted.iter().all(|(plan, paid)| newest.get(plan).map_or(*paid == 0, |(_, got)| got == paid))
    }
}
