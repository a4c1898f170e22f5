//! `bench reconcile --billing`'s receiver: answers 204 at once and remembers,
//! per plan, the newest `sequence` it got, so the bench can tell when billing
//! has heard everything.
use actix_web::{App, HttpResponse, HttpServer, web};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

#[derive(Default)]
struct Seen {
    newest: Mutex<HashMap<String, i64>>,
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
    if let (Some(plan), Some(sequence)) = (value["data"]["plan_id"].as_str(), value["data"]["sequence"].as_i64()) {
        let mut newest = seen.newest.lock().unwrap_or_else(|p| p.into_inner());
        let entry = newest.entry(plan.to_owned()).or_insert(0);
        *entry = (*entry).max(sequence);
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

    /// Whether every plan's `sequence` in `wanted` (0: none written) arrived.
    pub fn has_seen(&self, wanted: &HashMap<String, i64>) -> bool {
        let newest = self.seen.newest.lock().unwrap_or_else(|p| p.into_inner());
        wanted.iter().all(|(plan, sequence)| *sequence == 0 || newest.get(plan).is_some_and(|s| s >= sequence))
    }
}
