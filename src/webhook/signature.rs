//! The `WorkOS-Signature` check: a pure function of the header, the raw body, the
//! accepted secrets and the current time (passed in).
//!
//! Header: `t=<unix ms>, v1=<64 hex>`. Lenient in form (`,` with or without spaces,
//! any order, several `v1`, unknown keys ignored), strict in content.
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the WorkOS-Signature header is missing")]
    Missing,
    #[error("the WorkOS-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signature timestamp is outside the accepted window")]
    OutOfTolerance,
    #[error("no signature matches an accepted secret")]
    Mismatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp_ms: i64,
    pub signatures: Vec<[u8; 32]>,
}

pub fn parse_header(raw: &str) -> Result<SignatureHeader, SignatureError> {
    let mut timestamp_ms = None;
    let mut signatures = Vec::new();
    for part in raw.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" => {
                if timestamp_ms.is_some() {
                    return Err(SignatureError::Malformed("more than one t"));
                }
                let value = value.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed("t must be an integer of milliseconds"));
                }
                let t = value.parse::<i64>().map_err(|_| SignatureError::Malformed("t is out of range"))?;
                timestamp_ms = Some(t);
            }
            "v1" => {
                let value = value.trim();
                let mut bytes = [0u8; 32];
                if value.len() != 64 || hex::decode_to_slice(value, &mut bytes).is_err() {
                    return Err(SignatureError::Malformed("v1 must be 64 hex characters"));
                }
                signatures.push(bytes);
            }
            _ => {}
        }
    }
    let timestamp_ms = timestamp_ms.ok_or(SignatureError::Malformed("no t"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no v1"));
    }
    Ok(SignatureHeader { timestamp_ms, signatures })
}

/// The signature WorkOS would send: HMAC-SHA256 over `<t>.<body>`.
pub fn compute(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value for a body, as WorkOS formats it.
pub fn header_value(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> String {
    format!("t={timestamp_ms}, v1={}", hex::encode(compute(secret, timestamp_ms, body)))
}

/// The first half of the check, before any body byte is read: the header is
/// present, well formed and its `t` within the tolerance of `now_ms`.
pub fn check_header(header: Option<&str>, now_ms: i64, tolerance_ms: i64) -> Result<SignatureHeader, SignatureError> {
    let header = parse_header(header.ok_or(SignatureError::Missing)?)?;
    // i128: a `t` near i64::MAX must not overflow the subtraction.
    let skew = (i128::from(now_ms) - i128::from(header.timestamp_ms)).abs();
    if skew > i128::from(tolerance_ms) {
        return Err(SignatureError::OutOfTolerance);
    }
    Ok(header)
}

/// The second half: some `v1` is the HMAC of the body under some secret, in
/// constant time. Returns the signed timestamp (ms).
pub fn verify_body(header: &SignatureHeader, body: &[u8], secrets: &[&[u8]]) -> Result<i64, SignatureError> {
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let expected = compute(secret, header.timestamp_ms, body);
        for candidate in &header.signatures {
            matched |= expected.ct_eq(candidate);
        }
    }
    if bool::from(matched) { Ok(header.timestamp_ms) } else { Err(SignatureError::Mismatch) }
}

/// Both halves at once. Returns the signed timestamp (ms) on success.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now_ms: i64,
    tolerance_ms: i64,
) -> Result<i64, SignatureError> {
    verify_body(&check_header(header, now_ms, tolerance_ms)?, body, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_BODY: &[u8] = include_bytes!("../../fixtures/vectors/envelope.dsync.user.created.body.json");
    const VECTOR_SECRET: &[u8] = b"whsec_test_secret";
    const VECTOR_T: i64 = 1_735_689_600_000;
    const VECTOR_V1: &str = "78c7338413d4c04996c81e2a3b3302ee033769cdbaafeb44016f79cb7c134270";
    const TOLERANCE: i64 = 180_000;

    fn check(header: &str, body: &[u8], now: i64) -> Result<i64, SignatureError> {
        verify(Some(header), body, &[VECTOR_SECRET], now, TOLERANCE)
    }

    fn vector_header() -> String {
        format!("t={VECTOR_T}, v1={VECTOR_V1}")
    }

    #[test]
    fn known_answer_vectors() {
        assert_eq!(hex::encode(compute(VECTOR_SECRET, VECTOR_T, VECTOR_BODY)), VECTOR_V1);
        assert_eq!(
            hex::encode(compute(b"secret", 1_700_000_000_000, b"body")),
            "32850522003ebbce01a416e5d5df8ec8354a96e921cac7d0ebbaeef5732bdaea"
        );
        let mut mac = HmacSha256::new_from_slice(b"test_secret").unwrap();
        mac.update(b"");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "f7f9bd47fb987337b5796fdc1fdb9ba221d0d5396814bfcaf9521f43fd8927fd"
        );
        assert_eq!(header_value(VECTOR_SECRET, VECTOR_T, VECTOR_BODY), vector_header());
    }

    #[test]
    fn the_sample_envelope_verifies_at_its_own_time() {
        assert_eq!(check(&vector_header(), VECTOR_BODY, VECTOR_T), Ok(VECTOR_T));
    }

    #[test]
    fn header_form_is_lenient() {
        for header in [
            format!("t={VECTOR_T},v1={VECTOR_V1}"),
            format!("v1={VECTOR_V1}, t={VECTOR_T}"),
            format!("  t={VECTOR_T} ,  v1={VECTOR_V1}  "),
            format!("t={VECTOR_T}, v0=abc, v1={VECTOR_V1}, x=y"),
            format!("t={VECTOR_T}, v1={}", VECTOR_V1.to_uppercase()),
        ] {
            assert_eq!(check(&header, VECTOR_BODY, VECTOR_T), Ok(VECTOR_T), "{header}");
        }
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(verify(None, VECTOR_BODY, &[VECTOR_SECRET], VECTOR_T, TOLERANCE), Err(SignatureError::Missing));
    }

    #[test]
    fn unparseable_headers_are_malformed() {
        let v1 = format!("v1={VECTOR_V1}");
        let t = format!("t={VECTOR_T}");
        for header in [
            String::new(),
            "   ".into(),
            t.clone(),
            v1.clone(),
            format!("t=, {v1}"),
            format!("{t}, v1="),
            "garbage".into(),
            "t=1,,,".into(),
            format!("t=abc, {v1}"),
            format!("t=-5, {v1}"),
            format!("t=+5, {v1}"),
            format!("t=1.5, {v1}"),
            format!("t=99999999999999999999999, {v1}"),
            format!("{t}, t={VECTOR_T}, {v1}"),
            format!("{t}, v1={}", &VECTOR_V1[..63]),
            format!("{t}, v1={}0", VECTOR_V1),
            format!("{t}, v1={}g", &VECTOR_V1[..63]),
        ] {
            assert!(
                matches!(check(&header, VECTOR_BODY, VECTOR_T), Err(SignatureError::Malformed(_))),
                "{header:?} should be malformed"
            );
        }
    }

    #[test]
    fn the_window_is_inclusive_in_both_directions() {
        let header = vector_header();
        assert_eq!(check(&header, VECTOR_BODY, VECTOR_T + TOLERANCE), Ok(VECTOR_T));
        assert_eq!(check(&header, VECTOR_BODY, VECTOR_T - TOLERANCE), Ok(VECTOR_T));
        assert_eq!(check(&header, VECTOR_BODY, VECTOR_T + TOLERANCE + 1), Err(SignatureError::OutOfTolerance));
        assert_eq!(check(&header, VECTOR_BODY, VECTOR_T - TOLERANCE - 1), Err(SignatureError::OutOfTolerance));
    }

    #[test]
    fn a_timestamp_near_the_largest_integer_is_out_of_tolerance_not_a_crash() {
        let header = format!("t={}, v1={VECTOR_V1}", i64::MAX);
        assert_eq!(check(&header, VECTOR_BODY, 0), Err(SignatureError::OutOfTolerance));
    }

    #[test]
    fn any_change_to_the_raw_bytes_is_a_mismatch() {
        let header = vector_header();
        let mut flipped = VECTOR_BODY.to_vec();
        flipped[10] ^= 1;
        let mut appended = VECTOR_BODY.to_vec();
        appended.push(b'\n');
        let value: serde_json::Value = serde_json::from_slice(VECTOR_BODY).unwrap();
        let pretty = serde_json::to_vec_pretty(&value).unwrap();
        // serde_json's map sorts keys: re-serialising reorders them.
        let reordered = serde_json::to_vec(&value).unwrap();
        assert_ne!(reordered, VECTOR_BODY);
        for body in [flipped, appended, pretty, reordered] {
            assert_eq!(check(&header, &body, VECTOR_T), Err(SignatureError::Mismatch));
        }
    }

    #[test]
    fn non_ascii_bodies_verify() {
        let body =
            r#"{"id":"event_1","event":"dsync.user.created","data":{"first_name":"Zoë 🚀","last_name":"Ñúñez"}}"#
                .as_bytes();
        let header = header_value(b"whsec_x", 1_000, body);
        assert_eq!(verify(Some(&header), body, &[b"whsec_x"], 1_000, TOLERANCE), Ok(1_000));
    }

    #[test]
    fn the_wrong_secret_is_a_mismatch_and_the_previous_secret_is_accepted() {
        let header = vector_header();
        assert_eq!(
            verify(Some(&header), VECTOR_BODY, &[b"whsec_other"], VECTOR_T, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), VECTOR_BODY, &[b"whsec_new", VECTOR_SECRET], VECTOR_T, TOLERANCE),
            Ok(VECTOR_T)
        );
    }

    #[test]
    fn one_matching_v1_among_several_is_enough() {
        let wrong = "0".repeat(64);
        let header = format!("t={VECTOR_T}, v1={wrong}, v1={VECTOR_V1}, v1={wrong}");
        assert_eq!(check(&header, VECTOR_BODY, VECTOR_T), Ok(VECTOR_T));
        let header = format!("t={VECTOR_T}, v1={wrong}, v1={}", "f".repeat(64));
        assert_eq!(check(&header, VECTOR_BODY, VECTOR_T), Err(SignatureError::Mismatch));
    }
}
