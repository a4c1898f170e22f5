//! `GET /metrics` and the middleware that times and counts requests by route
//! and status.
use crate::{
    inbox::status::backlog,
    metrics::{CONTENT_TYPE, DatabaseFigures, ProcessFigures},
    state::AppState,
    store::plans,
};
use actix_web::{
    Error, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    get,
    middleware::Next,
    web,
};

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

#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let figures = match database_figures(&state).await {
        Ok(figures) => Some(figures),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: database gauges unavailable");
            None
        }
    };
    let reading = state.webhook.admission.in_flight();
    let process = ProcessFigures { webhook_bodies_in_flight: i64::try_from(reading).unwrap_or(i64::MAX) };
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(state.metrics.render(process, figures.as_ref()))
}

/// Totals with fixed label sets only: per-plan figures name customers and are
/// in the admin API, behind the token.
async fn database_figures(state: &AppState) -> Result<DatabaseFigures, sea_orm::DbErr> {
    let (events_by_status, oldest) = backlog(&state.db).await?;
    let lag_seconds = oldest.map_or(0.0, |t| (crate::domain::Micros::now().0 - t.0).max(0) as f64 / 1e6);
    let (modes, tiers) = plans::totals(&state.db).await?;
    let count = |rows: &[(String, u64)], key: &str| {
        rows.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| i64::try_from(*n).unwrap_or(i64::MAX))
    };
    Ok(DatabaseFigures {
        events_by_status,
        lag_seconds,
        plans_by_mode: [count(&modes, "test"), count(&modes, "enforced")],
        seats_by_tier: [count(&tiers, "paid"), count(&tiers, "free")],
        plans_on_hold: i64::try_from(plans::on_hold(&state.db).await?).unwrap_or(i64::MAX),
        outbound_pending: {
            let unsent = crate::store::outbound::unsent_by_target(&state.db).await?;
            let of = |t| unsent.iter().find(|(target, _)| *target == t).map_or(0, |(_, n)| *n);
            [of(crate::domain::Target::Webhook), of(crate::domain::Target::Stripe)]
        },
    })
}
