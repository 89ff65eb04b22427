//! SMS providers: Twilio first, the one outbound path (outbox row + send job), the outbound
//! sender and signatures. Segment counting (GSM-7/UCS-2) is pure logic in `domain::segments`.

pub mod links;
pub mod outbound;
pub mod print;
pub mod sender;
pub mod signature;
pub mod twilio;

use async_trait::async_trait;

/// A text to hand to a provider.
#[derive(Debug, Clone)]
pub struct OutgoingSms {
    /// E.164 recipient.
    pub to: String,
    pub body: String,
    /// Where the provider should post delivery status.
    pub status_callback: Option<String>,
}

/// The provider accepted the message.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The provider's message id (`SM…` for Twilio).
    pub provider_sid: String,
}

/// Why a send failed, sorted by what the caller must do next.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Not accepted, safe to try again later (429, 5xx, connection refused).
    #[error("provider unavailable: {0}")]
    Retryable(String),
    /// The recipient has unsubscribed at the carrier/provider (Twilio error 21610).
    #[error("recipient unsubscribed at the provider")]
    Unsubscribed,
    /// Rejected for good (bad number, bad credentials, ...).
    #[error("provider rejected the message: {0}")]
    Rejected(String),
    /// The request may or may not have been accepted (timeout after sending).
    #[error("provider outcome unknown: {0}")]
    Unknown(String),
}

/// Something that delivers texts: Twilio's REST API, or a printer for demos and the terminal.
#[async_trait]
pub trait SmsProvider: Send + Sync {
    /// Sends one text.
    async fn send(&self, sms: &OutgoingSms) -> Result<Accepted, SendError>;
    /// The sender address recorded on outbound messages (a number or a service id).
    fn sender_label(&self) -> String;
}
