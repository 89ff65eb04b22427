//! A provider that prints texts instead of sending them: the demo without Twilio
//! credentials, and `backtalk chat`.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{Accepted, OutgoingSms, SendError, SmsProvider};
use crate::domain::Phone;

/// Prints each text to standard output (not to the log) with a prefix.
pub struct PrintProvider {
    prefix: String,
    /// Print the masked recipient before the text (the demo server talks to many numbers).
    show_recipient: bool,
    counter: AtomicU64,
}

impl PrintProvider {
    /// A printer whose lines start with `prefix`.
    pub fn new(prefix: impl Into<String>, show_recipient: bool) -> PrintProvider {
        PrintProvider { prefix: prefix.into(), show_recipient, counter: AtomicU64::new(0) }
    }
}

#[async_trait]
impl SmsProvider for PrintProvider {
    async fn send(&self, sms: &OutgoingSms) -> Result<Accepted, SendError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        if self.show_recipient {
            let to = Phone::parse(&sms.to).map(|p| p.masked()).unwrap_or_else(|_| "?".into());
            println!("{} to {to}: {}", self.prefix, sms.body);
        } else {
            println!("{} {}", self.prefix, sms.body);
        }
        for url in &sms.media_urls {
            println!("{} [picture: {url}]", self.prefix);
        }
        Ok(Accepted { provider_sid: format!("PRINT{}{n:08}", std::process::id()) })
    }

    fn sender_label(&self) -> String {
        "printer".into()
    }

    /// The demo prints a picture's URL under its text, as a phone would show the picture.
    fn mms_max_bytes(&self, _sms: &OutgoingSms) -> Option<u64> {
        Some(5_000_000)
    }
}
