//! `GET /metrics` and the middleware that counts requests by route and status.
use crate::{inbox::status::backlog, metrics::render_labels, seats::plans, startup::AppState};
use actix_web::{
    Error, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    get,
    middleware::Next,
    web,
};
use std::fmt::Write;
use tracing::Instrument;

/// Runs every request in its own tracing span, logs its outcome, and counts it
/// under its route pattern (never the raw path: ids in paths would make a label
/// per plan).
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!("request", method = %req.method(), route = %route, request_id = %ulid::Ulid::new());
    let started = std::time::Instant::now();
    let response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    span.in_scope(|| tracing::info!(status, elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "request finished"));
    if let Some(state) = state {
        state.metrics.request(&route, status);
    }
    Ok(response)
}

#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut out = String::new();
    state.metrics.render_counters(&mut out);
    if let Err(err) = database_gauges(&state, &mut out).await {
        tracing::warn!(error = %err, "metrics: database gauges unavailable");
        let _ = writeln!(out, "# TYPE seatsync_database_up gauge\nseatsync_database_up 0");
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}

async fn database_gauges(state: &AppState, out: &mut String) -> Result<(), sea_orm::DbErr> {
    let (by_status, oldest) = backlog(&state.db).await?;
    let _ = writeln!(out, "# TYPE seatsync_database_up gauge\nseatsync_database_up 1");
    let _ = writeln!(out, "# TYPE seatsync_events gauge");
    for (status, n) in by_status {
        let _ = writeln!(out, "seatsync_events{{{}}} {n}", render_labels(&[("status", status)]));
    }
    let lag = oldest.map_or(0.0, |t| (crate::domain::Micros::now().0 - t.0).max(0) as f64 / 1e6);
    let _ = writeln!(out, "# TYPE seatsync_reconciler_lag_seconds gauge\nseatsync_reconciler_lag_seconds {lag}");
    // Totals with fixed label sets: per-plan figures name customers and are in
    // the admin API, behind the token.
    let (modes, tiers) = plans::totals(&state.db).await?;
    let _ = writeln!(out, "# TYPE seatsync_plans gauge");
    for mode in ["test", "enforced"] {
        let n = modes.iter().find(|(m, _)| m == mode).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "seatsync_plans{{{}}} {n}", render_labels(&[("mode", mode.to_owned())]));
    }
    let on_hold = plans::on_hold(&state.db).await?;
    let _ = writeln!(out, "# TYPE seatsync_plans_on_hold gauge\nseatsync_plans_on_hold {on_hold}");
    let _ = writeln!(out, "# TYPE seatsync_seats gauge");
    for tier in ["paid", "free"] {
        let n = tiers.iter().find(|(t, _)| t == tier).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "seatsync_seats{{{}}} {n}", render_labels(&[("tier", tier.to_owned())]));
    }
    Ok(())
}
