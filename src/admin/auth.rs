//! Bearer-token check for `/admin`, in constant time, with guessing slowed:
//! after `MAX_REFUSALS` refused tokens from one client address in a minute,
//! that address gets 429 until the minute is over (CONTRACT 3.3). Every admin
//! answer is `no-store` and `nosniff`: it holds member emails.
use crate::{
    http::{client_address, error::error_response},
    state::AppState,
};
use actix_web::{
    Error, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{self, AUTHORIZATION, HeaderValue},
    },
    middleware::Next,
    web,
};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The credentials of a `Bearer` authorization; the scheme's case does not
/// matter (RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
}

/// Compares digests, in constant time: comparing the tokens themselves would
/// return early on a length mismatch and tell the token's length.
fn token_matches(presented: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(presented.as_bytes()), Sha256::digest(expected.as_bytes()));
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    Ok(private(check_then_call(req, next).await?))
}

/// An answer that holds member emails: never cached, never sniffed (the
/// admin API's and the plan portal's).
pub(crate) fn private(mut response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn check_then_call(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "not configured")));
    };
    let Some(token) = state.admin_token.as_ref() else {
        return Ok(req.into_response(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin_disabled",
            "the admin API is disabled: set ADMIN_TOKEN",
        )));
    };
    let client = client_address::of_request(&state.trusted_proxies, req.request());
    let now = Instant::now();
    let presented = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer).unwrap_or("");
    // The right token is always accepted: the brake slows guessing, it never
    // locks the operator out (CONTRACT 3.3). Wrong and missing tokens count.
    if !token_matches(presented, token.expose()) {
        if let Some(wait) = state.refused_tokens.locked_for(client, now) {
            state.metrics.admin_refusal("too_many_attempts");
            return Ok(req.into_response(too_many_attempts(wait)));
        }
        state.refused_tokens.refused(client, now);
        state.metrics.admin_refusal("unauthorized");
        // Each refusal (CONTRACT 3.3): the brake above caps one address at ten a minute.
        tracing::warn!(client = %client, "admin token refused");
        return Ok(req.into_response(error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid Authorization: Bearer token is required",
        )));
    }
    if is_example_token(token.expose()) && client_address::arrived_from_elsewhere(req.headers()) {
        // serve refuses the example token on a public address; a tunnel to a
        // loopback one must not publish it either (CONTRACT 2).
        if let Some(left_out) = state.refused_tokens.example_warnings.take_now() {
            tracing::warn!(client = %client, left_out, "the example ADMIN_TOKEN was refused through a proxy or tunnel (logged at most once a second)");
        }
        return Ok(req.into_response(error_response(
            StatusCode::FORBIDDEN,
            "example_token",
            "the ADMIN_TOKEN shipped in .env.example only works from this machine: set a token of your own",
        )));
    }
    super::change_log::recorded(req, next, &state, client, super::change_log::Origin::Admin).await
}

fn is_example_token(token: &str) -> bool {
    crate::config::is_shipped("ADMIN_TOKEN", token.as_bytes())
}

fn too_many_attempts(wait: Duration) -> HttpResponse {
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many refused tokens from this address; wait for the minute to pass",
    );
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_example_token_is_the_example() {
        assert!(is_example_token("dev-admin-token-local-only"));
        assert!(!is_example_token("a-token-of-my-own-choosing"));
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn tokens_match_only_exactly() {
        assert!(token_matches("secret-token", "secret-token"));
        assert!(!token_matches("secret-toke", "secret-token"));
        assert!(!token_matches("", "secret-token"));
    }
}
