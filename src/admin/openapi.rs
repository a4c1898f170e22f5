//! `GET /admin/openapi.json`: an OpenAPI 3.1 document of every `/admin` route,
//! collected by utoipa from the handlers `admin::register` serves.
use actix_web::{HttpResponse, get, web};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "seatsync admin API",
        description = "Plans, seats, the audit trail and stored events. Every route but the page and \
                       this document needs `Authorization: Bearer $ADMIN_TOKEN`."
    ),
    modifiers(&AdminToken)
)]
struct Base;

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, built from the same registration the server runs.
pub fn build() -> utoipa::openapi::OpenApi {
    let (_, paths) = super::register(actix_web::App::new().into_utoipa_app()).split_for_parts();
    let mut doc = Base::openapi();
    doc.merge(paths);
    add_token_refusals(&mut doc);
    doc
}

/// Every route that can answer 401 can also refuse a token in the two other
/// ways `auth.rs` does; written once here rather than on each handler.
fn add_token_refusals(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    let refusals = [
        ("403", "The example ADMIN_TOKEN of .env.example, through a proxy or tunnel (`example_token`)"),
        ("429", "Ten refused tokens this minute from this address (`too_many_attempts`, with Retry-After)"),
    ];
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            let Some(RefOr::T(unauthorized)) = responses.get("401").cloned() else { continue };
            for (status, description) in refusals {
                let mut refused = unauthorized.clone();
                refused.description = description.to_owned();
                responses.entry(status.to_owned()).or_insert(RefOr::T(refused));
            }
        }
    }
}

/// The document as served, rendered once at start-up.
pub struct Document(pub String);

#[utoipa::path(
    operation_id = "getOpenApiDocument",
    tag = "page",
    summary = "This document (no token needed)",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json"))
)]
#[get("/admin/openapi.json")]
pub async fn document(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(doc.0.clone())
}
