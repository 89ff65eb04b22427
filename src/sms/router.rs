//! The providers behind one [`SmsProvider`]: a text goes out through the provider whose number
//! the customer wrote to, else the default one (docs/providers.md, "Two providers").

use std::sync::Arc;

use async_trait::async_trait;

use super::{Accepted, OutgoingSms, SendError, SmsProvider};

/// Every configured provider, by name, and the default.
pub struct Router {
    /// `(name, provider)`; the first is the default.
    providers: Vec<(&'static str, Arc<dyn SmsProvider>)>,
}

impl Router {
    /// A router over `providers`, the first the default; `None` when there is none.
    pub fn new(providers: Vec<(&'static str, Arc<dyn SmsProvider>)>) -> Option<Router> {
        (!providers.is_empty()).then_some(Router { providers })
    }

    /// The provider for a text from `from`: the one sending from that number, else the default.
    pub fn pick(&self, from: Option<&str>) -> (&'static str, &Arc<dyn SmsProvider>) {
        let chosen = from.and_then(|f| self.providers.iter().find(|(_, p)| p.sender_label() == f));
        let (name, provider) = chosen.unwrap_or(&self.providers[0]);
        (name, provider)
    }
}

#[async_trait]
impl SmsProvider for Router {
    async fn send(&self, sms: &OutgoingSms) -> Result<Accepted, SendError> {
        self.pick(sms.from.as_deref()).1.send(sms).await
    }

    fn sender_label(&self) -> String {
        self.providers[0].1.sender_label()
    }

    fn label_for(&self, sms: &OutgoingSms) -> String {
        self.pick(sms.from.as_deref()).1.sender_label()
    }

    fn routes_by_number(&self) -> bool {
        self.providers.len() > 1
    }

    fn mms_max_bytes(&self, sms: &OutgoingSms) -> Option<u64> {
        self.pick(sms.from.as_deref()).1.mms_max_bytes(sms)
    }

    fn pace(&self, sms: &OutgoingSms) -> Option<super::Pace> {
        self.pick(sms.from.as_deref()).1.pace(sms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    #[async_trait]
    impl SmsProvider for Named {
        async fn send(&self, _sms: &OutgoingSms) -> Result<Accepted, SendError> {
            Ok(Accepted { provider_sid: self.0.into() })
        }
        fn sender_label(&self) -> String {
            self.0.into()
        }
    }

    #[tokio::test]
    async fn a_text_goes_out_through_the_provider_of_its_number_else_the_default() {
        let router = Router::new(vec![("twilio", Arc::new(Named("+1A"))), ("telnyx", Arc::new(Named("+1B")))]).unwrap();
        let sms = |from: Option<&str>| OutgoingSms {
            to: "+12065550100".into(),
            body: "hi".into(),
            from: from.map(String::from),
            outbox_id: None,
            media_urls: vec![],
        };
        assert_eq!(router.send(&sms(Some("+1B"))).await.unwrap().provider_sid, "+1B");
        assert_eq!(router.send(&sms(Some("+1A"))).await.unwrap().provider_sid, "+1A");
        assert_eq!(router.send(&sms(Some("+1C"))).await.unwrap().provider_sid, "+1A", "an unknown number: the default");
        assert_eq!(router.label_for(&sms(None)), "+1A");
        assert!(router.routes_by_number());
        assert!(!Router::new(vec![("twilio", Arc::new(Named("+1A")))]).unwrap().routes_by_number());
        assert!(Router::new(vec![]).is_none());
    }
}
