//! The portal session check, on every `/portal/api` call: the session cookie
//! (and only it: a bearer token means nothing here) names a live session, or
//! the answer is 401 `no_session`. A write also needs `X-Seatsync-Portal: 1`,
//! which a plain form or a cross-site request without CORS cannot send, and
//! must not come from another site: 403 `forbidden`. Writes are recorded in
//! the admin log with the portal as their source.
use crate::{
    domain::Micros,
    http::{client_address, error::error_response},
    state::AppState,
    store::portal::{self, SESSION_MAX, Session},
};
use actix_web::{
    Error, HttpMessage,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{self, HeaderMap},
    },
    middleware::Next,
    web,
};

/// The session cookie.
pub const COOKIE: &str = "seatsync_portal";
/// The header every write carries.
pub const WRITE_HEADER: &str = "x-seatsync-portal";

/// `Set-Cookie` for a new session: only sent to `/portal`, never readable by
/// script, never sent from another site, `Secure` when `PUBLIC_URL` is https.
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/portal; Max-Age={}; HttpOnly; SameSite=Strict{}",
        SESSION_MAX.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The session cookie's value, if the request carries one.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Whether a write shows it came from the portal page itself: the header a
/// form cannot send, and no sign of another site (`Sec-Fetch-Site`, `Origin`).
pub fn write_is_from_the_page(headers: &HeaderMap) -> bool {
    let marked = headers.get(WRITE_HEADER).is_some_and(|v| v.as_bytes() == b"1");
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let foreign_origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_some_and(|origin| {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        host.is_none_or(|host| !origin_host.eq_ignore_ascii_case(host))
    });
    marked && !cross_site && !foreign_origin
}

/// The live session of this request (set by `require_session`).
#[derive(Debug, Clone)]
pub struct PortalSession(pub Session);

pub async fn require_session(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    Ok(crate::admin::auth::private(check_then_call(req, next).await?))
}

async fn check_then_call(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "not configured")));
    };
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if write && !write_is_from_the_page(req.headers()) {
        return Ok(req.into_response(error_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a portal write must come from the portal page (X-Seatsync-Portal: 1, same site)",
        )));
    }
    let found = match cookie_value(req.headers()) {
        Some(token) => portal::session(&state.db, token, Micros::now()).await,
        None => Ok(None),
    };
    let session = match found {
        Ok(Some(session)) => session,
        Ok(None) => {
            return Ok(req.into_response(error_response(
                StatusCode::UNAUTHORIZED,
                "no_session",
                "no live plan portal session: open a new portal link",
            )));
        }
        Err(err) => {
            crate::http::error::log_chain("plan portal: a session could not be checked", &err);
            return Ok(req.into_response(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; retry later",
            )));
        }
    };
    let plan = session.plan.clone();
    req.extensions_mut().insert(PortalSession(session));
    if !write {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let client = client_address::of_request(&state.trusted_proxies, req.request());
    crate::admin::change_log::recorded(req, next, &state, client, crate::admin::change_log::Origin::Portal(plan)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(cookie_value(&headers(&[("cookie", "a=1; seatsync_portal=abc; b=2")])), Some("abc"));
        assert_eq!(cookie_value(&headers(&[("cookie", "a=1"), ("cookie", "seatsync_portal=x")])), Some("x"));
        assert_eq!(cookie_value(&headers(&[("cookie", "seatsync_portal_other=abc")])), None);
        assert_eq!(cookie_value(&headers(&[])), None);
    }

    #[test]
    fn the_session_cookie_is_strict_http_only_and_scoped_to_the_portal() {
        let cookie = set_cookie("t", true);
        for part in ["seatsync_portal=t", "Path=/portal", "HttpOnly", "SameSite=Strict", "Secure", "Max-Age=43200"] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
        assert!(!set_cookie("t", false).contains("Secure"));
    }

    #[test]
    fn only_a_marked_same_site_write_passes() {
        assert!(write_is_from_the_page(&headers(&[("x-seatsync-portal", "1"), ("host", "h:1")])));
        assert!(write_is_from_the_page(&headers(&[
            ("x-seatsync-portal", "1"),
            ("host", "h:1"),
            ("origin", "http://h:1"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!write_is_from_the_page(&headers(&[("host", "h:1")])));
        assert!(!write_is_from_the_page(&headers(&[
            ("x-seatsync-portal", "1"),
            ("host", "h:1"),
            ("origin", "https://evil.example"),
        ])));
        assert!(!write_is_from_the_page(&headers(&[
            ("x-seatsync-portal", "1"),
            ("host", "h:1"),
            ("sec-fetch-site", "cross-site"),
        ])));
    }
}
