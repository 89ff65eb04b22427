//! Twilio Programmable Messaging: the REST sender and the inbound webhook's fields.
//!
//! REST: `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded,
//! HTTP Basic auth with the account SID and auth token (Twilio "Create a Message resource").
//! Error 21610: the recipient replied STOP to this sender at Twilio's level.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::{Accepted, OutgoingSms, SendError, SmsProvider};
use crate::config::{Secret, TwilioConfig};

/// Twilio's REST API as an [`SmsProvider`].
pub struct TwilioSender {
    http: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: Secret,
    from: String,
    messaging_service_sid: String,
    /// Where Twilio posts this text's status callbacks (`StatusCallback`).
    status_callback: Option<String>,
    /// `twilio.mms_max_bytes`; 0: no MMS.
    mms_max_bytes: u64,
    /// `twilio.segments_per_second` and `burst`.
    pace: Option<super::Pace>,
}

#[derive(Deserialize)]
struct MessageResource {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

impl TwilioSender {
    /// A sender for the configured account, giving Twilio `status_callback` (with the text's
    /// outbox id) for its status callbacks; fails when credentials or a sender are missing.
    pub fn new(config: &TwilioConfig, status_callback: Option<String>) -> anyhow::Result<TwilioSender> {
        if config.account_sid.is_empty() || config.auth_token.is_empty() {
            anyhow::bail!("twilio.account_sid and twilio.auth_token are required to send texts");
        }
        if config.from.is_empty() && config.messaging_service_sid.is_empty() {
            anyhow::bail!("set twilio.from (a number) or twilio.messaging_service_sid to send texts");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(TwilioSender {
            http,
            messages_url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                config.api_base.trim_end_matches('/'),
                config.account_sid
            ),
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
            from: config.from.clone(),
            messaging_service_sid: config.messaging_service_sid.clone(),
            status_callback,
            mms_max_bytes: config.mms_max_bytes,
            pace: super::Pace::from_settings(config.segments_per_second, config.burst),
        })
    }
}

#[async_trait]
impl SmsProvider for TwilioSender {
    fn mms_max_bytes(&self, _sms: &OutgoingSms) -> Option<u64> {
        (self.mms_max_bytes > 0).then_some(self.mms_max_bytes)
    }

    fn pace(&self, _sms: &OutgoingSms) -> Option<super::Pace> {
        self.pace
    }

    async fn send(&self, sms: &OutgoingSms) -> Result<Accepted, SendError> {
        let mut form: Vec<(&str, &str)> = vec![("To", &sms.to), ("Body", &sms.body)];
        if self.messaging_service_sid.is_empty() {
            form.push(("From", &self.from));
        } else {
            form.push(("MessagingServiceSid", &self.messaging_service_sid));
        }
        let callback = match (&self.status_callback, sms.outbox_id) {
            (Some(url), Some(id)) => Some(format!("{url}?outbox={id}")),
            (Some(url), None) => Some(url.clone()),
            _ => None,
        };
        if let Some(cb) = &callback {
            form.push(("StatusCallback", cb));
        }
        // `MediaUrl`, repeatable (at most 10), makes it an MMS (Twilio Messages API).
        for url in &sms.media_urls {
            form.push(("MediaUrl", url));
        }
        let response = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                // A refused connection certainly did not deliver; anything later might have.
                if e.is_connect() { SendError::Retryable(e.to_string()) } else { SendError::Unknown(e.to_string()) }
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            let resource: MessageResource = serde_json::from_str(&text)
                .map_err(|e| SendError::Unknown(format!("unreadable twilio response: {e}")))?;
            return Ok(Accepted { provider_sid: resource.sid });
        }
        let error: Option<TwilioErrorBody> = serde_json::from_str(&text).ok();
        let code = error.as_ref().and_then(|e| e.code);
        let message = error.and_then(|e| e.message).unwrap_or_default();
        let detail =
            format!("http {} code {} {}", status.as_u16(), code.map_or("-".into(), |c| c.to_string()), message);
        if code == Some(21610) {
            return Err(SendError::Unsubscribed("21610".into()));
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SendError::Retryable(detail));
        }
        Err(SendError::Rejected(detail))
    }

    fn sender_label(&self) -> String {
        if self.messaging_service_sid.is_empty() { self.from.clone() } else { self.messaging_service_sid.clone() }
    }
}
