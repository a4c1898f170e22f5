//! Builds the application: database, inbox writer, reconciler and HTTP server.
//! Tests start exactly this, on port 0.
pub use crate::state::{AppState, WebhookSettings};
use crate::{
    admin,
    billing::{delivery::Deliverer, stripe::StripeClient, webhook::WebhookSender},
    config::Settings,
    db,
    http::{body_deadline, request_span::RequestSpan},
    inbox::Inbox,
    metrics::Metrics,
    probes::{health, scrape},
    reconcile::Reconciler,
    sso, webhook,
    workos::{WorkosClient, schedule},
};
use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use std::{net::TcpListener, sync::Arc, time::Duration};
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

/// Open connections each worker accepts at most; more wait in the listen
/// backlog.
const MAX_CONNECTIONS_PER_WORKER: usize = 4096;
/// File descriptors kept for everything but client connections: the
/// database, its WAL, outbound calls, logs.
const RESERVED_FILES: u64 = 256;

/// Raises the open-files soft limit to the hard one (the usual soft limit of
/// 1,024 is below the connection cap), and returns the cap per worker that
/// keeps all workers' connections under it.
fn connection_cap(workers: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "could not read or raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(1024)
        }
    };
    cap_per_worker(limit, workers)
}

fn cap_per_worker(open_files: u64, workers: usize) -> usize {
    let for_clients = open_files.saturating_sub(RESERVED_FILES).max(64);
    let per_worker = for_clients / workers.max(1) as u64;
    usize::try_from(per_worker).unwrap_or(usize::MAX).clamp(16, MAX_CONNECTIONS_PER_WORKER)
}

/// How often `serve` repeats that `.env.example` values are in use.
const EXAMPLE_WARNING_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    server: Server,
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    writer: tokio::task::JoinHandle<()>,
    /// Tasks that run until `stop`, by name; one that ends sooner is a fault.
    background: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
    stop: watch::Sender<bool>,
}

/// The billing deliverer `settings` ask for; `None` when no target is configured.
pub fn deliverer(
    db: DatabaseConnection,
    settings: &Settings,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Option<Deliverer>> {
    let timeout = settings.billing_webhook_timeout;
    let webhook = match &settings.billing_webhook_url {
        Some(url) => Some(WebhookSender::new(url.clone(), settings.billing_webhook_secrets.clone(), timeout)?),
        None => None,
    };
    let stripe = stripe_client(settings)?;
    if webhook.is_none() && stripe.is_none() {
        return Ok(None);
    }
    let schedule = settings.billing_retry_schedule.clone();
    Ok(Some(Deliverer::for_webhook(db, webhook, schedule, timeout, metrics).with_stripe(stripe)))
}

/// A Stripe client when `STRIPE_API_KEY` is set.
pub fn stripe_client(settings: &Settings) -> anyhow::Result<Option<StripeClient>> {
    let Some(key) = settings.stripe_api_key.clone() else { return Ok(None) };
    let timeout = settings.billing_webhook_timeout;
    Ok(Some(StripeClient::new(&settings.stripe_api_base, key, &settings.stripe_proration, timeout)?))
}

impl Application {
    /// Connects, migrates, binds `LISTEN_ADDR` and starts the background tasks.
    /// `handle_signals`: the binary stops on SIGTERM/Ctrl-C; in-process tests do not.
    pub async fn build(settings: &Settings, handle_signals: bool) -> anyhow::Result<Self> {
        let secrets = settings.webhook_secrets()?;
        let workos = WorkosClient::for_pulls(settings)?;
        let db = db::connect(&settings.database_url).await.context("could not connect to the database")?;
        db::migrate(&db).await.context("could not apply migrations")?;

        let metrics = Arc::new(Metrics::default());
        // Targets met for the first time get each plan's current seats once;
        // from then on every seat change writes their messages, whoever makes it.
        crate::operator::billing_targets::register(&db, settings.billing_targets(), crate::domain::Micros::now())
            .await
            .context("could not register the billing targets")?;
        let deliverer = deliverer(db.clone(), settings, metrics.clone())?;
        let reconciler = Reconciler::with_faults(settings.faults);
        let (inbox, writer) =
            Inbox::start(db.clone(), &settings.database_url, reconciler.arrivals(), reconciler.faults());
        let metrics_listener = settings
            .metrics_addr
            .map(|addr| TcpListener::bind(addr).with_context(|| format!("could not listen on {addr} (METRICS_ADDR)")))
            .transpose()?;
        let metrics_addr = metrics_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            inbox,
            reconciler: reconciler.clone(),
            metrics: metrics.clone(),
            webhook: WebhookSettings {
                secrets,
                tolerance: settings.webhook_tolerance,
                max_body_bytes: settings.webhook_max_body_bytes,
                admission: crate::http::admission::Admission::new(
                    settings.webhook_allowed_ips.clone(),
                    settings.webhook_max_inflight,
                    settings.webhook_max_inflight_per_client,
                ),
            },
            admin_token: settings.admin_token.clone(),
            trusted_proxies: settings.trusted_proxies.clone(),
            refused_tokens: Default::default(),
            test_mode_max_users: settings.test_mode_max_users,
            workos: WorkosClient::when_configured(settings)?,
            public_url: settings.public_url.clone(),
            login_redirect_url: settings.login_redirect_url.clone(),
            metrics_listener: metrics_addr,
            deliverer: deliverer.clone(),
            example_values: settings.shipped_secrets_in_use(),
            release_guard: settings.release_guard,
        });

        let listener = TcpListener::bind(settings.listen_addr)
            .with_context(|| format!("could not listen on {} (LISTEN_ADDR)", settings.listen_addr))?;
        let port = listener.local_addr()?.port();
        let openapi = web::Data::new(admin::openapi::Document(
            admin::openapi::build().to_pretty_json().context("could not render the OpenAPI document")?,
        ));
        let trusted_proxies =
            web::Data::new(crate::http::client_address::TrustedProxies(settings.trusted_proxies.clone()));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let max_connections = connection_cap(workers);
        let mut server = HttpServer::new(move || {
            let app = App::new()
                .app_data(state.clone())
                .app_data(openapi.clone())
                .app_data(trusted_proxies.clone())
                .app_data(crate::http::error::json_config())
                .app_data(crate::http::error::query_config())
                .wrap(from_fn(body_deadline::bound_body))
                .wrap(from_fn(scrape::metrics_listener_only))
                .wrap(from_fn(scrape::count_requests))
                // Outermost: the span is open while the timing middleware runs.
                .wrap(TracingLogger::<RequestSpan>::new())
                .service(health::healthz)
                .service(health::readyz)
                .service(scrape::metrics)
                .service(webhook::receive)
                .service(sso::login_redirect::login_redirect)
                .configure(crate::portal::configure);
            // The same registration the OpenAPI document is built from.
            let (app, _) = admin::register(app.into_utoipa_app()).split_for_parts();
            app.default_service(web::to(crate::http::error::not_found))
        })
        .workers(workers)
        .listen(listener)?;
        if let Some(extra) = metrics_listener {
            server = server.listen(extra)?;
        }
        let mut server = server
            // Connections are capped too (each worker), below the open-files
            // limit, so idle sockets cannot pile up until accept() fails.
            .max_connections(max_connections)
            .shutdown_timeout(30);
        if !handle_signals {
            server = server.disable_signals();
        }

        // The first scrape shows the database's figures too (dashboards and
        // alerts trust it): read once before the server answers.
        scrape::refresh(&db, &metrics).await;
        let (stop, _) = watch::channel(false);
        let mut background = Vec::new();
        background.push((
            "metrics figures",
            tokio::spawn(scrape::refresh_every(db.clone(), metrics.clone(), stop.subscribe())),
        ));
        let mut stopped = stop.subscribe();
        let guard = settings.release_guard;
        let reconcile = reconciler.clone().reconcile_until(db.clone(), metrics.clone(), guard, async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        // On SQLite the reconciler runs on a thread of its own: its batches'
        // CPU (parsing, the book) no longer shares the runtime that carries
        // deliveries to the inbox's lane (docs/benchmarks.md, 2026-12-08).
        // PostgreSQL's connections belong to the runtime that opened them,
        // so there it stays on the shared runtime.
        let reconciling = match db.get_database_backend() {
            sea_orm::DbBackend::Sqlite => on_a_thread_of_its_own("seatsync-reconciler", reconcile)
                .context("could not start the reconciler's thread")?,
            _ => tokio::spawn(reconcile),
        };
        background.push(("reconciler", reconciling));
        background.push((
            "retention",
            tokio::spawn(crate::inbox::retention::prune_periodically(
                db.clone(),
                settings.inbox_retention,
                settings.prune_every,
                metrics.clone(),
                stop.subscribe(),
            )),
        ));
        if let Some(deliverer) = deliverer.filter(|_| settings.faults.delivers()) {
            background.push(("billing delivery", tokio::spawn(deliverer.deliver_until(stop.subscribe()))));
        }
        if let Some(client) = workos {
            if let Some(every) = settings.events_poll_every {
                let task =
                    schedule::poll_events(db.clone(), client.clone(), every, reconciler.clone(), stop.subscribe());
                background.push(("events poll", tokio::spawn(task)));
            }
            if let Some(every) = settings.resync_every {
                background.push((
                    "scheduled resync",
                    tokio::spawn(schedule::resync_all(
                        db.clone(),
                        client,
                        every,
                        settings.release_guard,
                        stop.subscribe(),
                    )),
                ));
            }
        }

        match &settings.env_file {
            Some(path) => tracing::info!(file = %path.display(), "settings read from this file and the environment"),
            None => tracing::info!("settings read from the environment only (no .env file)"),
        }
        let example_values = settings.shipped_secrets_in_use();
        for variable in &example_values {
            tracing::warn!(
                variable,
                "{variable} is still the development value from .env.example: set a real one before production"
            );
        }
        if !example_values.is_empty() {
            // A proxy in front of a loopback listener shows no request as
            // coming from elsewhere: the warning repeats, hour after hour.
            let mut stop = stop.subscribe();
            let variables = example_values.join(", ");
            background.push((
                "example values warning",
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(EXAMPLE_WARNING_EVERY);
                    every.tick().await;
                    loop {
                        tokio::select! {
                            _ = stop.wait_for(|s| *s) => return,
                            _ = every.tick() => tracing::warn!(variables = %variables, "still the development values from .env.example: set real ones"),
                        }
                    }
                }),
            ));
        }
        tracing::info!(
            listen = %format!("{}:{port}", settings.listen_addr.ip()),
            webhook_path = "/webhooks/workos",
            database = settings.database_url.kind().map(|k| k.as_str()).unwrap_or("unknown"),
            max_connections = max_connections * workers,
            admin_api = if settings.admin_token.is_some() { "enabled" } else { "disabled (set ADMIN_TOKEN)" },
            "seatsync listening"
        );
        if let Some(addr) = metrics_addr {
            tracing::info!(listen = %addr, "metrics served here only (METRICS_ADDR)");
        }
        Ok(Self {
            port,
            metrics_port: metrics_addr.map(|a| a.port()),
            server: server.run(),
            db,
            metrics,
            writer,
            background,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `METRICS_ADDR` listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn db(&self) -> DatabaseConnection {
        self.db.clone()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves until the server stops (a signal, or `ServerHandle::stop`), then
    /// finishes in-flight work: the inbox writer drains, the reconciler ends
    /// between two events.
    ///
    /// If the inbox writer or a background task ends on its own (a panic), the
    /// process must not go on half alive, answering with nothing applied: the
    /// server stops and this returns the cause, so `serve` exits non-zero and a
    /// supervisor restarts it.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self { server, mut writer, mut background, stop, .. } = self;
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        let died = {
            let mut watched: Vec<(&'static str, &mut tokio::task::JoinHandle<()>)> =
                background.iter_mut().map(|(name, task)| (*name, task)).collect();
            watched.push(("inbox writer", &mut writer));
            let names: Vec<&'static str> = watched.iter().map(|(name, _)| *name).collect();
            let any_ends = futures_util::future::select_all(watched.into_iter().map(|(_, task)| task));
            tokio::select! {
                result = &mut server => {
                    result?;
                    None
                }
                (outcome, index, _) = any_ends => Some((names[index], outcome)),
            }
        };
        let Some((name, outcome)) = died else {
            let _ = stop.send(true);
            for (_, task) in background {
                let _ = task.await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
            tracing::info!("seatsync stopped");
            return Ok(());
        };
        let cause = match outcome {
            Err(err) if err.is_panic() => {
                let payload = err.into_panic();
                payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned())
            }
            Err(err) => err.to_string(),
            Ok(()) => "it returned".to_owned(),
        };
        tracing::error!(task = name, cause = %cause, "a background task stopped; seatsync stops so it can be restarted");
        let _ = stop.send(true);
        // Not graceful: idle keep-alive connections would hold a graceful stop
        // for its whole timeout, and nothing in flight can be stored any more
        // (its sender gets no 200 and WorkOS retries it).
        // The server future carries out the stop: both are polled together.
        let _ = tokio::join!(handle.stop(false), server);
        anyhow::bail!("the {name} stopped unexpectedly: {cause}")
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Runs `task` on a new thread with a runtime of its own. The handle ends
/// when the task does, and carries its panic, as `tokio::spawn`'s would.
fn on_a_thread_of_its_own(
    name: &str,
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let (done, finished) = tokio::sync::oneshot::channel::<std::thread::Result<()>>();
    // The runtime is built on the thread: one dropped in an async context
    // (here, had the spawn failed) panics instead of returning the error.
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|err| panic!("could not build the thread's runtime: {err}"));
            runtime.block_on(task)
        }));
        let _ = done.send(ran);
    })?;
    Ok(tokio::spawn(async move {
        match finished.await {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the thread ended without saying how"),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_stay_below_the_open_files_limit() {
        assert_eq!(cap_per_worker(1024, 2), 384);
        assert_eq!(cap_per_worker(1_048_576, 2), MAX_CONNECTIONS_PER_WORKER);
        assert!(cap_per_worker(4096, 4) * 4 <= 4096 - RESERVED_FILES as usize);
        assert_eq!(cap_per_worker(100, 2), 32, "a tiny limit still serves a few");
    }
}
