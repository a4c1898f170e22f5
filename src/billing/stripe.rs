//! The Stripe target (CONTRACT 7.2): a plan's subscription item `quantity`
//! follows its paid seats. Two endpoints on the HTTP stack the service already
//! has (reqwest + rustls, no redirects, answers capped): always the absolute
//! number, with an `Idempotency-Key` that names the plan, the message's
//! `sequence` and what is sent, so a key is never reused for other parameters.
use super::{
    schedule::Answer,
    webhook::{self, Attempted},
};
use crate::domain::Secret;
use std::time::Duration;

/// How much of an answer is read.
const ANSWER_LIMIT: usize = 64 * 1024;

/// The Stripe API version every request names, so the account's default
/// version (which its owner may change) never changes what a request means.
/// Subscription items' `quantity` and `proration_behavior` read the same in it.
pub const STRIPE_VERSION: &str = "2024-06-20";

/// `si_` and letters, digits or underscores: safe in a URL path as it is.
pub fn valid_item(raw: &str) -> bool {
    raw.len() > 3
        && raw.len() <= 255
        && raw.starts_with("si_")
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[derive(Clone)]
pub struct StripeClient {
    client: reqwest::Client,
    base: String,
    key: Secret,
    proration: String,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient").field("base", &self.base).finish_non_exhaustive()
    }
}

/// Why an item could not be read (`billing check`).
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("Stripe could not be reached")]
    Unreachable,
    #[error("Stripe's answer was not a subscription item")]
    Unreadable,
}

impl StripeClient {
    pub fn new(base: &str, key: Secret, proration: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self { client: webhook::client(timeout)?, base: base.to_owned(), key, proration: proration.to_owned() })
    }

    /// The key a quantity change is sent with: the same for every retry of
    /// one message, different whenever what is sent differs.
    pub fn idempotency_key(&self, plan: &str, sequence: i64, item: &str, quantity: u64) -> String {
        format!("seatsync-{plan}-{sequence}-{item}-{quantity}-{}", self.proration)
    }

    /// `POST /v1/subscription_items/{item}` with the absolute quantity.
    pub async fn set_quantity(&self, item: &str, quantity: u64, idempotency_key: &str) -> Attempted {
        let body = format!("quantity={quantity}&proration_behavior={}", self.proration);
        let sent = self
            .client
            .post(format!("{}/v1/subscription_items/{item}", self.base))
            .bearer_auth(self.key.expose())
            .header("Stripe-Version", STRIPE_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return webhook::unreachable(&err),
        };
        let status = response.status().as_u16();
        let retry_after = webhook::retry_after_of(&response);
        let message = stripe_message(response).await;
        let answer = match status {
            200..=299 => Answer::Accepted,
            // Another request on the item (409), too many (429, `lock_timeout`
            // too), or Stripe's own trouble: tried again on the schedule.
            409 | 429 | 500..=599 => Answer::Failed { retry_after },
            // Any other refusal will not change by itself: dead, with Stripe's words.
            _ => Answer::Gone,
        };
        let error = (answer != Answer::Accepted).then(|| format!("Stripe {status}: {message}"));
        Attempted { answer, status: Some(status), error }
    }

    /// `GET /v1/subscription_items/{item}`: its quantity now.
    pub async fn quantity(&self, item: &str) -> Result<u64, StripeError> {
        let response = self
            .client
            .get(format!("{}/v1/subscription_items/{item}", self.base))
            .bearer_auth(self.key.expose())
            .header("Stripe-Version", STRIPE_VERSION)
            .send()
            .await
            .map_err(|_| StripeError::Unreachable)?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(StripeError::Refused { status, message: stripe_message(response).await });
        }
        let body =
            crate::http_client::read_capped(response, ANSWER_LIMIT).await.map_err(|_| StripeError::Unreadable)?;
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| StripeError::Unreadable)?;
        value["quantity"].as_u64().ok_or(StripeError::Unreadable)
    }
}

/// Stripe's `{"error": {"message"}}`, or the start of whatever came back.
async fn stripe_message(response: reqwest::Response) -> String {
    let body = crate::http_client::read_capped(response, ANSWER_LIMIT).await.unwrap_or_default();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = match value["error"]["message"].as_str() {
        Some(message) => message.to_owned(),
        None => String::from_utf8_lossy(&body).into_owned(),
    };
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_id_is_si_and_plain_characters() {
        assert!(valid_item("si_OpQrStUv123"));
        assert!(!valid_item("si_"));
        assert!(!valid_item("sub_123"));
        assert!(!valid_item("si_../../v1/charges"));
    }

    #[test]
    fn a_key_changes_with_anything_sent() {
        let client =
            StripeClient::new("http://127.0.0.1:1", Secret::new("sk_test_x"), "none", Duration::from_secs(1)).unwrap();
        let key = client.idempotency_key("plan_1", 7, "si_a", 11);
        assert_eq!(key, client.idempotency_key("plan_1", 7, "si_a", 11));
        assert_ne!(key, client.idempotency_key("plan_1", 7, "si_a", 12));
        assert_ne!(key, client.idempotency_key("plan_1", 8, "si_a", 11));
        assert_ne!(key, client.idempotency_key("plan_1", 7, "si_b", 11));
    }
}
