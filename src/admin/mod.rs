//! The admin API (CONTRACT 3.3), behind `Authorization: Bearer $ADMIN_TOKEN`.
pub mod auth;
pub mod events;
pub mod plans;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
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
            .service(events::show),
    );
}
