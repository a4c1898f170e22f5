//! The admin API (CONTRACT 3.3), behind `Authorization: Bearer $ADMIN_TOKEN`,
//! the admin page that uses it (3.4), and its OpenAPI document, generated from
//! the same registration the server runs, so the two cannot drift.
pub mod app_tile;
pub mod auth;
pub mod change_log;
pub mod changes;
pub mod events;
pub mod openapi;
pub mod outbound;
pub mod page;
pub mod plans;

use utoipa_actix_web::{UtoipaApp, scope};

/// Registers every `/admin` route: the page and the document without the
/// token, the API behind it. Each API handler carries `#[utoipa::path]`; one
/// without would not compile here.
pub fn register<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    // The page's own routes come first: the scope below answers everything else
    // under /admin (and refuses it without the token).
    app.service(page::index).service(page::script).service(page::style).service(openapi::document).service(
        scope("/admin")
            .wrap(actix_web::middleware::from_fn(auth::require_admin))
            .service(plans::create)
            .service(plans::list)
            .service(plans::show)
            .service(plans::update)
            .service(plans::approve_hold)
            .service(plans::scim_setup)
            .service(plans::members)
            .service(plans::set_tier)
            .service(plans::preview)
            .service(plans::audit)
            .service(plans::history)
            .service(plans::portal_link)
            .service(plans::revoke_portal_sessions)
            .service(events::show)
            .service(outbound::list)
            .service(outbound::retry)
            .service(outbound::resend)
            .service(app_tile::show)
            .service(changes::list),
    )
}
