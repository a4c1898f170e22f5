//! `GET|POST /sso/login_redirect`: the "stub SAML implementation" of the
//! product's help text. A customer points their identity provider's SAML
//! Audience and Consumer URLs here, so a click on the app's tile lands on the
//! product's login page (`LOGIN_REDIRECT_URL`).
//!
//! The identity provider form-posts a signed assertion (`SAMLResponse`, maybe
//! `RelayState`). It is read only to keep the connection usable, and dropped:
//! never parsed, logged or stored, since it names a person and proves nothing
//! we check. `RelayState` is never a destination (an open redirect otherwise).
use crate::{
    http::{
        body::{self, BodyError, Keep},
        error::error_response,
    },
    state::AppState,
};
use actix_web::{HttpRequest, HttpResponse, http::header, route, web};

/// The largest form post read (and dropped); a larger one is 413.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// The route's path, also shown to operators (`PUBLIC_URL` + this).
pub const PATH: &str = "/sso/login_redirect";

// HEAD answers as GET does (link checkers use it), without counting a click.
#[route("/sso/login_redirect", method = "GET", method = "POST", method = "HEAD")]
pub async fn login_redirect(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let Some(target) = state.login_redirect_url.as_deref() else {
        return error_response(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            "the app tile is not configured here (LOGIN_REDIRECT_URL)",
        );
    };
    if let Err(err) = body::read(&req, payload, MAX_FORM_BYTES, Keep::Nothing).await {
        // The error names sizes and times only, never the body.
        if !matches!(err, BodyError::TooLarge(_)) {
            tracing::debug!(code = err.code(), "app tile form post not read");
        }
        return error_response(err.status_code(), err.code(), &err.to_string());
    }
    if req.method() != actix_web::http::Method::HEAD {
        state.metrics.login_redirect();
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; base-uri 'none'; form-action 'none'"))
        .content_type("text/html; charset=utf-8")
        .body(page(target))
}

/// For a browser that does not follow the redirect: one link, escaped.
fn page(target: &str) -> String {
    let href = escape(target);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Continue to sign in</title></head>\n\
         <body><p><a href=\"{href}\">Continue to sign in</a></p></body></html>\n"
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_to_the_target_with_markup_escaped() {
        let html = page("https://app.example.com/login?a=1&b=\"x\"");
        assert!(html.contains("<a href=\"https://app.example.com/login?a=1&amp;b=&quot;x&quot;\">"), "{html}");
    }
}
