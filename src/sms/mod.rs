//! SMS providers: Twilio and Telnyx behind one trait ([`SmsProvider`]), chosen per sending
//! number ([`router`]); the one outbound path (outbox row + send job), the outbound sender and
//! signatures. Segment counting (GSM-7/UCS-2) is pure logic in `domain::segments`.

pub mod links;
pub mod media;
pub mod outbound;
pub mod print;
pub mod router;
pub mod sender;
pub mod signature;
pub mod telnyx;
pub mod twilio;

use async_trait::async_trait;

/// A text to hand to a provider.
#[derive(Debug, Clone)]
pub struct OutgoingSms {
    /// E.164 recipient.
    pub to: String,
    pub body: String,
    /// Our number to send from: the one the customer wrote to, when they did (the router
    /// picks its provider); `None` for the default provider's number.
    pub from: Option<String>,
    /// Our outbox id, carried in the delivery-report URL each provider is given.
    pub outbox_id: Option<i64>,
    /// Pictures sent with the text as MMS (empty: an SMS). The sender fills this only after
    /// [`SmsProvider::mms_max_bytes`] and the number allow it.
    pub media_urls: Vec<String>,
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
    /// The recipient has unsubscribed at the carrier/provider (Twilio 21610, Telnyx 40300):
    /// the provider's code.
    #[error("recipient unsubscribed at the provider ({0})")]
    Unsubscribed(String),
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
    /// The sender address a text to `sms` goes out from (a router answers for the provider
    /// it picks).
    fn label_for(&self, _sms: &OutgoingSms) -> String {
        self.sender_label()
    }
    /// Whether [`OutgoingSms::from`] decides anything (a router over two providers): the
    /// sender looks the conversation's number up only then.
    fn routes_by_number(&self) -> bool {
        false
    }
    /// The largest picture the provider sending `sms` takes as MMS, or `None` when it sends
    /// no MMS (its `mms_max_bytes` is 0, or it is not a provider that can).
    fn mms_max_bytes(&self, _sms: &OutgoingSms) -> Option<u64> {
        None
    }
    /// The pace of the number sending `sms`, in segments per second with the burst it may
    /// send at once, or `None` for no pacing here (the provider queues what comes too fast).
    fn pace(&self, _sms: &OutgoingSms) -> Option<Pace> {
        None
    }
}

/// A sending number's throughput (docs/providers.md, Throughput).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Segments (an MMS counts one) per second.
    pub per_second: f64,
    /// Segments it may send at once after a quiet spell.
    pub burst: f64,
}

impl Pace {
    /// From a provider's settings: `None` when `per_second` is 0 (no pacing).
    pub fn from_settings(per_second: f64, burst: f64) -> Option<Pace> {
        (per_second > 0.0).then_some(Pace { per_second, burst: burst.max(1.0) })
    }

    /// Milliseconds of the number's time `units` take.
    pub fn cost_ms(&self, units: i64) -> i64 {
        (units as f64 * 1000.0 / self.per_second).ceil() as i64
    }

    /// Milliseconds of sending the burst allows ahead of the steady pace (one unit's worth is
    /// the steady pace itself).
    pub fn credit_ms(&self) -> i64 {
        ((self.burst - 1.0).max(0.0) * 1000.0 / self.per_second).floor() as i64
    }
}

#[cfg(test)]
mod pace_tests {
    use super::Pace;

    #[test]
    fn a_pace_costs_time_by_units_and_allows_its_burst() {
        assert_eq!(Pace::from_settings(0.0, 5.0), None, "0: no pacing");
        let long_code = Pace::from_settings(1.0, 5.0).unwrap();
        assert_eq!((long_code.cost_ms(1), long_code.cost_ms(3)), (1000, 3000));
        assert_eq!(long_code.credit_ms(), 4000, "four texts ahead of the steady pace");
        let toll_free = Pace::from_settings(3.0, 0.5).unwrap();
        assert_eq!((toll_free.cost_ms(1), toll_free.credit_ms()), (334, 0), "a burst under 1 is 1");
    }
}
