//! Telnyx Messaging: the webhook's signature and payload, and the REST sender
//! (../shared/reference/flows-webhooks-analytics.md §4; docs/providers.md, Telnyx).
//!
//! - Webhooks (`message.received`, `message.sent`, `message.finalized`) are JSON, signed with
//!   Ed25519 over `{telnyx-timestamp}|{raw body}` with the account's key; the official SDKs
//!   reject a timestamp more than 300 s away in either direction (telnyx-python
//!   `webhook_verification.py`, telnyx-go `TimestampTolerance = 5 * time.Minute`).
//! - Sending: `POST {api_base}/v2/messages`, JSON, `Authorization: Bearer {api_key}`
//!   (developers.telnyx.com, "Send a message"). Error 40300: the recipient replied STOP and the
//!   messaging profile blocks it (advanced-opt-in-out), the same as Twilio's 21610.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::{Accepted, OutgoingSms, SendError, SmsProvider};
use crate::config::{Secret, TelnyxConfig};

/// The header carrying the base64 Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// The header carrying the Unix time the signature was made.
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";
/// How far the timestamp may be from now, either way (the SDKs' `TIMESTAMP_TOLERANCE_SECONDS`).
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("telnyx.public_key is not set")]
    NoKey,
    #[error("telnyx.public_key is not 32 bytes of base64")]
    BadKey,
    #[error("missing telnyx-signature-ed25519 or telnyx-timestamp")]
    Missing,
    #[error("the timestamp is more than 300 s from now")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a webhook's signature over `{timestamp}|{body}` with the account's public key
/// (base64), and that its timestamp is within [`TOLERANCE_SECS`] of `now`.
pub fn verify(
    public_key: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    if public_key.trim().is_empty() {
        return Err(SignatureError::NoKey);
    }
    let key: [u8; 32] =
        STANDARD.decode(public_key.trim()).ok().and_then(|k| k.try_into().ok()).ok_or(SignatureError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| SignatureError::BadKey)?;
    let (Some(timestamp), Some(signature)) = (timestamp.map(str::trim), signature.map(str::trim)) else {
        return Err(SignatureError::Missing);
    };
    let at: i64 = timestamp.parse().map_err(|_| SignatureError::Missing)?;
    if (now.timestamp() - at).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let signature: [u8; 64] =
        STANDARD.decode(signature).ok().and_then(|s| s.try_into().ok()).ok_or(SignatureError::Mismatch)?;
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'|');
    message.extend_from_slice(body);
    key.verify_strict(&message, &Signature::from_bytes(&signature)).map_err(|_| SignatureError::Mismatch)
}

/// A webhook's body: `{"data": {...}, "meta": {...}}`.
#[derive(Debug, Deserialize)]
pub struct Webhook {
    pub data: Event,
}

/// One event.
#[derive(Debug, Deserialize)]
pub struct Event {
    /// The event's id: Telnyx's retries repeat it.
    pub id: String,
    /// `message.received`, `message.sent`, `message.finalized`, ...
    pub event_type: String,
    pub payload: Payload,
}

/// The message the event is about.
#[derive(Debug, Deserialize)]
pub struct Payload {
    /// The message's id.
    pub id: String,
    pub from: Option<Party>,
    /// The recipients: an array, one for a text to a number.
    #[serde(default)]
    pub to: Vec<Recipient>,
    pub text: Option<String>,
    /// `SMS` or `MMS`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub media: Vec<Media>,
    #[serde(default)]
    pub errors: Vec<ApiError>,
}

#[derive(Debug, Deserialize)]
pub struct Party {
    pub phone_number: String,
}

#[derive(Debug, Deserialize)]
pub struct Recipient {
    pub phone_number: String,
    /// For outbound events: `queued`, `sending`, `sent`, `delivered`, `sending_failed`,
    /// `delivery_failed`, `delivery_unconfirmed`.
    pub status: Option<String>,
}

/// A picture or other file of an MMS.
#[derive(Debug, Deserialize)]
pub struct Media {
    pub url: String,
    pub content_type: Option<String>,
    pub size: Option<i64>,
}

/// An error as Telnyx reports it; `code` comes as a string (`"40300"`) or a number.
#[derive(Debug, Deserialize)]
pub struct ApiError {
    #[serde(deserialize_with = "code_text")]
    pub code: String,
    pub title: Option<String>,
    pub detail: Option<String>,
}

fn code_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct Created {
    data: CreatedMessage,
}

#[derive(Deserialize)]
struct CreatedMessage {
    id: String,
}

/// Telnyx's REST API as an [`SmsProvider`].
pub struct TelnyxSender {
    http: reqwest::Client,
    messages_url: String,
    api_key: Secret,
    from: String,
    messaging_profile_id: String,
    /// Where Telnyx posts this text's `message.sent` and `message.finalized`.
    webhook_url: Option<String>,
    /// `telnyx.mms_max_bytes`; 0: no MMS.
    mms_max_bytes: u64,
    /// `telnyx.segments_per_second` and `burst`.
    pace: Option<super::Pace>,
}

impl TelnyxSender {
    /// A sender for the configured account; fails when the key or the number is missing.
    pub fn new(config: &TelnyxConfig, webhook_url: Option<String>) -> anyhow::Result<TelnyxSender> {
        if config.api_key.is_empty() || config.from.is_empty() {
            anyhow::bail!("telnyx.api_key and telnyx.from are required to send texts through Telnyx");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(TelnyxSender {
            http,
            messages_url: format!("{}/v2/messages", config.api_base.trim_end_matches('/')),
            api_key: config.api_key.clone(),
            from: config.from.clone(),
            messaging_profile_id: config.messaging_profile_id.clone(),
            webhook_url,
            mms_max_bytes: config.mms_max_bytes,
            pace: super::Pace::from_settings(config.segments_per_second, config.burst),
        })
    }
}

#[async_trait]
impl SmsProvider for TelnyxSender {
    fn mms_max_bytes(&self, _sms: &OutgoingSms) -> Option<u64> {
        (self.mms_max_bytes > 0).then_some(self.mms_max_bytes)
    }

    fn pace(&self, _sms: &OutgoingSms) -> Option<super::Pace> {
        self.pace
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<Accepted, SendError> {
        let mut body = json!({"from": self.from, "to": sms.to, "text": sms.body});
        if !self.messaging_profile_id.is_empty() {
            body["messaging_profile_id"] = json!(self.messaging_profile_id);
        }
        if let (Some(url), Some(id)) = (&self.webhook_url, sms.outbox_id) {
            body["webhook_url"] = json!(format!("{url}?outbox={id}"));
        }
        // `media_urls` (total under 1 MB) with `type` MMS (flows-webhooks-analytics.md §4.4).
        if !sms.media_urls.is_empty() {
            body["media_urls"] = json!(sms.media_urls);
            body["type"] = json!("MMS");
        }
        let response =
            self.http.post(&self.messages_url).bearer_auth(self.api_key.expose()).json(&body).send().await.map_err(
                |e| {
                    // A refused connection certainly did not deliver; anything later might have.
                    if e.is_connect() { SendError::Retryable(e.to_string()) } else { SendError::Unknown(e.to_string()) }
                },
            )?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            let created: Created = serde_json::from_str(&text)
                .map_err(|e| SendError::Unknown(format!("unreadable telnyx response: {e}")))?;
            return Ok(Accepted { provider_sid: created.data.id });
        }
        let errors = serde_json::from_str::<ErrorBody>(&text).map(|b| b.errors).unwrap_or_default();
        if errors.iter().any(|e| e.code == "40300") {
            return Err(SendError::Unsubscribed("40300".into()));
        }
        let first = errors.first();
        let detail = format!(
            "http {} code {} {}",
            status.as_u16(),
            first.map_or("-", |e| e.code.as_str()),
            first.and_then(|e| e.detail.as_deref().or(e.title.as_deref())).unwrap_or_default()
        );
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SendError::Retryable(detail));
        }
        Err(SendError::Rejected(detail))
    }

    fn sender_label(&self) -> String {
        self.from.clone()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The derived vector of the reference (§4.5): RFC 8032 §7.1 TEST 1's key, a STOP text.
    const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const TIMESTAMP: &str = "1700000000";
    const BODY: &str = r#"{"data":{"event_type":"message.received","id":"b301ed3f-1490-491f-995f-6e64e69674d4","payload":{"id":"84cca175-9755-4859-b67f-4730d7f58aa3","from":{"phone_number":"+15555550100"},"to":[{"phone_number":"+15555550199"}],"text":"STOP"},"record_type":"event"}}"#;
    const SIGNATURE: &str = "q2vJB1arqkuYQMAUt3kA6FACR/nQNnKjuAZFEjwiiMiAcW6/eRTEgBvVcON0fnrdEFyAdH9hhqkVU7Y4l10LBA==";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn the_reference_vector_verifies_at_its_time() {
        let check = |now| verify(PUBLIC_KEY, Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now);
        assert_eq!(check(at(1_700_000_000)), Ok(()));
        assert_eq!(check(at(1_700_000_300)), Ok(()), "300 s late is within the tolerance");
        assert_eq!(check(at(1_699_999_700)), Ok(()), "300 s early too");
        assert_eq!(check(at(1_700_000_301)), Err(SignatureError::Stale));
        assert_eq!(check(at(1_699_999_699)), Err(SignatureError::Stale), "the future is refused too");
    }

    #[test]
    fn a_changed_body_timestamp_or_key_is_refused() {
        let now = at(1_700_000_000);
        let forged = BODY.replace("STOP", "START");
        assert_eq!(
            verify(PUBLIC_KEY, Some(TIMESTAMP), Some(SIGNATURE), forged.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(PUBLIC_KEY, Some("1700000001"), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        let other = STANDARD.encode(ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes());
        assert_eq!(
            verify(&other, Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify("", Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now), Err(SignatureError::NoKey));
        assert_eq!(
            verify("c2hvcnQ=", Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(SignatureError::BadKey)
        );
        assert_eq!(verify(PUBLIC_KEY, None, Some(SIGNATURE), BODY.as_bytes(), now), Err(SignatureError::Missing));
        assert_eq!(
            verify(PUBLIC_KEY, Some(TIMESTAMP), Some("AAAA"), BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_payload_reads_the_reference_shape() {
        let hook: Webhook = serde_json::from_str(BODY).unwrap();
        assert_eq!(hook.data.event_type, "message.received");
        assert_eq!(hook.data.payload.from.unwrap().phone_number, "+15555550100");
        assert_eq!(hook.data.payload.to[0].phone_number, "+15555550199");
        let finalized = r#"{"data":{"id":"e1","event_type":"message.finalized","payload":{"id":"m1",
            "to":[{"phone_number":"+15555550100","status":"delivery_failed"}],"errors":[{"code":40001,"title":"Not routable"}]}}}"#;
        let hook: Webhook = serde_json::from_str(finalized).unwrap();
        assert_eq!(hook.data.payload.errors[0].code, "40001", "a numeric code reads as its text");
        assert_eq!(hook.data.payload.to[0].status.as_deref(), Some("delivery_failed"));
    }
}
