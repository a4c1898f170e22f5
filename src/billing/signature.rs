//! Standard Webhooks signatures for outbound billing messages (CONTRACT 7.1):
//! `webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">`,
//! keyed with the bytes the secret's base64 (after `whsec_`) stands for. Pure:
//! the caller passes the message id and the timestamp.
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};

/// `BILLING_WEBHOOK_SECRET`: `whsec_` and the base64 of 24 to 64 random bytes.
/// Never printed: `Debug` shows only that there is one.
#[derive(Clone)]
pub struct SigningSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(whsec_****)")
    }
}

/// Why a signing secret was refused; never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("must start with whsec_")]
    Prefix,
    #[error("must be whsec_ followed by base64")]
    NotBase64,
    #[error("must encode 24 to 64 bytes (it encodes {0})")]
    Length(usize),
}

impl SigningSecret {
    pub fn parse(raw: &str) -> Result<Self, SecretError> {
        let encoded = raw.trim().strip_prefix("whsec_").ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self { key })
    }
}

/// The `webhook-signature` header value: one `v1,<base64>` per secret,
/// space-separated (two while a secret is being rotated).
pub fn sign(secrets: &[SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    secrets
        .iter()
        .map(|secret| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret.key).expect("HMAC takes any key length");
            for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
                mac.update(part);
            }
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector the Standard Webhooks specification publishes: a
    /// receiver's own library accepts what reproduces it.
    #[test]
    fn the_specifications_test_vector_is_reproduced_exactly() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sign(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_sign_side_by_side_during_a_rotation() {
        let old = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let new = SigningSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 32]))).unwrap();
        let both = sign(&[old.clone(), new.clone()], "msg_1", 1, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts, vec![sign(&[old], "msg_1", 1, b"{}"), sign(&[new], "msg_1", 1, b"{}")]);
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn a_secret_must_be_whsec_and_base64_of_24_to_64_bytes() {
        assert_eq!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(), SecretError::Prefix);
        assert_eq!(SigningSecret::parse("whsec_not base64!").unwrap_err(), SecretError::NotBase64);
        let short = format!("whsec_{}", STANDARD.encode([1u8; 23]));
        assert_eq!(SigningSecret::parse(&short).unwrap_err(), SecretError::Length(23));
        let long = format!("whsec_{}", STANDARD.encode([1u8; 65]));
        assert_eq!(SigningSecret::parse(&long).unwrap_err(), SecretError::Length(65));
        assert!(SigningSecret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 64]))).is_ok());
    }

    #[test]
    fn a_secret_is_never_printed() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert!(!format!("{secret:?}").contains("MfKQ"));
    }
}
