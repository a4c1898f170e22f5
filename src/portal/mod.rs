//! The plan portal (CONTRACT 3.6): the customer's own admin, for one plan.
//! The product asks for a link (`POST /admin/plans/{id}/portal-link`), the
//! link opens a session (`links`), the session is a cookie checked on every
//! API call (`session`), and the API answers only for the session's plan
//! (`api`), which it never takes from the request. The page (`page`) uses
//! only that API. A portal session is never an admin credential, nor the
//! reverse: `/admin` reads only its bearer token, `/portal/api` only the cookie.
pub mod api;
pub mod links;
pub mod page;
pub mod session;

use actix_web::{middleware::from_fn, web};

/// Registers `/portal/…`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(page::index).service(page::script).service(page::style).service(links::open).service(
        web::scope("/portal/api")
            .wrap(from_fn(session::require_session))
            .service(api::current_session)
            .service(api::plan)
            .service(api::tile)
            .service(api::members)
            .service(api::set_tier)
            .service(api::preview)
            .service(api::audit)
            .service(api::approve_hold)
            .service(api::scim_setup),
    );
}
