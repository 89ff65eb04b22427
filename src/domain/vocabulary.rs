//! The domain's words: consent kinds, turn decisions, outbox kinds and statuses, escalation
//! reasons and guard finding kinds. Each is an enum whose text is the one stored in the
//! database and written in JSON (audit, API, report, escalation details); it becomes text at
//! the store boundary and nowhere else.
//!
//! [`string_enum!`] writes each enum with its `as_str`, `FromStr`, `Display`, serde (the same
//! snake_case text), `TryFrom<String>` (what the store decodes a text column with) and `ALL`.

/// A text that is none of an enum's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {text:?}")]
pub struct UnknownWord {
    /// The enum's name, e.g. `consent kind`.
    pub what: &'static str,
    /// The text that did not parse.
    pub text: String,
}

/// Declares a domain word enum: `enum Name ("what it is") { Variant = "text", ... }` (with
/// `///` on the enum and each variant) and its conversions to and from that text.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialised text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::vocabulary::UnknownWord;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::domain::vocabulary::UnknownWord { what: $what, text: s.to_string() }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::vocabulary::UnknownWord;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}

string_enum! {
    /// A consent ledger event's kind (`consent_events.kind`); the latest event is the state.
    pub enum ConsentKind ("consent kind") {
        /// The number agreed to texts (START/UNSTOP, CTIA; or imported as opted in).
        OptIn = "opt_in",
        /// The number withdrew consent (STOP and the keywords of FCC 64.1200(a)(12), a
        /// carrier 21610, a reviewer, an import): nothing but the one confirmation may follow.
        OptOut = "opt_out",
        /// The text may have been an opt-out (`possible_opt_out`): nothing proactive goes out
        /// until a reviewer decides (the FCC's "any reasonable means" of revoking consent).
        Hold = "hold",
        /// A reviewer decided a hold was not an opt-out: the state before it applies again.
        HoldReleased = "hold_released",
    }
}

string_enum! {
    /// What a turn decided (`turns.decision`).
    pub enum TurnDecision ("turn decision") {
        /// The bot answered.
        Reply = "reply",
        /// A person was asked to answer (a holding text may have gone out).
        Escalate = "escalate",
        /// A person owns the conversation: the bot stayed silent.
        HumanOwned = "human_owned",
        /// The text opted the number out (or repeated an opt-out).
        OptOut = "opt_out",
        /// The text opted the number in.
        OptIn = "opt_in",
        /// The text asked for help: the brand's help text answered (CTIA).
        Help = "help",
    }
}

string_enum! {
    /// What an outbound text is (`outbox.kind`).
    pub enum OutboxKind ("outbox kind") {
        /// The bot's answer to an inbound text.
        Reply = "reply",
        /// "A person will get back to you", sent when a turn is escalated.
        Holding = "holding",
        /// The brand's help text, answering HELP (CTIA).
        Help = "help",
        /// The single opt-out confirmation (47 CFR 64.1200(a)(12)): the only text an
        /// opted-out number may receive. The sender enforces this in
        /// `store::outbox::start_sending`, in the same statement that claims the row, right
        /// before the provider call.
        OptOutConfirmation = "optout_confirmation",
        /// The confirmation of an opt-in with its disclosures (CTIA).
        OptInConfirmation = "optin_confirmation",
        /// A text we start (not a reply): quiet hours and caps apply.
        Proactive = "proactive",
        /// A reviewer's reply in an escalated conversation: a conversational reply (consent
        /// is re-checked at send time; quiet hours are for proactive texts only).
        ReviewerReply = "reviewer_reply",
    }
}

string_enum! {
    /// Whether a text the brand starts is marketing or about something the customer started
    /// (`outbox.class`, a flow's `class`). The sender holds a promotional text to marketing
    /// consent and smart sending; both wait out quiet hours.
    pub enum SendClass ("send class") {
        /// Marketing: a cart reminder, a launch, a back-in-stock text.
        Promotional = "promotional",
        /// About an order or appointment the customer made: shipping updates, reminders.
        Transactional = "transactional",
    }
}

string_enum! {
    /// Where an outbound text is in its flow (`outbox.status`; see `store::outbox`).
    pub enum OutboxStatus ("outbox status") {
        /// Queued, not yet handed to the provider.
        Pending = "pending",
        /// Committed before the provider call.
        Sending = "sending",
        /// The provider accepted it.
        Sent = "sent",
        /// The provider reported it delivered.
        Delivered = "delivered",
        /// The provider rejected it, or it could not be sent.
        Failed = "failed",
        /// Consent was withdrawn (or is on hold) before sending: never sent.
        Suppressed = "suppressed",
        /// A worker died during the provider call: nobody knows whether it went out; never
        /// resent automatically.
        Unknown = "unknown",
    }
}

string_enum! {
    /// Whether an escalation still waits for a person (`escalations.status`).
    pub enum EscalationStatus ("escalation status") {
        /// Waiting for a person.
        Open = "open",
        /// Closed by a reviewer or by a consent decision.
        Resolved = "resolved",
    }
}

string_enum! {
    /// Why a person is asked to step in (a reason `code`, and `escalations.reason`).
    pub enum EscalationReason ("escalation reason") {
        /// The guard blocked the draft (an unsupported claim, an empty or template text).
        GuardBlocked = "guard_blocked",
        /// The customer asked for a person.
        HumanRequested = "human_requested",
        /// A return, refund, cancellation or change only a person can make.
        ActionRequested = "action_requested",
        /// Complaint or legal words (a chargeback, a regulator, a court).
        ComplaintOrLegal = "complaint_or_legal",
        /// A question about an order worth at least the set amount.
        HighValueOrder = "high_value_order",
        /// The generator asked for a person.
        ModelRequested = "model_requested",
        /// Confidence below the threshold.
        LowConfidence = "low_confidence",
        /// This turn and the previous bot turn both below the caution threshold.
        LowConfidenceStreak = "low_confidence_streak",
        /// The message or the thread's trend below the sentiment threshold.
        NegativeSentiment = "negative_sentiment",
        /// The customer says they have been waiting or writing without an answer ("the 3rd
        /// time I text", "nobody answers"): a person, whatever the bot could say.
        WaitingCustomer = "waiting_customer",
        /// The model could not be reached and the brand escalates then.
        LlmUnavailable = "llm_unavailable",
        /// The text may be an opt-out (the FCC's "any reasonable means"): a person decides.
        PossibleOptOut = "possible_opt_out",
        /// An opted-out customer wrote again: nothing automated may answer (FCC 64.1200(a)(12)).
        OptedOutInbound = "opted_out_inbound",
        /// The turn job was dead-lettered: a person answers the message.
        ProcessingFailed = "processing_failed",
        /// A worker died during a provider call: whether the text went out is unknown.
        DeliveryUnknown = "delivery_unknown",
        /// The provider rejected a text, or its send job was dead-lettered.
        SendFailed = "send_failed",
        /// A proactive text found no allowed send time within two weeks.
        NoSendWindow = "no_send_window",
    }
}

string_enum! {
    /// What the guard noticed in a draft (a finding's `kind`).
    pub enum FindingKind ("finding kind") {
        /// Repair: characters outside GSM-7 were replaced.
        NormalizedGsm7 = "normalized_gsm7",
        /// Blocks: the draft is empty.
        Empty = "empty",
        /// Blocks: a placeholder copied from the prompt, or markup.
        TemplateEcho = "template_echo",
        /// Blocks: an amount that is no price or amount of this turn's facts (FTC Act §5).
        UnsupportedPrice = "unsupported_price",
        /// Repair: links to hosts other than the brand's were removed.
        DroppedLink = "dropped_link",
        /// Repair: trimmed at a sentence boundary to the segment cap.
        Trimmed = "trimmed",
        /// Blocks: a discount no policy or markdown states.
        UnsupportedDiscount = "unsupported_discount",
        /// Blocks: a delivery time no retrieved policy states.
        UnsupportedDeliveryTime = "unsupported_delivery_time",
        /// Blocks: a guarantee or absolute ("always", "100%") no policy makes.
        AbsoluteClaim = "absolute_claim",
        /// Blocks: something free no policy offers.
        UnsupportedFreeOffer = "unsupported_free_offer",
        /// Blocks: a health or legal claim.
        HealthOrLegalClaim = "health_or_legal_claim",
        /// Blocks: a SKU that is not a retrieved product's.
        UnknownSku = "unknown_sku",
        /// Blocks: an order number that is not the customer's own.
        OtherCustomer = "other_customer",
        /// Blocks: stock the facts do not show.
        UnsupportedStock = "unsupported_stock",
        /// Blocks: an order status the customer's orders do not have.
        UnsupportedOrderStatus = "unsupported_order_status",
        /// Blocks: a tracking number that is not one of the customer's shipments'.
        UnsupportedTracking = "unsupported_tracking",
        /// Blocks: a colour the product does not come in.
        UnsupportedColor = "unsupported_color",
        /// Blocks: a size the product does not come in.
        UnsupportedSize = "unsupported_size",
        /// Blocks: "cheapest" or "most expensive" said of a product the facts do not put
        /// at the bottom or top of the retrieved prices, or of no product.
        UnsupportedSuperlative = "unsupported_superlative",
        /// Blocks: "cheaper than", "more expensive than" or "same price as" that the two
        /// products' prices do not bear out.
        UnsupportedComparison = "unsupported_comparison",
        /// Blocks: "only N left" or "the last one" that is not the product's (or the asked
        /// variant's) stock.
        UnsupportedScarcity = "unsupported_scarcity",
        /// Blocks: "best seller", "most popular", "top rated": the catalog has no sales or
        /// rating data behind them.
        UnsupportedPopularity = "unsupported_popularity",
        /// Blocks: stock claimed for a product that lacks the size or colour the customer
        /// asked for, or has none of it.
        UnsupportedVariantStock = "unsupported_variant_stock",
        /// Blocks: a price or stock claim about another product than the sku the customer
        /// quoted, not said to be a different item.
        OtherSku = "other_sku",
    }
}

/// `Reply`, only so that a turn's audit record can be built field by field: every path of a
/// turn sets its decision.
impl Default for TurnDecision {
    fn default() -> Self {
        TurnDecision::Reply
    }
}

impl FindingKind {
    /// True for a finding that changes the text but lets it go out.
    pub fn is_repair(self) -> bool {
        matches!(self, FindingKind::NormalizedGsm7 | FindingKind::DroppedLink | FindingKind::Trimmed)
    }
}

string_enum! {
    /// An outbound webhook's event type (`outbound_events.event_type`, the payload's `type`);
    /// dot-hierarchical as the Standard Webhooks spec recommends (spec/standard-webhooks.md,
    /// "Event types").
    pub enum WebhookEvent ("webhook event type") {
        /// A number withdrew consent (STOP, a carrier 21610, a reviewer, an import).
        ConsentOptedOut = "consent.opted_out",
        /// A number agreed to texts (START, an import).
        ConsentOptedIn = "consent.opted_in",
        /// A conversation was handed to a person (one event per escalation opened).
        ConversationEscalated = "conversation.escalated",
        /// A reviewer closed an escalation (resolved or handed back to the bot).
        EscalationResolved = "escalation.resolved",
        /// An escalation was assigned to a reviewer or a team (docs/reviewers.md).
        EscalationAssigned = "escalation.assigned",
        /// A customer's text was stored.
        MessageReceived = "message.received",
        /// The provider accepted an outbound text.
        MessageSent = "message.sent",
        /// An outbound text failed (refused by the provider, undelivered, or given up on).
        MessageFailed = "message.failed",
        /// A deliverability figure of the last 7 days crossed Klaviyo's alert threshold
        /// (docs/analytics.md, "Deliverability alerts").
        DeliverabilityAlert = "deliverability.alert",
    }
}

string_enum! {
    /// Where one event's delivery to one endpoint stands (`webhook_deliveries.status`).
    pub enum DeliveryStatus ("webhook delivery status") {
        /// Not delivered yet: the next attempt is scheduled.
        Pending = "pending",
        /// An attempt got a 2xx answer.
        Delivered = "delivered",
        /// Given up (every attempt failed, or the endpoint answered 410): the reason is kept.
        Dead = "dead",
        /// Not sent: the endpoint was disabled or removed from the configuration before it
        /// was its turn.
        Skipped = "skipped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant's text, parsed back, is the variant; serialised, it is the quoted text.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr<Err = UnknownWord>,
        T: serde::Serialize + serde::de::DeserializeOwned + TryFrom<String, Error = UnknownWord>,
    {
        for &v in all {
            let text = v.to_string();
            assert_eq!(text.parse::<T>(), Ok(v));
            assert_eq!(T::try_from(text.clone()), Ok(v));
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), v);
        }
        let texts: Vec<String> = all.iter().map(ToString::to_string).collect();
        let mut unique = texts.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), texts.len(), "each variant has its own text: {texts:?}");
    }

    #[test]
    fn every_variant_round_trips_through_its_text_and_json() {
        round_trips(ConsentKind::ALL);
        round_trips(TurnDecision::ALL);
        round_trips(OutboxKind::ALL);
        round_trips(SendClass::ALL);
        round_trips(OutboxStatus::ALL);
        round_trips(EscalationStatus::ALL);
        round_trips(EscalationReason::ALL);
        round_trips(FindingKind::ALL);
        round_trips(WebhookEvent::ALL);
        round_trips(DeliveryStatus::ALL);
    }

    #[test]
    fn as_str_is_the_stored_text() {
        assert_eq!(ConsentKind::HoldReleased.as_str(), "hold_released");
        assert_eq!(TurnDecision::HumanOwned.as_str(), "human_owned");
        assert_eq!(OutboxKind::OptOutConfirmation.as_str(), "optout_confirmation");
        assert_eq!(OutboxStatus::Suppressed.as_str(), "suppressed");
        assert_eq!(EscalationReason::LowConfidenceStreak.as_str(), "low_confidence_streak");
        assert_eq!(FindingKind::NormalizedGsm7.as_str(), "normalized_gsm7");
    }

    #[test]
    fn an_unknown_word_is_an_error_that_names_it() {
        let err = "opt-out".parse::<ConsentKind>().unwrap_err();
        assert_eq!(err, UnknownWord { what: "consent kind", text: "opt-out".into() });
        assert_eq!(err.to_string(), "unknown consent kind \"opt-out\"");
        assert!(TurnDecision::try_from(String::from("Reply")).is_err(), "case matters");
        assert!(serde_json::from_str::<OutboxStatus>("\"queued\"").unwrap_err().to_string().contains("\"queued\""));
        assert!(serde_json::from_str::<EscalationReason>("\"\"").is_err());
        assert!(serde_json::from_str::<FindingKind>("3").is_err());
    }

    #[test]
    fn only_three_findings_are_repairs() {
        let repairs: Vec<&str> = FindingKind::ALL.iter().filter(|k| k.is_repair()).map(|k| k.as_str()).collect();
        assert_eq!(repairs, ["normalized_gsm7", "dropped_link", "trimmed"]);
    }
}
