//! Standard Webhooks symmetric signatures (spec/standard-webhooks.md v1.0.0, "Signature
//! scheme", standard-webhooks/standard-webhooks b2fa7b8): `v1,` + base64 of
//! HMAC-SHA256(key, `{webhook-id}.{webhook-timestamp}.{payload}`), where the key is the
//! base64-decoded secret after `whsec_`. The bytes signed are the bytes sent.

use base64::prelude::{BASE64_STANDARD, Engine as _};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub use crate::config::webhook_secret_key;

/// The three headers of a signed delivery (their names are fixed by the spec).
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// How far a verifier lets `webhook-timestamp` stray from its clock: every reference library
/// uses five minutes (libraries/rust/src/lib.rs `TOLERANCE_IN_SECONDS = 5 * 60`).
pub const TOLERANCE_SECS: i64 = 5 * 60;

fn mac(key: &[u8], webhook_id: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key length");
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The `webhook-signature` value for `payload` sent as `webhook_id` at `timestamp` (Unix
/// seconds): `v1,<base64>`.
pub fn sign(key: &[u8], webhook_id: &str, timestamp: i64, payload: &[u8]) -> String {
    let digest = mac(key, webhook_id, timestamp, payload).finalize().into_bytes();
    format!("v1,{}", BASE64_STANDARD.encode(digest))
}

/// Why a delivery did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the secret is not a valid webhook secret: {0}")]
    BadSecret(String),
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than five minutes from now")]
    StaleTimestamp,
    #[error("no v1 signature matches")]
    NoMatch,
}

/// What a consumer does with a delivery: checks that `signature_header` (a space-separated
/// list, e.g. `v1,abc= v1,def=`) holds a `v1` signature of `payload` by `secret` (with or
/// without `whsec_`), comparing in constant time, and that `timestamp` is within
/// [`TOLERANCE_SECS`] of `now` (Unix seconds). Entries with another version are ignored.
pub fn verify(
    secret: &str,
    webhook_id: &str,
    timestamp: &str,
    payload: &[u8],
    signature_header: &str,
    now: i64,
) -> Result<(), VerifyError> {
    let key = webhook_secret_key(secret).map_err(VerifyError::BadSecret)?;
    let ts: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err(VerifyError::StaleTimestamp);
    }
    let expected = mac(&key, webhook_id, ts, payload).finalize().into_bytes();
    for entry in signature_header.split(' ') {
        let Some(encoded) = entry.strip_prefix("v1,") else { continue };
        let Ok(given) = BASE64_STANDARD.decode(encoded) else { continue };
        if bool::from(given.ct_eq(expected.as_slice())) {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatch)
}

/// A new secret: `whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64).
pub fn generate_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("whsec_{}", BASE64_STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Official vector A: libraries/javascript/src/webhook.test.ts, "sign function works".
    const A: (&str, &str, i64, &str, &str) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        r#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
    /// Official vector B: libraries/rust/src/lib.rs, `test_sign`.
    const B: (&str, &str, i64, &str, &str) = (
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1649367553,
        r#"{"email":"test@example.com","username":"test_user"}"#,
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    );

    #[test]
    fn the_official_vectors_sign_and_verify() {
        for (secret, id, ts, payload, expected) in [A, B] {
            let key = webhook_secret_key(secret).unwrap();
            assert_eq!(sign(&key, id, ts, payload.as_bytes()), expected);
            assert_eq!(verify(secret, id, &ts.to_string(), payload.as_bytes(), expected, ts), Ok(()));
            // The secret works without its prefix too (js "verification works with and without
            // signature prefix").
            let bare = secret.strip_prefix("whsec_").unwrap();
            assert_eq!(verify(bare, id, &ts.to_string(), payload.as_bytes(), expected, ts + 60), Ok(()));
        }
    }

    #[test]
    fn the_official_negative_vectors_fail() {
        let (secret, id, ts, payload, _) = A;
        let ts_text = ts.to_string();
        for forged in [
            // python test_invalid_signature_raises_error: A with its last character changed.
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
            // rust test_no_verify.
            "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=",
            // go/js multi-signature filler.
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            // The right signature under another version is ignored.
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "",
        ] {
            assert_eq!(
                verify(secret, id, &ts_text, payload.as_bytes(), forged, ts),
                Err(VerifyError::NoMatch),
                "{forged}"
            );
        }
    }

    #[test]
    fn any_matching_v1_entry_verifies_and_tampering_does_not() {
        let (secret, id, ts, payload, good) = A;
        let ts_text = ts.to_string();
        let header = format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc= {good}");
        assert_eq!(verify(secret, id, &ts_text, payload.as_bytes(), &header, ts), Ok(()));
        assert_eq!(verify(secret, id, &ts_text, br#"{"test": 2432232315}"#, good, ts), Err(VerifyError::NoMatch));
        assert_eq!(verify(secret, "msg_other", &ts_text, payload.as_bytes(), good, ts), Err(VerifyError::NoMatch));
        assert_eq!(verify(B.0, id, &ts_text, payload.as_bytes(), good, ts), Err(VerifyError::NoMatch));
    }

    #[test]
    fn a_timestamp_outside_five_minutes_or_not_a_number_fails() {
        let (secret, id, ts, payload, good) = A;
        let check = |now: i64, ts_text: &str| verify(secret, id, ts_text, payload.as_bytes(), good, now);
        assert_eq!(check(ts + TOLERANCE_SECS + 1, &ts.to_string()), Err(VerifyError::StaleTimestamp));
        assert_eq!(check(ts - TOLERANCE_SECS - 1, &ts.to_string()), Err(VerifyError::StaleTimestamp));
        assert_eq!(check(ts + TOLERANCE_SECS, &ts.to_string()), Ok(()));
        assert_eq!(check(ts, "soon"), Err(VerifyError::BadTimestamp));
    }

    #[test]
    fn secrets_must_be_base64_of_24_to_64_bytes() {
        assert!(webhook_secret_key("whsec_not base64!").is_err());
        assert!(webhook_secret_key("whsec_c2hvcnQ=").unwrap_err().contains("24 to 64 bytes"));
        let generated = generate_secret();
        assert!(generated.starts_with("whsec_"));
        assert_eq!(webhook_secret_key(&generated).unwrap().len(), 32);
        assert_ne!(generated, generate_secret());
    }
}
