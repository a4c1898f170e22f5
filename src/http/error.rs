//! The contract's error body: `{"error": "<code>", "message": "<text>"}`.
use actix_web::{HttpResponse, http::StatusCode, web};
use serde::Serialize;

/// Every error answer: a stable code and a sentence for people.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: &'a str,
}

pub fn error_response(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody { error: code, message })
}

/// Logs an error with its whole cause chain.
pub fn log_chain(context: &str, err: &(dyn std::error::Error + 'static)) {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %printable(&chain), "{context}");
}

/// Outside text (from a delivery, WorkOS or the database) as a log field: control
/// characters escaped, so no value can start a forged line or move a terminal's
/// cursor.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        std::borrow::Cow::Owned(text.chars().flat_map(char::escape_default).collect::<String>())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Bad JSON is the contract's 400 `bad_request`, not actix's default text.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(64 * 1024).error_handler(|err, _| {
        let response = error_response(StatusCode::BAD_REQUEST, "bad_request", &err.to_string());
        actix_web::error::InternalError::from_response(err, response).into()
    })
}

/// A bad query string is a 400 `bad_request` too.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        let response = error_response(StatusCode::BAD_REQUEST, "bad_request", &err.to_string());
        actix_web::error::InternalError::from_response(err, response).into()
    })
}

/// Unmatched routes answer in the contract's shape.
pub async fn not_found() -> HttpResponse {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such route")
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_in_log_fields_are_escaped() {
        assert_eq!(super::printable("plain text"), "plain text");
        assert_eq!(super::printable("a\nINFO forged\u{1b}[2J"), "a\\nINFO forged\\u{1b}[2J");
    }
}
