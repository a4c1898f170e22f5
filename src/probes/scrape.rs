//! `GET /metrics` and the middleware that times and counts requests by route
//! and status.
use crate::{
    http::error::error_response,
    inbox::status::backlog,
    metrics::{CONTENT_TYPE, DatabaseFigures, FIGURES_EVERY, Metrics, ProcessFigures},
    state::AppState,
    store::plans,
};
use actix_web::{
    Error, HttpRequest, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    get,
    http::{StatusCode, header},
    middleware::Next,
    web,
};
use sea_orm::DatabaseConnection;

/// Times and counts every request under its route pattern (never the raw path:
/// ids in paths would make a label per plan), and puts the time on the request's
/// span (`request_span.rs`), which logs it.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let started = std::time::Instant::now();
    let response = next.call(req).await?;
    let elapsed = started.elapsed().as_secs_f64();
    tracing::Span::current().record("elapsed_ms", elapsed * 1000.0);
    if let Some(state) = state {
        state.metrics.request(&route, response.status().as_u16(), elapsed);
    }
    Ok(response)
}

/// Served from memory: no database read (CONTRACT 3.2). With `METRICS_ADDR`
/// set, only on that listener.
#[get("/metrics")]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if state.metrics_listener.is_some_and(|addr| req.app_config().local_addr() != addr) {
        return error_response(StatusCode::NOT_FOUND, "not_found", "no such route");
    }
    let reading = state.webhook.admission.in_flight();
    let process = ProcessFigures { webhook_bodies_in_flight: i64::try_from(reading).unwrap_or(i64::MAX) };
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render(process))
}

/// On the `METRICS_ADDR` listener, `/metrics` and nothing else.
pub async fn metrics_listener_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let listener = req.app_data::<web::Data<AppState>>().and_then(|s| s.metrics_listener);
    if listener.is_some_and(|addr| req.app_config().local_addr() == addr) && req.path() != "/metrics" {
        return Ok(req.into_response(error_response(StatusCode::NOT_FOUND, "not_found", "no such route")));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Reads the database's figures into `metrics` (logs and clears them when
/// the database does not answer).
pub async fn refresh(db: &DatabaseConnection, into: &Metrics) {
    match database_figures(db).await {
        Ok(figures) => into.set_figures(Some(figures)),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: database figures unavailable");
            into.set_figures(None);
        }
    }
}

/// Refreshes the figures every `FIGURES_EVERY` until `stop`.
pub async fn refresh_every(
    db: DatabaseConnection,
    into: std::sync::Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        // Bounded on PostgreSQL (`db::bounded`): a hung node must not hold
        // one of the pool's connections for good.
        let _ = crate::db::bounded(db.get_database_backend(), FIGURES_EVERY, refresh(&db, &into)).await;
        tokio::select! {
            _ = tokio::time::sleep(FIGURES_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Totals with fixed label sets only: per-plan figures name customers and are
/// in the admin API, behind the token.
async fn database_figures(db: &DatabaseConnection) -> Result<DatabaseFigures, sea_orm::DbErr> {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    // One transaction, so PostgreSQL's JIT can be turned off for it alone: on a
    // table not yet analyzed the planner's guesses pass jit_above_cost, and
    // compiling took 9 to 30 ms a refresh at a million stored events (1.2 ms
    // without). SET LOCAL works through PgBouncer too; a startup option does not.
    let txn = db.begin().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL jit = off").await?;
    }
    let figures = figures_in(&txn).await?;
    txn.commit().await?;
    Ok(figures)
}

async fn figures_in<C: sea_orm::ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
) -> Result<DatabaseFigures, sea_orm::DbErr> {
    let (events_by_status, oldest) = backlog(db).await?;
    let lag_seconds = oldest.map_or(0.0, |t| (crate::domain::Micros::now().0 - t.0).max(0) as f64 / 1e6);
    let (modes, tiers) = plans::totals(db).await?;
    let count = |rows: &[(String, u64)], key: &str| {
        rows.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| i64::try_from(*n).unwrap_or(i64::MAX))
    };
    Ok(DatabaseFigures {
        events_by_status,
        lag_seconds,
        plans_by_mode: [count(&modes, "test"), count(&modes, "enforced")],
        seats_by_tier: [count(&tiers, "paid"), count(&tiers, "free")],
        plans_on_hold: i64::try_from(plans::on_hold(db).await?).unwrap_or(i64::MAX),
        oldest_hold_seconds: plans::oldest_hold(db)
            .await?
            .map_or(0.0, |t| (crate::domain::Micros::now().0 - t.0).max(0) as f64 / 1e6),
        outbound_pending: {
            let unsent = crate::store::outbound::unsent_by_target(db).await?;
            let of = |t| unsent.iter().find(|(target, _)| *target == t).map_or(0, |(_, n)| *n);
            [of(crate::domain::Target::Webhook), of(crate::domain::Target::Stripe)]
        },
    })
}
